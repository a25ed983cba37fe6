"""The Content-Security-Policy header (django-csp): on every kind of page, error pages included,
and never with inline script. That the pages keep to it is checked in Chromium (tests/browser/)."""

import re
import subprocess
import sys

import pytest
from django.test import Client
from django.urls import include, path, reverse

from pipelines.models import Run
from scripts.models import Script
from tests.helpers import ROOT, clean_env, manage
from tests.test_run_pages import mixed_run

pytestmark = pytest.mark.django_db

POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}


def _fail(request):
    raise RuntimeError("a bug")


# This module is the URL configuration of the test for the 500 page: the site plus a view that fails.
urlpatterns = [path("fail/", _fail), path("", include("equestria.urls"))]


def directives(header):
    """{"script-src": ["'self'"], …} from a Content-Security-Policy header."""
    parts = [part.split() for part in header.split(";") if part.strip()]
    return {name: values for name, *values in parts}


def assert_policy(response, status):
    assert response.status_code == status
    header = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in header and "unsafe-eval" not in header
    assert directives(header) == POLICY


def test_the_pages_of_a_researcher_have_the_policy(alice, alice_client):
    project, run = mixed_run(alice, stage=Run.Stage.REVIEW)
    for url in (
        reverse("home"),
        reverse("upload-project-list"),
        project.get_absolute_url(),
        reverse("pipelines-run", args=[project.pk, run.pk]),
        reverse("pipelines-run-status", args=[project.pk, run.pk]),
        reverse("pipelines-review", args=[project.pk, run.pk]),
        reverse("pipelines-view-result", args=[project.pk, run.pk, "a.TextGrid"]),
    ):
        assert_policy(alice_client.get(url), 200)


def test_the_pages_of_a_visitor_have_the_policy(client):
    for name in ("home", "accounts-login", "accounts-signup", "accounts-password-reset"):
        assert_policy(client.get(reverse(name)), 200)


def test_the_admin_pages_have_the_policy(admin_user):
    script = Script.objects.create(name="FA", url="http://127.0.0.1:9/")
    client = Client()
    assert_policy(client.get(reverse("admin:login")), 200)
    client.force_login(admin_user)
    for url in (reverse("admin:index"), reverse("admin:scripts_script_changelist"),
                reverse("admin:scripts_script_change", args=[script.pk])):
        assert_policy(client.get(url), 200)


def test_error_pages_have_the_policy(alice, bob, settings):
    project, run = mixed_run(alice)
    bobs = Client()
    bobs.force_login(bob)
    assert_policy(bobs.get(project.get_absolute_url()), 404)  # another user's project
    assert_policy(bobs.get("/no/such/page/"), 404)
    assert_policy(bobs.get(reverse("pipelines-cancel-run", args=[project.pk, run.pk])), 405)
    assert_policy(Client(enforce_csrf_checks=True).post(reverse("accounts-login"), {}), 403)  # no CSRF token
    assert_policy(Client().get("/", headers={"host": "evil.example.org"}), 400)
    settings.ROOT_URLCONF = __name__
    assert_policy(Client(raise_request_exception=False).get("/fail/"), 500)


def test_a_form_refused_by_the_csrf_check_gets_a_page_in_the_site_layout(alice, alice_client):
    """Django's own page has an inline stylesheet (refused by the policy) and speaks to developers."""
    token = alice_client.csrf_token(reverse("upload-create-project"))
    # A token from another session, as after logging in again in another tab.
    response = alice_client.post(reverse("upload-create-project"), {"name": "x", "csrfmiddlewaretoken": token[::-1]})
    assert_policy(response, 403)
    html = response.content.decode()
    assert "The page with the form was out of date, for example because you logged in or out in another tab. " \
           "Go back, reload the page and send the form again." in html
    assert '<a class="nav-link dropdown-toggle" href="#" id="user-menu"' in html  # alice is still shown as logged in
    assert "<style" not in html and "CSRF" not in html
    client = Client(enforce_csrf_checks=True)
    client.cookies.clear()
    response = client.post(reverse("accounts-login"), {"username": "alice", "password": "x"})
    assert_policy(response, 403)
    assert "Your browser did not send this site's cookie with the form. Allow cookies for this site" in \
        response.content.decode()
    # Over https, Django also wants to know which page the form came from.
    token = alice_client.csrf_token(reverse("upload-create-project"))
    response = alice_client.post(reverse("upload-create-project"), {"name": "x", "csrfmiddlewaretoken": token}, secure=True)
    assert_policy(response, 403)
    assert "Your browser did not say which page the form came from" in response.content.decode()


def test_no_template_has_inline_script_event_handlers_or_style():
    """The policy refuses these in the browser; finding them here names the file."""
    inline = re.compile(
        r"<script(?![^>]*\bsrc=)(?![^>]*application/json)"  # a script with a body (JSON data is allowed)
        r"|\son[a-z]+\s*="  # onclick=, onsubmit= …
        r"|\sstyle\s*=|<style"  # style attributes and elements
        r"|javascript:", re.IGNORECASE)
    found = [f"{path.relative_to(ROOT)}: {match.group(0).strip()}"
             for path in sorted((ROOT / "templates").rglob("*.html"))
             for match in inline.finditer(path.read_text(encoding="utf-8"))]
    assert found == []


PRINT_POLICY = """
import django
django.setup()
from csp.utils import build_policy
print(build_policy())
"""


def test_operators_can_have_violations_reported(tmp_path):
    env = {**clean_env(tmp_path, CSP_REPORT_URI="https://csp.example.org/report"), "DJANGO_SETTINGS_MODULE": "equestria.settings"}
    result = subprocess.run([sys.executable, "-c", PRINT_POLICY], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert directives(result.stdout.strip().splitlines()[-1]) == {**POLICY, "report-uri": ["https://csp.example.org/report"]}
    # django-csp's system check refuses settings named like its 3.x ones (CSP_REPORT_URI among them).
    check = manage(["check"], env)
    assert check.returncode == 0, check.stderr


def test_a_report_uri_that_would_change_the_policy_stops_start_up(tmp_path):
    env = clean_env(tmp_path, CSP_REPORT_URI="https://csp.example.org/report; script-src *")
    result = manage(["check"], env)
    assert result.returncode != 0
    assert "CSP_REPORT_URI must be one URL, without spaces, commas or semicolons" in result.stderr
