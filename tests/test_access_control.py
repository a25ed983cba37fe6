"""Nobody but the owner sees, changes or downloads a project or its files.

The URL configuration is walked: every URL that takes an object id must be
listed here, so a new view cannot ship without these checks.
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.conftest import CsrfClient
from pipelines.models import Run
from scripts.models import Process
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
    "pipelines-start-run": ("POST", True),
    "pipelines-project-runs": ("GET", False),
    "pipelines-run": ("GET", False),
    "pipelines-run-status": ("GET", False),
    "pipelines-review": ("GET", True),
    "pipelines-cancel-run": ("POST", True),
    "pipelines-download-results": ("GET", False),
    "pipelines-download-words-to-check": ("GET", False),
    "pipelines-download-result": ("GET", False),
    "pipelines-view-result": ("GET", False),
    "pipelines-view-text": ("GET", False),
    "pipelines-export-result": ("GET", False),
    "pipelines-edit-result": ("GET", False),
    "pipelines-result-audio": ("GET", False),
    "pipelines-result-peaks": ("GET", False),
    # Saves a new version; it answers the editor's script in JSON, not with a message: tests/test_editor.py.
    "pipelines-save-version": ("POST", False),
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
    # The API's and the tokens page's have tests of their own: tests/test_api.py (ENDPOINTS), test_api_tokens.py.
    from tests.test_api import ENDPOINTS

    elsewhere = {name for _, name, _ in ENDPOINTS} | {"api-revoke-token"}
    assert object_url_names() - elsewhere == set(OBJECT_URLS)


def url_for(name, project, f, run):
    kwargs = {"project_id": project.pk}
    if name.endswith("-file"):
        kwargs["file_id"] = f.pk
    if name.startswith("pipelines-") and name not in ("pipelines-start-run", "pipelines-project-runs"):
        kwargs["run_id"] = run.pk
    if name in ("pipelines-download-result", "pipelines-view-result", "pipelines-export-result", "pipelines-view-text",
                "pipelines-edit-result", "pipelines-result-audio", "pipelines-result-peaks", "pipelines-save-version"):
        kwargs["name"] = "a.TextGrid"
    if name == "pipelines-export-result":
        kwargs["format"] = "eaf"
    if name == "pipelines-result-peaks":  # a valid question, so that only the owner decides the answer
        return reverse(name, kwargs=kwargs) + "?start=0&end=0.1&columns=10"
    return reverse(name, kwargs=kwargs)


def state(project):
    return (
        list(Project.objects.values_list("pk", "name")),
        list(ProjectFile.objects.values_list("pk", "name")),
        list(Run.objects.values_list("pk", "stage")),
        list(Process.objects.values_list("pk", "status")),
    )


# url name of each URL that changes something -> (the owner's form data, what the change looks like:
# a reading of the database taken before and after, the reading expected after, the message shown)
OWNER_CHANGES = {
    "upload-rename-project": (
        {"name": "Persuasion"},
        lambda project, f, run: Project.objects.get(pk=project.pk).name, "Persuasion",
        "Project renamed to “Persuasion”.",
    ),
    "upload-delete-project": (
        {},
        lambda project, f, run: Project.objects.filter(pk=project.pk).exists(), False,
        "Project “Austen” and its 2 file(s) were deleted.",
    ),
    "upload-add-files": (
        {"files": [SimpleUploadedFile("b.txt", b"two of hearts")]},
        lambda project, f, run: sorted(project.files.values_list("name", flat=True)), ["a.txt", "a.wav", "b.txt"],
        "Added 1 file(s): b.txt",
    ),
    "upload-delete-file": (
        {},
        lambda project, f, run: sorted(project.files.values_list("name", flat=True)), ["a.wav"],
        "a.txt deleted.",
    ),
    "pipelines-start-run": (
        {},
        lambda project, f, run: project.runs.exclude(pk=run.pk).filter(stage="aligning").count(), 1,
        "Alignment started. This page follows its progress.",
    ),
    "pipelines-review": (
        {"dictionary": "a AH\n"},
        lambda project, f, run: Run.objects.get(pk=run.pk).stage, "realigning",
        # What is aligned, and why, is said under the run's status (outcomes.realignment), not in this message too.
        "Your review is saved.",
    ),
    "pipelines-cancel-run": (
        {},
        lambda project, f, run: Run.objects.get(pk=run.pk).stage, "cancelled",
        "The run was cancelled.",
    ),
}


def test_every_url_that_changes_something_says_what_it_changes():
    assert set(OWNER_CHANGES) == {name for name, (_, changes) in OBJECT_URLS.items() if changes}


@pytest.mark.parametrize("name", sorted(OBJECT_URLS))
def test_the_owner_can_use_every_url(alice_client, owned, name):
    method, changes = OBJECT_URLS[name]
    url = url_for(name, *owned)
    if method == "GET":
        assert alice_client.get(url).status_code == 200, url
    if changes:
        project, f, run = owned
        data, reading, expected, message = OWNER_CHANGES[name]
        assert reading(*owned) != expected
        response = alice_client.post_form(url, data, form_url=project.get_absolute_url(), follow=True)
        assert response.status_code == 200 and response.redirect_chain, url
        assert reading(*owned) == expected
        assert message in [str(m) for m in response.context["messages"]]


@pytest.mark.parametrize("name", sorted(OBJECT_URLS))
def test_anonymous_users_are_sent_to_log_in(client, owned, name):
    url = url_for(name, *owned)
    for method in ("get", "post"):
        response = getattr(client, method)(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts-login"))


@pytest.mark.parametrize("name", sorted(OBJECT_URLS))
def test_another_user_gets_404_and_changes_nothing(bob, owned, name):
    project, f, run = owned
    before = state(project)
    intruder = CsrfClient()
    intruder.force_login(bob)
    url = url_for(name, project, f, run)
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
    project, f, run = owned
    bobs = make_project(bob, "mine", project.pipeline)
    client = CsrfClient()
    client.force_login(bob)
    assert client.get(reverse("upload-download-file", args=[bobs.pk, f.pk])).status_code == 404
    token = client.csrf_token(bobs.get_absolute_url())
    assert client.post(reverse("upload-delete-file", args=[bobs.pk, f.pk]), {"csrfmiddlewaretoken": token}).status_code == 404
    assert ProjectFile.objects.filter(pk=f.pk).exists()
    assert client.get(reverse("pipelines-run", args=[bobs.pk, run.pk])).status_code == 404


def test_posts_without_a_csrf_token_are_refused(alice, owned):
    project, f, run = owned
    client = CsrfClient()
    client.force_login(alice)
    for name in ("upload-add-files", "upload-delete-file", "upload-delete-project", "upload-rename-project",
                 "pipelines-start-run", "pipelines-cancel-run", "pipelines-review"):
        assert client.post(url_for(name, project, f, run), {"name": "x"}).status_code == 403
    assert ProjectFile.objects.filter(pk=f.pk).exists()
