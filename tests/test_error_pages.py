"""Error pages in the site's layout: plain words and a way back, never the exception; the favicon;
the admin's plural of Process."""

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import include, path, reverse

from pipelines.models import Run
from scripts.models import Process, Script
from tests.test_csp import assert_policy
from tests.test_run_pages import mixed_run

pytestmark = pytest.mark.django_db

NOT_FOUND = ("There is nothing at this address, or it belongs to a project that is not yours (or that was deleted). "
             "Check the address, or start again from your projects.")
BACK = '<a href="/projects/">Go to your projects</a>'


def _fail(request):
    raise RuntimeError("a bug in /srv/equestria/secret.py")


def _refuse(request):
    raise PermissionDenied("PermissionDenied: internal reason")


# The URL configuration of the tests of the 500 and 403 pages: the site plus views that fail.
urlpatterns = [path("fail/", _fail), path("refuse/", _refuse), path("", include("equestria.urls"))]


def assert_site_page(response, status, text):
    assert_policy(response, status)  # the Content-Security-Policy header stays
    html = response.content.decode()
    assert text in html and BACK in html
    assert '<a class="navbar-brand" href="/">Equestria</a>' in html  # the site's header
    for technical in ("Not Found", "The requested resource was not found on this server", "Resolver404",
                      "Http404", "PermissionDenied", "RuntimeError", "secret.py", "tried", "path"):
        assert technical not in html, technical
    return html


def test_another_users_project_an_unknown_address_and_a_missing_result_get_the_sites_404_page(alice, bob):
    project, run = mixed_run(alice)
    bobs = Client()
    bobs.force_login(bob)
    html = assert_site_page(bobs.get(project.get_absolute_url()), 404, NOT_FOUND)
    assert '<a class="nav-link" href="/projects/">Projects</a>' in html  # bob is still shown as logged in
    assert_site_page(bobs.get("/no/such/page/"), 404, NOT_FOUND)
    alices = Client()
    alices.force_login(alice)
    for name in ("nothing.TextGrid", "a.wav"):  # a result that is not there; one that is no TextGrid
        assert_site_page(alices.get(reverse("pipelines-view-result", args=[project.pk, run.pk, name])), 404, NOT_FOUND)
    assert_site_page(Client().get("/no/such/page/"), 404, NOT_FOUND)  # a visitor


def test_an_unexpected_error_gets_the_sites_500_page_without_the_exception(settings):
    settings.ROOT_URLCONF = __name__
    settings.DEBUG = False
    html = assert_site_page(Client(raise_request_exception=False).get("/fail/"), 500,
                            "The site hit an error it did not expect and could not finish what you asked.")
    assert "/static/css/equestria.css" in html and "/static/bootstrap/css/bootstrap.min.css" in html


def test_the_500_page_renders_without_a_request_or_database(django_assert_num_queries):
    from django.template import loader

    # As django.views.defaults.server_error renders it: no context, no request.
    with django_assert_num_queries(0):
        html = loader.get_template("500.html").render()
    assert "Something went wrong on our side" in html and BACK in html


def test_a_refused_page_gets_the_sites_403_page(settings, alice):
    settings.ROOT_URLCONF = __name__
    client = Client()
    client.force_login(alice)
    assert_site_page(client.get("/refuse/"), 403, "Your account does not have access to this page.")


def test_a_request_for_another_host_gets_the_sites_400_page():
    assert_site_page(Client().get("/", headers={"host": "evil.example.org"}), 400,
                     "The site could not make sense of what your browser sent")


def test_every_page_names_the_favicon_and_favicon_ico_leads_to_it(client):
    page = client.get(reverse("accounts-login")).content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
    response = client.get("/favicon.ico")
    assert (response.status_code, response["Location"]) == (302, "/static/favicon.svg")


def test_the_admin_calls_processes_processes(admin_user):
    script = Script.objects.create(name="FA", url="http://127.0.0.1:9/")
    Process.objects.create(script=script)
    client = Client()
    client.force_login(admin_user)
    page = client.get(reverse("admin:scripts_process_changelist")).content.decode()
    assert "Delete selected processes" in page and "processs" not in page.lower()
    assert Process._meta.verbose_name_plural == "processes"
    assert Run._meta.verbose_name_plural == "runs"
