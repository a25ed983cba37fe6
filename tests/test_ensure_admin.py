"""The run command's `ensure_admin` step."""

import pytest
from django.core.management import call_command

from accounts.models import User

pytestmark = pytest.mark.django_db


def test_creates_an_administrator_with_a_generated_password_printed_once(capsys):
    call_command("ensure_admin")
    out = capsys.readouterr().out
    admin = User.objects.get()
    assert admin.is_superuser and admin.is_staff
    password = out.split("Its password is: ")[1].split()[0]
    assert admin.check_password(password)

    call_command("ensure_admin")
    assert "password" not in capsys.readouterr().out
    assert User.objects.count() == 1


def test_takes_credentials_from_the_environment(monkeypatch, capsys):
    monkeypatch.setenv("EQUESTRIA_ADMIN_USERNAME", "root")
    monkeypatch.setenv("EQUESTRIA_ADMIN_EMAIL", "root@example.org")
    monkeypatch.setenv("EQUESTRIA_ADMIN_PASSWORD", "given secret 123")
    call_command("ensure_admin")
    admin = User.objects.get(username="root")
    assert admin.email == "root@example.org"
    assert admin.check_password("given secret 123")
    assert "given secret 123" not in capsys.readouterr().out
