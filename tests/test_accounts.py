"""Accounts: sign up, log in and out, password change and reset, throttling."""

import re
from datetime import datetime, timedelta
from urllib.parse import quote

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.html import strip_tags
from django.utils.http import urlsafe_base64_encode

from accounts.models import ConfirmationMailRequest, DeclinedSignUp, User
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


def _link(mail, url_name):
    prefix = reverse(url_name, kwargs={"uidb64": "U", "token": "T"}).split("U/")[0]
    return re.search(rf"https?://[^/\s]+({re.escape(prefix)}\S+/)", mail.body).group(1)


def _signed_up_carol(client, mailoutbox):
    """Sign carol up; return her account and the confirmation link from the mail."""
    signup(client)
    user = User.objects.get(username="carol")
    return user, _link(mailoutbox[-1], "accounts-confirm-email")


def test_sign_up_creates_an_unconfirmed_account_and_mails_the_link(csrf_client, mailoutbox):
    response = signup(csrf_client)
    assert response["Location"] == reverse("accounts-signup-sent")
    user = User.objects.get(username="carol")
    assert user.email == "carol@example.org"
    assert user.check_password(NEW_PASSWORD)
    assert not user.email_verified
    page = csrf_client.get(response["Location"]).content.decode()
    assert "We sent a link to <strong>carol@example.org</strong>." in page
    assert not csrf_client.get(reverse("home")).context["user"].is_authenticated
    [mail] = mailoutbox
    assert mail.to == ["carol@example.org"]
    assert mail.subject == "Confirm your e-mail address for Equestria"
    assert "The link works for 3 days." in mail.body


def test_an_unconfirmed_account_cannot_log_in_and_is_told_how_to_confirm(csrf_client, mailoutbox):
    _signed_up_carol(csrf_client, mailoutbox)
    for spelling in ("carol", "CAROL@example.org"):
        response = login(CsrfClient(), spelling, NEW_PASSWORD)
        assert response.status_code == 200
        page = response.content.decode()
        assert (
            "Confirm your e-mail address first: follow the link in the mail we sent when you signed up." in page
        )
        assert "Send the confirmation link again" in page
        assert "_auth_user_id" not in response.wsgi_request.session


@pytest.mark.parametrize("username, password", [("carol", "wrong password"), ("nobody", NEW_PASSWORD)])
def test_an_unconfirmed_account_with_a_wrong_password_gets_the_usual_message(
    csrf_client, mailoutbox, username, password
):
    _signed_up_carol(csrf_client, mailoutbox)
    page = login(CsrfClient(), username, password).content.decode()
    assert "Please enter a correct username and password" in page
    assert "Confirm your e-mail address" not in page
    assert "confirmation link" not in page


def test_following_the_link_confirms_the_address_and_the_account_can_log_in(csrf_client, mailoutbox):
    user, link = _signed_up_carol(csrf_client, mailoutbox)
    visitor = CsrfClient()  # the mail may be opened in another browser
    page = visitor.get(link).content.decode()
    assert "Confirm <strong>carol@example.org</strong> as the address of your Equestria account." in page
    user.refresh_from_db()
    assert not user.email_verified  # a GET (a mail scanner's) confirms nothing
    response = visitor.post_form(link, {})
    assert response["Location"] == reverse("accounts-login")
    assert "Your e-mail address is confirmed. Log in to start." in visitor.get(response["Location"]).content.decode()
    user.refresh_from_db()
    assert user.email_verified
    assert login(visitor, "carol", NEW_PASSWORD).status_code == 302


def test_a_confirmation_link_works_once(csrf_client, mailoutbox):
    _, link = _signed_up_carol(csrf_client, mailoutbox)
    csrf_client.post_form(link, {})
    page = csrf_client.get(link).content.decode()
    assert "This link does not work" in page
    assert "has been used already, has expired, or was not copied whole" in page


