"""A project's pages moved from /upload/<id>/… to /projects/<id>/… (issue 15): the old URLs still lead there."""

import pytest
from django.urls import reverse

from upload.models import ProjectFile

pytestmark = pytest.mark.django_db


def old_and_new_urls(project, f):
    return [
        (f"/upload/{project.pk}/", reverse("upload-project", args=[project.pk])),
        (f"/upload/{project.pk}/files/", reverse("upload-add-files", args=[project.pk])),
        (f"/upload/{project.pk}/files/{f.pk}/delete/", reverse("upload-delete-file", args=[project.pk, f.pk])),
        (f"/upload/{project.pk}/files/{f.pk}/download/", reverse("upload-download-file", args=[project.pk, f.pk])),
    ]


def test_every_page_of_a_project_is_under_projects(owned):
    project, f, run = owned
    assert [new for _, new in old_and_new_urls(project, f)] == [
        f"/projects/{project.pk}/",
        f"/projects/{project.pk}/files/",
        f"/projects/{project.pk}/files/{f.pk}/delete/",
        f"/projects/{project.pk}/files/{f.pk}/download/",
    ]
    assert project.get_absolute_url() == f"/projects/{project.pk}/"


def test_the_old_urls_redirect_permanently_with_their_query_string(client, owned):
    project, f, run = owned
    for old, new in old_and_new_urls(project, f):
        for method in ("get", "head"):
            response = getattr(client, method)(old + "?page=2&name=%C3%A9t%C3%A9")
            assert (response.status_code, response["Location"]) == (301, new + "?page=2&name=%C3%A9t%C3%A9"), old
        response = client.get(old)
        assert (response.status_code, response["Location"]) == (301, new), old


def test_a_form_posted_to_an_old_url_is_sent_on_with_its_method_and_data(alice_client, owned):
    """308, not 301: a browser turns a POST into a GET after a 301, and the new URL takes only POST."""
    project, f, run = owned
    old = f"/upload/{project.pk}/files/{f.pk}/delete/"
    token = alice_client.csrf_token(project.get_absolute_url())
    response = alice_client.post(old, {"csrfmiddlewaretoken": token})
    assert (response.status_code, response["Location"]) == (308, reverse("upload-delete-file", args=[project.pk, f.pk]))
    assert ProjectFile.objects.filter(pk=f.pk).exists()  # the redirect itself changes nothing
    response = alice_client.post(old, {"csrfmiddlewaretoken": token}, follow=True)
    assert not ProjectFile.objects.filter(pk=f.pk).exists()
    assert "a.txt deleted." in [str(m) for m in response.context["messages"]]


def test_the_old_urls_of_another_users_project_lead_to_404(bob, owned):
    from tests.conftest import CsrfClient

    project, f, run = owned
    intruder = CsrfClient()
    intruder.force_login(bob)
    token = intruder.csrf_token(reverse("accounts-password-change"))
    for old, new in old_and_new_urls(project, f):
        assert intruder.get(old, follow=True).status_code == (405 if new.endswith(("/files/", "/delete/")) else 404)
        assert intruder.post(old, {"csrfmiddlewaretoken": token}, follow=True).status_code == 404, old
    assert ProjectFile.objects.filter(pk=f.pk).exists()
