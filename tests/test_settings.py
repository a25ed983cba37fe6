"""Settings come from the environment, with safe defaults for a local install.

Settings are read once per process, so each case runs Django in a subprocess
with the environment it describes.
"""

import json
import stat
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from equestria import env as env_helpers
from tests.helpers import ROOT, clean_env, manage

PRINT_SETTINGS = """
import json, django
django.setup()
from django.conf import settings
db = settings.DATABASES["default"]
print(json.dumps({
    "engine": db["ENGINE"], "name": str(db["NAME"]), "host": db.get("HOST"), "port": db.get("PORT"),
    "user": db.get("USER"), "options": db.get("OPTIONS", {}),
    "media_root": str(settings.MEDIA_ROOT), "debug": settings.DEBUG,
    "email_backend": settings.EMAIL_BACKEND, "hashers": settings.PASSWORD_HASHERS,
    "secret_key": settings.SECRET_KEY, "allowed_hosts": settings.ALLOWED_HOSTS,
}))
"""


def read_settings(env):
    import subprocess

    env = {**env, "DJANGO_SETTINGS_MODULE": "equestria.settings"}
    result = subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_defaults_use_sqlite_media_and_a_generated_key_under_var(tmp_path):
    found = read_settings(clean_env(tmp_path))
    var = tmp_path / "var"
    assert found["engine"] == "django.db.backends.sqlite3"
    assert found["name"] == str(var / "equestria.sqlite3")
    assert found["options"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in found["options"]["init_command"]
    assert found["media_root"] == str(var / "media")
    assert found["debug"] is False
    assert found["email_backend"] == "django.core.mail.backends.console.EmailBackend"
    assert found["allowed_hosts"] == ["127.0.0.1", "localhost", "[::1]"]
    key_file = var / "secret_key"
    assert found["secret_key"] == key_file.read_text().strip()
    assert len(found["secret_key"]) >= 50
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # Generated once: a second start keeps the key, so sessions survive restarts.
    assert read_settings(clean_env(tmp_path))["secret_key"] == found["secret_key"]


def test_database_url_selects_postgresql(tmp_path):
    found = read_settings(
        clean_env(tmp_path, DATABASE_URL="postgres://equestria:pw@127.0.0.1:5433/equestria_db")
    )
    assert found["engine"] == "django.db.backends.postgresql"
    assert (found["name"], found["host"], found["port"], found["user"]) == (
        "equestria_db",
        "127.0.0.1",
        5433,
        "equestria",
    )
    assert "transaction_mode" not in found["options"]


def test_secret_key_and_smtp_come_from_the_environment(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("k" * 60 + "\n")
    found = read_settings(clean_env(tmp_path, SECRET_KEY_FILE=str(key_file), EMAIL_HOST="smtp.example.org"))
    assert found["secret_key"] == "k" * 60
    assert found["email_backend"] == "django.core.mail.backends.smtp.EmailBackend"
    assert not (tmp_path / "var" / "secret_key").exists()


def test_user_passwords_are_hashed_with_pbkdf2_or_argon2(tmp_path):
    hashers = read_settings(clean_env(tmp_path))["hashers"]
    assert hashers[0].rsplit(".", 1)[1] in {"PBKDF2PasswordHasher", "Argon2PasswordHasher"}


def test_check_deploy_passes_with_production_settings(tmp_path):
    env = clean_env(
        tmp_path,
        DEBUG="false",
        SECRET_KEY="x7!" + "production-secret-key-that-is-long-and-random-enough-" * 2,
        ALLOWED_HOSTS="equestria.example.org",
        HTTPS="true",
        CLAM_PASSWORD_KEYS="M2ZJtRXpD6dZ0Yl0q6bTqJ0FQh0tN2mHq0X8n2xVb0Q=",
    )
    result = manage(["check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_malformed_boolean_stops_start_up_with_its_name(tmp_path):
    result = manage(["check"], clean_env(tmp_path, DEBUG="maybe"))
    assert result.returncode != 0
    assert "DEBUG must be true or false, not 'maybe'" in result.stderr


def test_env_helpers(monkeypatch, tmp_path):
    monkeypatch.setenv("N", "12")
    assert env_helpers.env_int("N", 1) == 12
    monkeypatch.setenv("N", "twelve")
    with pytest.raises(ImproperlyConfigured, match="N must be an integer"):
        env_helpers.env_int("N", 1)
    monkeypatch.setenv("L", " a, b ,,c ")
    assert env_helpers.env_list("L") == ["a", "b", "c"]
    monkeypatch.setenv("S_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="S_FILE: cannot read"):
        env_helpers.env_secret("S")


def test_migrations_are_in_step_with_the_models(tmp_path):
    result = manage(["makemigrations", "--check", "--dry-run"], clean_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_proxy_count_stops_start_up_when_the_client_address_cannot_be_read_through_it(tmp_path):
    # django-ipware cannot be uninstalled for one test: a package of its name that fails to import stands for its
    # absence (django-axes then reads REMOTE_ADDR, the proxy's, whatever the count says).
    hidden = tmp_path / "hidden" / "ipware"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('taken as not installed')\n")
    without_ipware = {"PYTHONPATH": str(tmp_path / "hidden")}

    result = manage(["check"], clean_env(tmp_path, AXES_PROXY_COUNT="1", **without_ipware))
    assert result.returncode != 0
    assert ("(accounts.E001) AXES_PROXY_COUNT is 1, but the client address cannot be read from X-Forwarded-For: "
            "django-ipware is not installed (it comes with django-axes[ipware], as pyproject.toml asks: run bin/setup)."
            in result.stderr)
    assert manage(["check"], clean_env(tmp_path, **without_ipware)).returncode == 0  # no proxy, nothing to read
    for count in ("1", "2"):
        result = manage(["check"], clean_env(tmp_path, AXES_PROXY_COUNT=count))
        assert result.returncode == 0, result.stderr
    result = manage(["check"], clean_env(tmp_path, AXES_PROXY_COUNT="-1"))
    assert result.returncode != 0
    assert "AXES_PROXY_COUNT must be 0 or more, not -1" in result.stderr


def test_a_client_address_read_otherwise_than_through_the_proxies_is_a_start_up_error(settings):
    from accounts.checks import check_client_address

    settings.AXES_IPWARE_PROXY_COUNT = 0  # one proxy (AXES_PROXY_COUNT=1)
    settings.AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]
    assert check_client_address(None) == []
    settings.IPWARE_STRICT = True  # a header with the caller's own entries refused: the proxy's address instead
    [error] = check_client_address(None)
    assert error.id == "accounts.E001"
    assert error.msg == ("AXES_PROXY_COUNT is 1, but the client address cannot be read from X-Forwarded-For: a request "
                         "from 203.0.113.7 through 1 proxy was read as 127.0.0.1.")
