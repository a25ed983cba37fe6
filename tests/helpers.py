"""Small helpers shared by tests that run Equestria's own commands."""

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(tmp_path, **overrides):
    """The environment of a fresh install: no Equestria variables, var/ in tmp_path."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {"DATABASE_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "HTTPS", "EMAIL_HOST", "DJANGO_ALLOW_ASYNC_UNSAFE", "CLAM_PASSWORD_KEYS"}
        and not key.startswith("EQUESTRIA_")
    }
    env["EQUESTRIA_VAR_DIR"] = str(tmp_path / "var")
    env.update(overrides)
    return env


def manage(args, env, **kwargs):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


def database_url_of_this_test_run():
    """DATABASE_URL for a subprocess (a worker) that must use the test database of this run."""
    from django.db import connection

    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST']}:{s['PORT']}/{s['NAME']}"
