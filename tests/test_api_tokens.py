"""The "API tokens" page of an account: a token is shown once, stored only as a hash, authenticates the
API, and stops when revoked; another user's token is 404; the site's menu links to the page."""

import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone
from knox.crypto import hash_token

from api.models import Token
from tests.factories import make_project
from tests.test_api import api, assert_error

pytestmark = pytest.mark.django_db

URL = "/accounts/tokens/"


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()


def create(client, name="laptop", expires=""):
    response = client.post_form(URL, {"name": name, "expires": expires})
    assert response.status_code == 200
    return response


def key_in(response):
    found = re.search(r'value="([0-9a-f]{64})" id="token-key"', response.content.decode())
    assert found, "no key on the page"
    return found.group(1)


def test_the_page_is_where_the_menu_says(alice_client):
    assert reverse("api-token-list") == URL
    assert f'href="{URL}">API tokens</a>' in alice_client.get(reverse("home")).content.decode()


def test_a_new_token_is_shown_once_and_stored_only_as_its_hash(alice_client, alice):
    response = create(alice_client)
    key = key_in(response)
    assert "it is shown only this once" in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    token = Token.objects.get()
    assert (token.name, token.user, token.expiry) == ("laptop", alice, None)
    assert token.digest == hash_token(key)
    stored = " ".join(str(value) for value in Token.objects.values_list().get())
    assert key not in stored  # the first characters are kept to find it (knox's token_key), never the whole
    page = alice_client.get(URL).content.decode()
    assert key not in page and "laptop" in page
    assert not any(key in str(m) for m in alice_client.session.values())


def test_a_token_made_on_the_page_opens_the_api_and_is_listed_with_its_use(alice_client, alice):
    make_project(alice)
    key = key_in(create(alice_client, "lab server", expires="30"))
    assert [p["name"] for p in api(key).get(reverse("api-project-list")).json()] == ["Austen"]
    token = Token.objects.get()
    assert timedelta(days=29, hours=23) < token.expiry - timezone.now() <= timedelta(days=30)
    row = re.search(r"<tr>\s*<td>lab server</td>.*?</tr>", alice_client.get(URL).content.decode(), re.S).group(0)
    assert token.expiry.strftime("%Y-%m-%d") in row
    assert row.count(timezone.now().strftime("%Y-%m-%d")) == 2  # created, and last used, today


def test_a_revoked_token_opens_nothing(alice_client):
    key = key_in(create(alice_client))
    token = Token.objects.get()
    response = alice_client.post_form(reverse("api-revoke-token", args=[token.public_id]), {}, form_url=URL, follow=True)
    assert "Token “laptop” revoked: scripts that use it are refused from now on." in response.content.decode()
    assert not Token.objects.exists()
    assert_error(api(key).get(reverse("api-project-list")), 401, "invalid_token")


def test_an_expired_token_is_marked_on_the_page(alice_client, alice):
    Token.objects.create(user=alice, name="old", expiry=timedelta(days=-1))
    assert '<span class="badge text-bg-secondary">expired</span>' in alice_client.get(URL).content.decode()


def test_another_users_token_cannot_be_revoked(alice, bob, csrf_client):
    token, _ = Token.objects.create(user=alice, name="alice's")
    csrf_client.force_login(bob)
    response = csrf_client.post_form(reverse("api-revoke-token", args=[token.public_id]), {}, form_url=URL)
    assert response.status_code == 404
    assert Token.objects.filter(pk=token.pk).exists()
    assert "alice's" not in csrf_client.get(URL).content.decode()


def test_the_pages_need_a_login_and_revoking_a_post(alice, alice_client, client):
    token, _ = Token.objects.create(user=alice, name="t")
    revoke = reverse("api-revoke-token", args=[token.public_id])
    assert client.get(URL)["Location"].startswith(reverse("accounts-login"))
    assert client.post(revoke)["Location"].startswith(reverse("accounts-login"))
    assert alice_client.get(revoke).status_code == 405
    assert Token.objects.filter(pk=token.pk).exists()


@pytest.mark.parametrize("name, message", [
    ("", "This field is required."),
    ("Laptop", "You already have a token with this name."),
    ("x" * 101, "Ensure this value has at most 100 characters (it has 101)."),
])
def test_a_token_needs_a_new_name(alice_client, alice, name, message):
    Token.objects.create(user=alice, name="laptop")
    response = alice_client.post_form(URL, {"name": name})
    assert message in response.content.decode()
    assert Token.objects.count() == 1
    assert 'id="token-key"' not in response.content.decode()
