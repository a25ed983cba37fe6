"""A new user signs up in a real browser, confirms the address through the mail and logs in."""

import re

import pytest

from accounts.models import User

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_new_user_signs_up_confirms_the_address_and_logs_in(page, live_server, mailoutbox):
    # pytest-django's live server is a thread of this process, so Django's
    # in-memory outbox receives the mails it sends.
    page.goto(live_server.url + "/")
    page.get_by_role("link", name="Sign up").first.click()
    page.locator("#id_username").fill("erin")
    page.locator("#id_email").fill("erin@example.org")
    page.locator("#id_password1").fill("a long enough passphrase 7")
    page.locator("#id_password2").fill("a long enough passphrase 7")
    page.get_by_role("button", name="Sign up").click()

    page.wait_for_url(live_server.url + "/accounts/signup/sent/")
    assert "We sent a link to erin@example.org." in page.locator("main").inner_text()
    assert not User.objects.get(username="erin").email_verified

    # Not usable before the address is confirmed.
    page.goto(live_server.url + "/accounts/login/")
    page.locator("#id_username").fill("erin")
    page.locator("#id_password").fill("a long enough passphrase 7")
    page.get_by_role("button", name="Log in").click()
    assert "Confirm your e-mail address first" in page.content()

    [mail] = mailoutbox
    link = re.search(r"https?://\S+/accounts/confirm/\S+/", mail.body).group(0)
    page.goto(link)
    page.get_by_role("button", name="Confirm my address").click()
    page.wait_for_url(live_server.url + "/accounts/login/")
    assert "Your e-mail address is confirmed. Log in to start." in page.content()

    page.locator("#id_username").fill("erin@example.org")
    page.locator("#id_password").fill("a long enough passphrase 7")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live_server.url + "/")
    assert page.locator("#user-menu").inner_text() == "erin"

    # The user menu works (Bootstrap's JS is served locally) and logging out works.
    page.locator("#user-menu").click()
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("link", name="Log in").first.wait_for()


def test_signup_errors_are_shown_next_to_the_field(page, live_server):
    page.goto(live_server.url + "/accounts/signup/")
    page.locator("#id_username").fill("frank")
    page.locator("#id_email").fill("not-an-address")
    page.locator("#id_password1").fill("123")
    page.locator("#id_password2").fill("123")
    page.get_by_role("button", name="Sign up").click()
    assert "Enter a valid email address." in page.content()
    assert "This password is too short." in page.content()
    assert not User.objects.filter(username="frank").exists()
