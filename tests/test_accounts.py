"""Accounts: sign up, log in and out, password change and reset, throttling."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from tests.conftest import PASSWORD, CsrfClient

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a much longer passphrase 42"


def signup(client, **overrides):
    data = {
        "username": "carol",
        "email": "carol@example.org",
        "password1": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
        **overrides,
    }
    return client.post_form(reverse("accounts-signup"), data)


def login(client, username, password=PASSWORD, url=None, **extra):
    url = url or reverse("accounts-login")
    return client.post_form(url, {"username": username, "password": password}, **extra)


def test_sign_up_creates_the_account_and_logs_in(csrf_client):
    response = signup(csrf_client)
    assert response.status_code == 302
    user = User.objects.get(username="carol")
    assert user.email == "carol@example.org"
    assert user.check_password(NEW_PASSWORD)
    assert csrf_client.get(reverse("home")).context["user"] == user


@pytest.mark.parametrize("username", ["alice", "ALICE"])
def test_sign_up_refuses_a_taken_username_in_any_case(csrf_client, alice, username):
    response = signup(csrf_client, username=username)
    assert response.status_code == 200
    assert "A user with that username already exists." in response.content.decode()
    assert User.objects.count() == 1


@pytest.mark.parametrize("email", ["alice@example.org", "Alice@EXAMPLE.org"])
def test_sign_up_refuses_a_taken_email_in_any_case(csrf_client, alice, email):
    response = signup(csrf_client, email=email)
    assert response.status_code == 200
    assert "A user with that e-mail address already exists." in response.content.decode()
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    "password, message",
    [
        ("short1", "This password is too short."),
        ("password123", "This password is too common."),
        ("83749283749283", "This password is entirely numeric."),
        ("carol@example.org", "The password is too similar to the email address."),
    ],
)
def test_sign_up_refuses_weak_passwords_with_the_reason(csrf_client, password, message):
    response = signup(csrf_client, password1=password, password2=password)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not User.objects.filter(username="carol").exists()


def test_sign_up_requires_an_email_address(csrf_client):
    response = signup(csrf_client, email="")
    assert "This field is required." in response.content.decode()
    assert not User.objects.exists()


def test_sign_up_with_mismatched_passwords_says_so(csrf_client):
    response = signup(csrf_client, password2=NEW_PASSWORD + "x")
    assert "The two password fields didn’t match." in response.content.decode()


def test_sign_up_can_be_closed(csrf_client, settings):
    settings.SIGNUP_ENABLED = False
    assert csrf_client.get(reverse("accounts-signup")).status_code == 404
    assert "Sign up" not in csrf_client.get(reverse("home")).content.decode()


def test_log_in_with_username_or_email(alice):
    for identifier in ("alice", "ALICE@example.org"):
        client = CsrfClient()
        response = login(client, identifier)
        assert response.status_code == 302, identifier
        assert client.get(reverse("home")).context["user"] == alice


def test_log_in_with_a_wrong_password_says_so(csrf_client, alice):
    response = login(csrf_client, "alice", "wrong password")
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_log_in_rotates_the_session_key(csrf_client, alice):
    csrf_client.get(reverse("accounts-login"))
    csrf_client.session.save()
    before = csrf_client.session.session_key
    login(csrf_client, "alice")
    assert csrf_client.session.session_key != before


def test_log_in_follows_next_but_not_to_another_site(csrf_client, alice):
    url = reverse("accounts-login") + "?next=/projects/"
    response = csrf_client.post_form(url, {"username": "alice", "password": PASSWORD, "next": "/projects/"})
    assert response["Location"] == "/projects/"
    client = CsrfClient()
    response = client.post_form(
        reverse("accounts-login"), {"username": "alice", "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("home")


def test_log_out_needs_post_and_ends_the_session(alice_client):
    assert alice_client.get(reverse("accounts-logout")).status_code == 405
    response = alice_client.post_form(reverse("accounts-logout"), {}, form_url=reverse("home"))
    assert response.status_code == 302
    assert not alice_client.get(reverse("home")).context["user"].is_authenticated


def test_logged_out_session_cookie_no_longer_works(alice):
    client = CsrfClient()
    login(client, "alice")
    old_cookie = client.cookies["sessionid"].value
    client.post_form(reverse("accounts-logout"), {}, form_url=reverse("home"))
    thief = CsrfClient()
    thief.cookies["sessionid"] = old_cookie
    assert thief.get(reverse("upload-project-list")).status_code == 302


def test_post_without_csrf_token_is_refused(alice):
    client = CsrfClient()
    response = client.post(reverse("accounts-login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 403


def test_password_change_ends_the_other_sessions_but_keeps_this_one(alice):
    here, elsewhere = CsrfClient(), CsrfClient()
    login(here, "alice")
    login(elsewhere, "alice")
    response = here.post_form(
        reverse("accounts-password-change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response["Location"] == reverse("accounts-password-change-done")
    assert here.get(reverse("upload-project-list")).status_code == 200
    assert elsewhere.get(reverse("upload-project-list")).status_code == 302
    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)


def test_password_change_refuses_a_wrong_old_password(alice_client, alice):
    response = alice_client.post_form(
        reverse("accounts-password-change"),
        {"old_password": "nope", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert "Your old password was entered incorrectly." in response.content.decode()
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_password_reset_mail_link_sets_a_new_password(csrf_client, alice, mailoutbox):
    response = csrf_client.post_form(reverse("accounts-password-reset"), {"email": "alice@example.org"})
    assert response["Location"] == reverse("accounts-password-reset-sent")
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == ["alice@example.org"]
    assert mail.subject == "Reset your Equestria password"
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/\S+/)", mail.body).group(1)

    # Django redirects the token link to a session-bound URL before showing the form.
    response = csrf_client.get(link, follow=True)
    form_url = response.redirect_chain[-1][0]
    assert "Choose a new password" in response.content.decode()
    response = csrf_client.post_form(
        form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert response["Location"] == reverse("accounts-password-reset-complete")
    assert login(CsrfClient(), "alice", NEW_PASSWORD).status_code == 302

    # The link works once.
    response = csrf_client.get(link, follow=True)
    assert "This link does not work" in response.content.decode()


def test_password_reset_for_an_unknown_address_sends_nothing_and_reveals_nothing(csrf_client, mailoutbox):
    response = csrf_client.post_form(reverse("accounts-password-reset"), {"email": "nobody@example.org"})
    assert response["Location"] == reverse("accounts-password-reset-sent")
    assert mailoutbox == []


def test_password_reset_mails_per_address_are_limited_without_revealing_it(csrf_client, alice, mailoutbox, settings):
    from accounts.models import PasswordResetRequest

    settings.PASSWORD_RESET_MAILS_PER_ADDRESS = 3
    for number in range(5):
        client = CsrfClient(REMOTE_ADDR=f"10.0.0.{number}")  # another client each time: the address limit
        response = client.post_form(reverse("accounts-password-reset"), {"email": "ALICE@example.org"})
        assert response["Location"] == reverse("accounts-password-reset-sent")
    assert len(mailoutbox) == 3
    assert not PasswordResetRequest.objects.filter(address_hash__contains="alice").exists()  # stored hashed

    # An hour later the address may ask again.
    PasswordResetRequest.objects.update(created_at=timezone.now() - timedelta(hours=1, seconds=1))
    csrf_client.post_form(reverse("accounts-password-reset"), {"email": "alice@example.org"})
    assert len(mailoutbox) == 4
    assert PasswordResetRequest.objects.count() == 1  # the old ones are gone


def test_password_reset_requests_per_client_are_limited(csrf_client, alice, bob, mailoutbox, settings):
    settings.PASSWORD_RESET_MAILS_PER_IP = 4
    for number in range(4):  # unknown addresses count too
        csrf_client.post_form(reverse("accounts-password-reset"), {"email": f"nobody{number}@example.org"})
    response = csrf_client.post_form(reverse("accounts-password-reset"), {"email": "alice@example.org"})
    assert response["Location"] == reverse("accounts-password-reset-sent")
    assert mailoutbox == []
    CsrfClient(REMOTE_ADDR="10.9.9.9").post_form(reverse("accounts-password-reset"), {"email": "bob@example.org"})
    assert [m.to for m in mailoutbox] == [[bob.email]]


@pytest.mark.parametrize("url_name", ["upload-project-list", "accounts-password-change"])
def test_pages_that_need_login_redirect_to_it(client, url_name):
    url = reverse(url_name)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('accounts-login')}?next={url}"


def test_repeated_failed_logins_lock_out_that_user_from_that_address(csrf_client, alice, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(csrf_client, "alice", "wrong")
    response = login(csrf_client, "alice", PASSWORD)
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    # Another address is not locked out.
    other = CsrfClient(REMOTE_ADDR="10.1.2.3")
    assert login(other, "alice").status_code == 302


def test_admin_login_is_throttled_too(admin_user, settings):
    client = CsrfClient()
    url = reverse("admin:login")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post_form(url, {"username": "admin", "password": "wrong"})
    response = client.post_form(url, {"username": "admin", "password": PASSWORD})
    assert response.status_code == 429


# Spellings of alice's account: the username in other cases, the e-mail address in any case,
# with spaces around.
ALICE_SPELLINGS = ["alice", "ALICE", "Alice", "alice@example.org", "ALICE@Example.ORG", "  aLiCe  "]
LOCKED_OUT = "Too many failed logins"


def _fail_with_every_spelling(client, url, spellings, limit):
    for attempt in range(limit):
        response = client.post_form(url, {"username": spellings[attempt % len(spellings)], "password": "wrong"})
        if attempt < limit - 1:  # the last failure is answered with the lock already
            assert response.status_code == 200, attempt


@pytest.mark.parametrize("url_name", ["accounts-login", "admin:login"])
@pytest.mark.parametrize("spelling", ALICE_SPELLINGS)
def test_failures_in_mixed_spellings_lock_every_spelling_of_the_account(alice, settings, url_name, spelling):
    alice.is_staff = True  # so the admin login would let her in
    alice.save()
    client = CsrfClient()
    url = reverse(url_name)
    _fail_with_every_spelling(client, url, ["Alice", "alice@EXAMPLE.org", " ALICE", "alice"], settings.AXES_FAILURE_LIMIT)
    response = client.post_form(url, {"username": spelling, "password": PASSWORD})
    assert response.status_code == 429
    assert LOCKED_OUT in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("url_name", ["accounts-login", "admin:login"])
def test_failures_for_an_unknown_name_lock_like_those_for_an_account(alice, settings, url_name):
    alice.is_staff = True
    alice.save()
    client = CsrfClient()
    url = reverse(url_name)
    # Unknown names count per name in any case, as an account's spellings do.
    _fail_with_every_spelling(client, url, ["Nobody", "NOBODY", " nobody "], settings.AXES_FAILURE_LIMIT)
    response = client.post_form(url, {"username": "nobody", "password": "anything"})
    assert response.status_code == 429
    assert LOCKED_OUT in response.content.decode()
    # Another name from the same client is not locked, known or unknown.
    assert login(client, "somebody", "anything").status_code == 200
    assert login(client, "ALICE@example.org", url=url).status_code == 302


def test_the_lock_page_is_the_same_for_an_account_and_an_unknown_name(alice, settings):
    pages = []
    for name in ("alice", "nobody"):
        client = CsrfClient(REMOTE_ADDR="10.7.7.7" if name == "alice" else "10.8.8.8")
        _fail_with_every_spelling(client, reverse("accounts-login"), [name], settings.AXES_FAILURE_LIMIT)
        response = login(client, name, "whatever")
        pages.append((response.status_code, response.content))
    assert pages[0] == pages[1]


def test_a_successful_login_in_another_spelling_resets_the_count(alice, settings):
    client = CsrfClient()
    _fail_with_every_spelling(client, reverse("accounts-login"), ["ALICE"], settings.AXES_FAILURE_LIMIT - 1)
    assert login(client, "alice@example.org").status_code == 302
    client.post_form(reverse("accounts-logout"), {}, form_url=reverse("home"))
    _fail_with_every_spelling(client, reverse("accounts-login"), ["Alice"], settings.AXES_FAILURE_LIMIT - 1)
    assert login(client, "alice").status_code == 302


def test_admin_accepts_staff_and_sends_others_to_log_in(admin_user, alice):
    client = CsrfClient()
    response = client.post_form(reverse("admin:login"), {"username": "admin", "password": PASSWORD, "next": "/admin/"})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200
    other = CsrfClient()
    other.force_login(alice)
    response = other.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_admin_can_add_a_user_with_email(admin_user):
    client = CsrfClient()
    client.force_login(admin_user)
    response = client.post_form(
        reverse("admin:accounts_user_add"),
        {
            "username": "dave",
            "email": "dave@example.org",
            "usable_password": "true",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert User.objects.get(username="dave").email == "dave@example.org"


def test_navigation_shows_the_user_and_projects_when_logged_in(alice_client, client):
    page = alice_client.get(reverse("home")).content.decode()
    assert "alice" in page and "Projects" in page and "Log out" in page
    page = client.get(reverse("home")).content.decode()
    assert "Log in" in page and "Sign up" in page and "Log out" not in page