def test_an_expired_confirmation_link_is_refused(csrf_client, mailoutbox, settings):
    from accounts.services import EmailConfirmationTokenGenerator

    user, _ = _signed_up_carol(csrf_client, mailoutbox)
    old = EmailConfirmationTokenGenerator()
    old._now = lambda: datetime.now() - timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 60)
    link = reverse(
        "accounts-confirm-email", kwargs={"uidb64": urlsafe_base64_encode(force_bytes(user.pk)), "token": old.make_token(user)}
    )
    assert "This link does not work" in csrf_client.get(link).content.decode()
    response = csrf_client.post_form(link, {}, form_url=reverse("accounts-login"))
    assert "This link does not work" in response.content.decode()
    user.refresh_from_db()
    assert not user.email_verified


def test_a_tampered_confirmation_link_is_refused(csrf_client, mailoutbox, bob):
    user, link = _signed_up_carol(csrf_client, mailoutbox)
    _, _, _, uidb64, token, _ = link.split("/")
    tampered = [
        link[:-2] + ("0" if link[-2] != "0" else "1") + "/",  # last character of the signature
        link.replace(uidb64, urlsafe_base64_encode(force_bytes(bob.pk))),  # another account's id
        link.replace(uidb64, "!!"),
        link.replace(token, "zz-zz"),
    ]
    for url in tampered:
        assert "This link does not work" in csrf_client.get(url).content.decode(), url
    user.refresh_from_db()
    assert not user.email_verified


@pytest.mark.parametrize("email", ["alice@example.org", "Alice@EXAMPLE.org"])
def test_sign_up_with_a_registered_address_answers_as_for_a_new_one(alice, mailoutbox, email):
    answers = []
    for username, address in (("carol", "carol@example.org"), ("dave", email)):
        client = CsrfClient(REMOTE_ADDR=f"10.3.3.{len(answers)}")
        response = signup(client, username=username, email=address)
        shown = User.objects.normalize_email(address)  # the domain in lower case
        page = client.get(response["Location"]).content.decode().replace(shown, "ADDRESS")
        answers.append((response.status_code, response["Location"], page))
    assert answers[0] == answers[1]
    assert not User.objects.filter(username="dave").exists()
    # The owner of the address is told, with a way in.
    carol_mail, alice_mail = mailoutbox
    assert alice_mail.to == ["alice@example.org"]
    assert alice_mail.subject == "Someone tried to sign up for Equestria with your address"
    assert 'already\nbelongs to your account "alice". No new account was created.' in alice_mail.body
    assert "/accounts/password/reset/" in alice_mail.body and "/accounts/login/" in alice_mail.body


@pytest.fixture
def hashes(monkeypatch):
    """A list that gets one entry per password checked (tests hash with MD5, see conftest)."""
    from django.contrib.auth.hashers import MD5PasswordHasher

    checked = []
    verify = MD5PasswordHasher.verify

    def counting_verify(self, password, encoded):
        checked.append(1)
        return verify(self, password, encoded)

    monkeypatch.setattr(MD5PasswordHasher, "verify", counting_verify)
    return checked


def _what_a_prober_sees(address, hashes, limit):
    """Sign up as "dave" with `address`, then try what a prober could: the username again, logging in.

    Logging in is tried `limit` + 2 times from one client with dave's password
    (by name and by address in turn), then as often from another with a wrong
    one; each login's answer and the number of passwords it checked are kept.
    """
    from axes.utils import reset

    reset()
    signup(CsrfClient(REMOTE_ADDR="10.3.4.5"), username="dave", email=address)
    again = signup(CsrfClient(REMOTE_ADDR="10.3.4.6"), username="DAVE", email="dave.other@example.org")
    responses = [again]
    checks = []
    for password, ip in ((NEW_PASSWORD, "10.3.4.7"), ("wrong", "10.3.4.8")):
        client = CsrfClient(REMOTE_ADDR=ip)
        for attempt in range(limit + 2):
            del hashes[:]
            responses.append(login(client, ["dave", address.upper()][attempt % 2], password))
            checks.append(len(hashes))
    pages = [
        (response.status_code, re.sub(r'value="[^"]*"', "", response.content.decode()).replace(address.upper(), "A"))
        for response in responses
    ]
    return checks, [
        (status, page.replace(quote(address.upper()), "A"))  # in the link to resend
        for status, page in pages
    ]


