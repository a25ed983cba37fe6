"""Nobody but the owner sees, changes or downloads a project or its files.

The URL configuration is walked: every URL that takes an object id must be
listed here, so a new view cannot ship without these checks.
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.conftest import CsrfClient
from tests.factories import make_project
from upload.models import Project, ProjectFile

pytestmark = pytest.mark.django_db

# url name -> (methods that work for the owner, whether it changes something)
OBJECT_URLS = {
    "upload-project": ("GET", False),
    "upload-rename-project": ("GET", True),
    "upload-delete-project": ("GET", True),
    "upload-add-files": ("POST", True),
    "upload-delete-file": ("POST", True),
    "upload-download-file": ("GET", False),
}


def object_url_names(patterns=None, prefix=""):
    names = set()
    for p in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(p, URLResolver):
            names |= object_url_names(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern) and "<uuid:" in prefix + str(p.pattern) and p.name:
            names.add(p.name)
    return names


def test_every_url_with_an_object_id_is_covered_here():
    assert object_url_names() == set(OBJECT_URLS)


@pytest.fixture
def owned(alice):
    project = make_project(alice)
    client = CsrfClient()
    client.force_login(alice)
    client.post_form(
        reverse("upload-add-files", args=[project.pk]),
        {"files": [SimpleUploadedFile("a.txt", b"ten of clubs")]},
        form_url=project.get_absolute_url(),
    )
    return project, project.files.get()


def url_for(name, project, f):
    kwargs = {"project_id": project.pk}
    if name.endswith("-file"):
        kwargs["file_id"] = f.pk
    return reverse(name, kwargs=kwargs)


def state(project):
    return (
        list(Project.objects.values_list("pk", "name")),
        list(ProjectFile.objects.values_list("pk", "name")),
    )


@pytest.mark.parametrize("name", sorted(OBJECT_URLS))
def test_anonymous_users_are_sent_to_log_in(client, owned, name):
    url = url_for(name, *owned)
    for method in ("get", "post"):
        response = getattr(client, method)(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts-login"))


@pytest.mark.parametrize("name", sorted(OBJECT_URLS))
def test_another_user_gets_404_and_changes_nothing(bob, owned, name):
    project, f = owned
    before = state(project)
    intruder = CsrfClient()
    intruder.force_login(bob)
    url = url_for(name, project, f)
    token = intruder.csrf_token(reverse("accounts-password-change"))
    method, _ = OBJECT_URLS[name]
    if method == "GET":
        assert intruder.get(url).status_code == 404
    data = {"csrfmiddlewaretoken": token, "name": "stolen", "files": [SimpleUploadedFile("b.txt", b"x")]}
    assert intruder.post(url, data).status_code == 404
    assert state(project) == before


@pytest.mark.parametrize("name", sorted(n for n, (method, _) in OBJECT_URLS.items() if method == "POST"))
def test_post_only_urls_refuse_get(alice_client, owned, name):
    assert alice_client.get(url_for(name, *owned)).status_code == 405


def test_another_users_ids_in_own_urls_get_404(alice, bob, owned):
    # Bob's own project with Alice's file id.
    project, f = owned
    bobs = make_project(bob, "mine", project.pipeline)
    client = CsrfClient()
    client.force_login(bob)
    assert client.get(reverse("upload-download-file", args=[bobs.pk, f.pk])).status_code == 404
    token = client.csrf_token(bobs.get_absolute_url())
    assert client.post(reverse("upload-delete-file", args=[bobs.pk, f.pk]), {"csrfmiddlewaretoken": token}).status_code == 404
    assert ProjectFile.objects.filter(pk=f.pk).exists()


def test_posts_without_a_csrf_token_are_refused(alice, owned):
    project, f = owned
    client = CsrfClient()
    client.force_login(alice)
    for name in ("upload-add-files", "upload-delete-file", "upload-delete-project", "upload-rename-project"):
        assert client.post(url_for(name, project, f), {"name": "x"}).status_code == 403
    assert ProjectFile.objects.filter(pk=f.pk).exists()
