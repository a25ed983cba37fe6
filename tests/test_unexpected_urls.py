"""No URL of the site answers 500 (or shows a traceback) to unexpected names and ids.

The URL configuration is walked, as in test_access_control.py, so a new view
is covered without being listed. Each parameter of each URL gets malformed,
nonexistent and other users' ids, very long strings, and names with %, an
encoded slash, .., unicode, NUL and broken percent-encoding, with the other
parameters valid; each URL is requested with GET and POST (with odd form data),
anonymously and logged in (as a researcher, and as staff for the admin).
"""

import re
import uuid

import pytest
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from api.models import Token
from tests.conftest import make_user
from tests.factories import make_project
# The fixture of Alice's project with a file and a finished run, shared with the access-control tests.

pytestmark = pytest.mark.django_db

_ROUTE_PARAMETER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")
_REGEX_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>[^)]*\)")
# Words that only a traceback or Django's debug page would show.
_LEAKS = re.compile(r"Traceback|\b[A-Z]\w*(?:Error|Exception)\b|site-packages|File \"")


def routes(patterns=None, prefix=""):
    """(route template with {name} placeholders, url name) of every URL pattern of the site."""
    for p in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(p, URLResolver):
            yield from routes(p.url_patterns, prefix + _template(str(p.pattern)))
        elif isinstance(p, URLPattern):
            yield prefix + _template(str(p.pattern)), p.name or p.lookup_str


def _template(pattern):
    template = _REGEX_GROUP.sub(r"{\g<name>}", pattern).removeprefix("^").removesuffix("$")
    template = _ROUTE_PARAMETER.sub(r"{\g<name>}", template)
    assert not set(template) & set("^$()[]*+?\\|"), f"a URL pattern this test cannot fill in: {pattern}"
    return template


ROUTES = sorted(set(routes()))

# Path segments as they travel on the wire (already percent-encoded where needed).
UNEXPECTED = [
    "not-a-uuid", "00000000-0000-0000-0000-00000000000", "00000000-0000-0000-0000-0000000000000",
    "AAAAAAAA-AAAA-AAAA-AAAA-AAAAAAAAAAAA", str(uuid.uuid4()), "a" * 3000, "%25", "%2F", "a%2Fb", "..", "%2E%2E",
    "..%2F..%2Fetc%2Fpasswd", "%C3%BCn%C3%AFcode-%E5%90%8D", "%00", "a%00b", "a.TextGrid%00", "%ZZ", "%C0%AF", "%FF",
    "%20", "x.TextGrid", "x.txt", "-1", "0", "99999999999999999999999", "%27%20OR%201%3D1%20--", "%3Cscript%3E",
]
ODD_FORM = {
    "name": "x" * 5000, "pipeline": "not-a-number", "dictionary": "word\x00 AH\n" * 10, "skip_missing": "on",
    "username": "a%00b", "password": "p" * 5000, "email": "not-an-address", "new_password1": "x",
    "new_password2": "y", "old_password": "\x00", "replace": "on", "only_complete_pairs": "yes", "action": "delete_selected",
    "_selected_action": "not-an-id", "q": "%", "term": "\x00", "app_label": "upload", "model_name": "project",
    "field_name": "name",
}


def valid_values(project, f, run):
    """A working value for each URL parameter of the site, so that one parameter at a time is varied."""
    return {
        "project_id": str(project.pk), "run_id": str(run.pk), "file_id": str(f.pk), "name": "a.TextGrid", "format": "eaf",
        "uidb64": "MQ", "token": "set-password", "number": "1", "app_label": "pipelines", "object_id": "1",
        "content_type_id": "1", "id": "1", "url": "nothing-here/", "rest": "1/change/",
        "token_id": str(Token.objects.create(user=project.owner, name="t")[0].public_id),
    }


def clients(route, alice, staff):
    anonymous = Client(raise_request_exception=False)
    logged_in = Client(raise_request_exception=False)
    logged_in.force_login(staff if route.startswith("admin/") else alice)
    return {"anonymous": anonymous, "logged in": logged_in}


def check(response, url, who, method):
    where = f"{method} {url[:200]} ({who})"
    assert response.status_code != 500, where
    body = b"".join(response.streaming_content) if response.streaming else response.content
    text = body.decode("utf-8", errors="replace")
    if response.get("Content-Type", "").startswith("text/html"):
        assert not _LEAKS.search(text), f"{where}: {_LEAKS.search(text).group(0)}"
        assert str(settings.BASE_DIR) not in text, where


@pytest.mark.parametrize("route, name", ROUTES, ids=[r for r, _ in ROUTES])
def test_no_url_answers_500_to_unexpected_names_and_ids(route, name, owned, alice, bob):
    project, f, run = owned
    staff = make_user("staff", superuser=True)
    bobs = make_project(bob, "Bob's", project.pipeline)
    values = valid_values(project, f, run)
    parameters = re.findall(r"{(\w+)}", route)
    urls = ["/" + route.format(**values)]
    for parameter in parameters:
        for value in UNEXPECTED + [str(bobs.pk)]:
            urls.append("/" + route.format(**{**values, parameter: value}))
    for who, client in clients(route, alice, staff).items():
        for url in urls:
            check(client.get(url), url, who, "GET")
            check(client.post(url, ODD_FORM), url, who, "POST")


@pytest.mark.parametrize("selected", ["not-an-id", "99999999999999999999999", "1.5", "00000000-0000-0000-0000-000000000000"])
def test_an_admin_action_on_ids_that_are_not_ids_changes_nothing_and_says_so(admin_user, selected):
    client = Client()
    client.force_login(admin_user)
    response = client.post("/admin/accounts/user/", {"action": "delete_selected", "_selected_action": [selected]},
                           follow=True)
    assert response.status_code == 200
    assert "The selected items do not exist (any more). No items have been changed." in response.content.decode()
    assert admin_user.__class__.objects.filter(pk=admin_user.pk).exists()