def test_what_follows_a_sign_up_with_a_registered_address_looks_as_for_a_new_one(alice, mailoutbox, hashes, settings):
    from accounts.models import DeclinedSignUp

    limit = settings.AXES_FAILURE_LIMIT
    registered = _what_a_prober_sees("alice@example.org", hashes, limit)
    DeclinedSignUp.objects.all().delete()
    new = _what_a_prober_sees("erin@example.org", hashes, limit)
    assert registered == new
    checks, pages = new
    # One password checked for a username, two for an address, whatever exists; none once locked.
    by_name_then_address = [[1, 2][attempt % 2] for attempt in range(limit + 2)]
    assert checks == by_name_then_address + by_name_then_address[:limit] + [0, 0]
    again, right, wrong = pages[0], pages[1 : limit + 3], pages[limit + 3 :]
    assert "A user with that username already exists." in again[1]
    # Its own password never locks a sign-up out: it is told to confirm, every time.
    for status, page in right:
        assert status == 200
        assert "Confirm your e-mail address first" in page
    # Wrong passwords count alike.
    assert [status for status, _ in wrong] == [200] * (limit - 1) + [429] * 3
    assert "Please enter a correct username and password" in wrong[0][1]
    # The owner of the registered address still logs in with her own password.
    assert login(CsrfClient(REMOTE_ADDR="10.3.4.9"), "alice@example.org").status_code == 302


def test_an_unknown_name_checks_as_many_passwords_as_a_known_one(alice, hashes):
    for name, expected in (("alice", 1), ("nobody", 1), ("alice@example.org", 2), ("nobody@example.org", 2)):
        del hashes[:]
        login(CsrfClient(), name, "wrong")
        assert len(hashes) == expected, name


def test_unconfirmed_sign_ups_are_forgotten_when_their_link_expires(alice, mailoutbox, settings):
    from accounts.models import DeclinedSignUp

    signup(CsrfClient(REMOTE_ADDR="10.3.5.1"), username="dave", email="alice@example.org")
    signup(CsrfClient(REMOTE_ADDR="10.3.5.2"), username="erin", email="erin@example.org")
    expired = timezone.now() - timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 1)
    DeclinedSignUp.objects.update(created_at=expired)
    User.objects.filter(username="erin").update(date_joined=expired)
    signup(CsrfClient(REMOTE_ADDR="10.3.5.3"), username="frank", email="frank@example.org")
    assert set(User.objects.values_list("username", flat=True)) == {"alice", "frank"}
    assert not DeclinedSignUp.objects.exists()
    assert signup(CsrfClient(REMOTE_ADDR="10.3.5.4"), username="dave")["Location"] == reverse("accounts-signup-sent")


def test_a_sign_up_with_an_address_held_by_an_unconfirmed_sign_up_replaces_it(mailoutbox):
    # Mallory signs up with Erin's address before Erin does.
    own = "mallory's own passphrase 7"
    squat = {"username": "mallory", "password1": own, "password2": own}
    signup(CsrfClient(REMOTE_ADDR="10.6.0.1"), email="erin@example.org", **squat)
    mallory_link = _link(mailoutbox[-1], "accounts-confirm-email")
    ConfirmationMailRequest.objects.update(created_at=timezone.now() - timedelta(hours=1))
    response = signup(CsrfClient(REMOTE_ADDR="10.6.0.2"), username="erin", email="erin@example.org")
    assert response["Location"] == reverse("accounts-signup-sent")
    assert list(User.objects.values_list("username", flat=True)) == ["erin"]
    # Erin gets a link for her own sign-up, not a note that the address is someone's.
    mail = mailoutbox[-1]
    assert mail.subject == "Confirm your e-mail address for Equestria"
    assert mail.body.startswith("Hello erin,")
    assert "mallory" not in mail.body
    visitor = CsrfClient()
    assert "This link does not work" in visitor.get(mallory_link).content.decode()
    visitor.post_form(_link(mail, "accounts-confirm-email"), {})
    assert login(visitor, "erin@example.org", NEW_PASSWORD).status_code == 302
    # Once confirmed, the address is Erin's: a later sign-up with it is declined and she is told.
    ConfirmationMailRequest.objects.update(created_at=timezone.now() - timedelta(hours=1))
    signup(CsrfClient(REMOTE_ADDR="10.6.0.3"), email="erin@example.org", **{**squat, "username": "mallory2"})
    assert list(User.objects.values_list("username", flat=True)) == ["erin"]
    assert 'already\nbelongs to your account "erin".' in mailoutbox[-1].body


def test_a_later_sign_up_replaces_a_declined_one_with_the_same_address(alice, mailoutbox):
    signup(CsrfClient(REMOTE_ADDR="10.6.1.1"), username="dave", email="alice@example.org")
    signup(CsrfClient(REMOTE_ADDR="10.6.1.2"), username="erin", email="ALICE@example.org")
    assert list(DeclinedSignUp.objects.values_list("username", flat=True)) == ["erin"]
    # As with a new address, the replaced sign-up's username is free and its password opens nothing.
    assert "Please enter a correct username and password" in login(CsrfClient(), "dave", NEW_PASSWORD).content.decode()
    assert signup(CsrfClient(REMOTE_ADDR="10.6.1.3"), username="dave", email="dave@example.org").status_code == 302


def test_only_unconfirmed_sign_ups_are_forgotten_not_accounts_marked_unconfirmed_later(
    admin_user, csrf_client, mailoutbox, settings
):
    expired = timezone.now() - timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 1)
    admin = CsrfClient()
    admin.force_login(admin_user)
    # An account an administrator made and then marked unconfirmed, never used.
    admin.post_form(
        reverse("admin:accounts_user_add"),
        {
            "username": "dave",
            "email": "dave@example.org",
            "usable_password": "true",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
    )
    dave = User.objects.get(username="dave")
    # A sign-up that was confirmed and later marked unconfirmed by an administrator.
    carol, link = _signed_up_carol(csrf_client, mailoutbox)
    csrf_client.post_form(link, {})
    for user in (dave, carol):
        user.refresh_from_db()
        user.email_verified = False  # as the admin's change form saves it
        user.date_joined = expired
        user.save()
    signup(CsrfClient(REMOTE_ADDR="10.6.2.1"), username="frank", email="frank@example.org")
    assert set(User.objects.values_list("username", flat=True)) == {"admin", "dave", "carol", "frank"}
    # Nor does a sign-up with their address replace them: the owner is told instead.
    ConfirmationMailRequest.objects.update(created_at=timezone.now() - timedelta(hours=1))
    signup(CsrfClient(REMOTE_ADDR="10.6.2.2"), username="mallory", email="dave@example.org")
    assert User.objects.filter(username="dave").exists()
    assert not User.objects.filter(username="mallory").exists()
    assert 'already\nbelongs to your account "dave".' in mailoutbox[-1].body


def test_mails_to_a_registered_address_from_sign_up_are_limited(alice, mailoutbox):
    for number in range(3):
        signup(CsrfClient(REMOTE_ADDR=f"10.4.4.{number}"), username=f"mallory{number}", email="alice@example.org")
    assert len(mailoutbox) == 1  # one a minute


@pytest.mark.parametrize("username", ["alice", "ALICE"])
def test_sign_up_refuses_a_taken_username_in_any_case(csrf_client, alice, username):
    response = signup(csrf_client, username=username)
    assert response.status_code == 200
    assert "A user with that username already exists." in response.content.decode()
    assert User.objects.count() == 1


def _resend(client, address):
    return client.post_form(reverse("accounts-confirm-resend"), {"email": address})


def _an_hour_passes(minutes=0):
    from accounts.models import ConfirmationMailRequest

    ConfirmationMailRequest.objects.update(created_at=timezone.now() - timedelta(minutes=minutes))


WAIT_A_MINUTE = "A link was sent to this address less than a minute ago. Wait a little, then ask again."


def test_resend_mails_a_new_link_that_confirms(csrf_client, mailoutbox):
    user, first_link = _signed_up_carol(csrf_client, mailoutbox)
    _an_hour_passes(minutes=2)
    response = _resend(CsrfClient(), "CAROL@example.org")
    assert response["Location"] == reverse("accounts-confirm-resend-sent")
    assert len(mailoutbox) == 2
    assert mailoutbox[1].to == ["carol@example.org"]
    link = _link(mailoutbox[1], "accounts-confirm-email")
    csrf_client.post_form(link, {})
    user.refresh_from_db()
    assert user.email_verified
    # Once confirmed, every earlier link stops working and resend sends nothing.
    assert "This link does not work" in csrf_client.get(first_link).content.decode()
    _an_hour_passes(minutes=2)
    _resend(CsrfClient(), "carol@example.org")
    assert len(mailoutbox) == 2


def test_resend_is_limited_per_address_for_known_and_unknown_addresses(csrf_client, mailoutbox, settings):
    settings.CONFIRMATION_MAILS_PER_ADDRESS = 3
    _signed_up_carol(csrf_client, mailoutbox)  # the sign-up mail counts
    for address in ("carol@example.org", "nobody@example.org"):
        client = CsrfClient(REMOTE_ADDR="10.5.5.5")
        if address == "nobody@example.org":
            assert _resend(client, address).status_code == 302
        response = _resend(client, address)
        assert response.status_code == 200
        assert WAIT_A_MINUTE in response.content.decode()
        for _ in range(2):
            _an_hour_passes(minutes=2)
            _resend(CsrfClient(REMOTE_ADDR="10.6.6.6"), address)
        _an_hour_passes(minutes=2)
        response = _resend(CsrfClient(REMOTE_ADDR="10.6.6.7"), address)
        assert "Several links were sent to this address in the last hour. Try again in an hour." in (
            response.content.decode()
        )
    assert [m.to for m in mailoutbox] == [["carol@example.org"]] * 3
    _an_hour_passes(minutes=61)
    assert _resend(CsrfClient(), "carol@example.org").status_code == 302
    assert len(mailoutbox) == 4


def test_resend_is_limited_per_client(csrf_client, mailoutbox, settings):
    settings.CONFIRMATION_MAILS_PER_IP = 4
    _signed_up_carol(CsrfClient(REMOTE_ADDR="10.2.2.2"), mailoutbox)
    for number in range(4):  # unknown addresses count too
        assert _resend(csrf_client, f"nobody{number}@example.org").status_code == 302
    _an_hour_passes(minutes=2)
    response = _resend(csrf_client, "carol@example.org")
    assert "Too many links were asked for from your network in the last hour. Try again in an hour." in (
        response.content.decode()
    )
    assert len(mailoutbox) == 1


def test_resend_answers_the_same_for_unknown_confirmed_and_waiting_addresses(csrf_client, alice, mailoutbox):
    _signed_up_carol(CsrfClient(REMOTE_ADDR="10.2.2.2"), mailoutbox)
    _an_hour_passes(minutes=2)
    pages = []
    for number, address in enumerate(("carol@example.org", "alice@example.org", "nobody@example.org")):
        client = CsrfClient(REMOTE_ADDR=f"10.9.0.{number}")
        response = _resend(client, address)
        pages.append((response["Location"], client.get(response["Location"]).content.decode().replace(address, "A")))
    assert pages[0] == pages[1] == pages[2]
    assert [m.to for m in mailoutbox] == [["carol@example.org"]] * 2


def test_login_page_links_to_resend_with_the_address_filled_in(csrf_client, mailoutbox):
    _signed_up_carol(csrf_client, mailoutbox)
    page = login(CsrfClient(), "carol@example.org", NEW_PASSWORD).content.decode()
    assert 'href="/accounts/confirm/resend/?email=carol%40example.org"' in page
    page = CsrfClient().get("/accounts/confirm/resend/?email=carol%40example.org").content.decode()
    assert 'value="carol@example.org"' in page


def test_setting_a_password_through_a_reset_link_confirms_the_address(csrf_client, mailoutbox):
    user, _ = _signed_up_carol(csrf_client, mailoutbox)
    csrf_client.post_form(reverse("accounts-password-reset"), {"email": "carol@example.org"})
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/\S+/)", mailoutbox[-1].body).group(1)
    form_url = csrf_client.get(link, follow=True).redirect_chain[-1][0]
    csrf_client.post_form(form_url, {"new_password1": NEW_PASSWORD + "!", "new_password2": NEW_PASSWORD + "!"})
    user.refresh_from_db()
    assert user.email_verified
    assert login(CsrfClient(), "carol", NEW_PASSWORD + "!").status_code == 302


def test_accounts_made_by_administrators_can_log_in_at_once(admin_user):
    from django.core.management import call_command

    call_command("createsuperuser", "--noinput", username="root", email="root@example.org", verbosity=0)
    assert User.objects.get(username="root").email_verified
    assert User.objects.get(username="admin").email_verified


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


def test_behind_a_proxy_failed_logins_lock_out_the_caller_who_made_them_not_everyone(alice, settings):
    from tests.test_api import behind_proxy

    behind_proxy(settings)
    # Through the proxy on loopback, which appends the caller's address to any X-Forwarded-For the caller sent.
    caller = CsrfClient(HTTP_X_FORWARDED_FOR="198.51.100.1")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(caller, "alice", "wrong")
    assert login(caller, "alice").status_code == 429
    assert login(CsrfClient(HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.1"), "alice").status_code == 429  # forged
    assert login(CsrfClient(HTTP_X_FORWARDED_FOR="198.51.100.2"), "alice").status_code == 302


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


def _page_text(response):
    """The page's words as a reader sees them: no tags, one space between words.

    Durations are written with non-breaking spaces ("15&nbsp;minutes"), so they never break apart.
    """
    return " ".join(strip_tags(response.content.decode()).replace("\xa0", " ").split())


@pytest.mark.parametrize("url_name", ["accounts-login", "admin:login"])
@pytest.mark.parametrize(
    "cooloff, words",
    [
        (timedelta(minutes=15), "in about 15 minutes"),
        (timedelta(minutes=1), "in about 1 minute"),
        (timedelta(hours=1), "in about 1 hour"),
        (timedelta(minutes=90), "in about 1 hour, 30 minutes"),
        (timedelta(seconds=30), "in about 1 minute"),
    ],
)
def test_the_lock_page_says_how_long_in_words(alice, settings, url_name, cooloff, words):
    settings.AXES_COOLOFF_TIME = cooloff
    alice.is_staff = True
    alice.save()
    client = CsrfClient()
    _fail_with_every_spelling(client, reverse(url_name), ["alice"], settings.AXES_FAILURE_LIMIT)
    response = login(client, "alice", url=reverse(url_name))
    assert response.status_code == 429
    text = _page_text(response)
    assert f"Try again later ({words}), or reset your password: a new password lifts the block at once." in text
    assert "PT" not in text


def _lock_alice(client, settings, url_name="accounts-login"):
    _fail_with_every_spelling(
        client, reverse(url_name), ["Alice", "alice@EXAMPLE.org", " ALICE", "alice"], settings.AXES_FAILURE_LIMIT
    )
    assert login(client, "alice", PASSWORD, url=reverse(url_name)).status_code == 429


def _reset_password_by_mail(client, address, mailoutbox):
    client.post_form(reverse("accounts-password-reset"), {"email": address})
    response = client.get(_link(mailoutbox[-1], "accounts-password-reset-confirm"), follow=True)
    form_url = response.redirect_chain[-1][0]
    response = client.post_form(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response["Location"] == reverse("accounts-password-reset-complete")


@pytest.mark.parametrize("url_name", ["accounts-login", "admin:login"])
@pytest.mark.parametrize("spelling", ["alice", "ALICE", "Alice@Example.org"])
def test_a_password_reset_lifts_the_lock_for_every_spelling(alice, settings, mailoutbox, url_name, spelling):
    alice.is_staff = True
    alice.save()
    client = CsrfClient()
    _lock_alice(client, settings, url_name)
    _reset_password_by_mail(client, "alice@example.org", mailoutbox)
    response = login(client, spelling, NEW_PASSWORD, url=reverse(url_name))
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(alice.pk)


def test_a_password_reset_lifts_the_lock_from_every_client(alice, settings, mailoutbox):
    prober = CsrfClient(REMOTE_ADDR="10.6.6.6")
    _lock_alice(prober, settings)
    _reset_password_by_mail(CsrfClient(REMOTE_ADDR="10.7.7.7"), "alice@example.org", mailoutbox)
    # The lock is gone; the old password is simply wrong now and counts again from zero.
    assert login(prober, "ALICE", PASSWORD).status_code == 200
    assert login(prober, "alice@example.org", NEW_PASSWORD).status_code == 302


def test_a_password_reset_of_another_account_leaves_the_lock(alice, bob, settings, mailoutbox):
    client = CsrfClient()
    _lock_alice(client, settings)
    _reset_password_by_mail(client, bob.email, mailoutbox)
    assert login(client, "alice", PASSWORD).status_code == 429


def test_a_password_change_lifts_the_lock(alice, alice_client, settings):
    prober = CsrfClient(REMOTE_ADDR="10.6.6.6")
    _lock_alice(prober, settings)
    response = alice_client.post_form(
        reverse("accounts-password-change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response["Location"] == reverse("accounts-password-change-done")
    assert login(prober, "Alice", NEW_PASSWORD).status_code == 302


def test_a_password_set_by_an_administrator_lifts_the_lock(alice, admin_user, settings):
    prober = CsrfClient(REMOTE_ADDR="10.6.6.6")
    _lock_alice(prober, settings)
    admin = CsrfClient()
    admin.force_login(admin_user)
    url = reverse("admin:auth_user_password_change", args=[alice.pk])
    response = admin.post_form(url, {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 302
    assert login(prober, "alice@example.org", NEW_PASSWORD).status_code == 302


def test_the_right_password_of_an_unconfirmed_account_is_not_a_failure(csrf_client, mailoutbox, settings, caplog):
    from axes.models import AccessAttempt

    _, link = _signed_up_carol(csrf_client, mailoutbox)
    client = CsrfClient()
    spellings = ["carol", "CAROL", "carol@example.org", "Carol@Example.ORG"]
    for attempt in range(settings.AXES_FAILURE_LIMIT + 2):
        response = login(client, spellings[attempt % len(spellings)], NEW_PASSWORD)
        assert response.status_code == 200, attempt
        assert "Confirm your e-mail address first" in response.content.decode()
    assert not AccessAttempt.objects.exists()
    assert "login failure" not in caplog.text
    client.post_form(link, {})
    assert login(client, "Carol", NEW_PASSWORD).status_code == 302


def test_wrong_passwords_for_an_unconfirmed_account_still_lock_it(csrf_client, mailoutbox, settings):
    _signed_up_carol(csrf_client, mailoutbox)
    client = CsrfClient()
    spellings = ["carol", "CAROL@example.org"]
    _fail_with_every_spelling(client, reverse("accounts-login"), spellings, settings.AXES_FAILURE_LIMIT)
    assert login(client, "carol", NEW_PASSWORD).status_code == 429


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
    assert User.objects.get(username="dave").email_verified


def test_admin_can_confirm_an_address_by_hand(admin_user, csrf_client, mailoutbox):
    user, _ = _signed_up_carol(csrf_client, mailoutbox)
    client = CsrfClient()
    client.force_login(admin_user)
    assert client.get(reverse("admin:accounts_user_changelist") + "?email_verified__exact=0").status_code == 200
    page = client.get(reverse("admin:accounts_user_change", args=[user.pk])).content.decode()
    assert 'name="email_verified"' in page


def test_navigation_shows_the_user_and_projects_when_logged_in(alice_client, client):
    page = alice_client.get(reverse("home")).content.decode()
    assert "alice" in page and "Projects" in page and "Log out" in page
    page = client.get(reverse("home")).content.decode()
    assert "Log in" in page and "Sign up" in page and "Log out" not in page


def test_sign_up_when_the_mail_server_is_down_still_answers_and_logs_why(csrf_client, settings, caplog):
    import socket

    with socket.socket() as probe:  # a port on which nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5
    response = signup(csrf_client)
    assert response["Location"] == reverse("accounts-signup-sent")
    assert not User.objects.get(username="carol").email_verified
    assert "Could not send the confirm-email mail" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_accounts_that_existed_before_confirmation_came_in_stay_usable():
    from django.contrib.auth.hashers import make_password
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("accounts", "0002_password_reset_request")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    OldUser = executor.loader.project_state(before).apps.get_model("accounts", "User")
    OldUser.objects.create(username="olduser", email="old@example.org", password=make_password(PASSWORD))
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert User.objects.get(username="olduser").email_verified
    assert login(CsrfClient(), "olduser").status_code == 302
