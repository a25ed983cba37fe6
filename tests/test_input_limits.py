"""Limits on text a researcher sends (transcripts, dictionaries, parameters), and results that cannot be drawn.

Each limit is a setting (docs/operators/settings.md) and its refusal a message
that says what to do, never a bare 400 or a 500 page.
"""

import os

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from pipelines.models import Run
from tests.factories import GRID, make_project

pytestmark = pytest.mark.django_db


def upload(client, project, *files):
    data = {"files": [SimpleUploadedFile(name, content) for name, content in files]}
    response = client.post_form(
        reverse("upload-add-files", args=[project.pk]), data, form_url=project.get_absolute_url(), follow=True
    )
    return [str(m) for m in response.context["messages"]]


def test_a_transcript_over_the_limit_is_refused_and_the_others_kept(alice, alice_client):
    project = make_project(alice)
    found = upload(alice_client, project, ("long.txt", b"ten of clubs\n" * 81_000), ("short.txt", b"ten of clubs"))
    assert ("long.txt: the transcript is larger than the limit of 1.0 MB (a two-hour recording has about 100 KB of "
            "text); is this the right file? Cut long recordings and their transcripts into parts") in found
    assert list(project.files.values_list("name", flat=True)) == ["short.txt"]


def test_an_uploaded_dictionary_over_the_limit_is_refused(alice, alice_client, settings):
    settings.UPLOAD_MAX_DICTIONARY_BYTES = 1024
    project = make_project(alice)
    found = upload(alice_client, project, ("extra.dict", b"clubs K L AH B Z\n" * 100))
    assert found == ["extra.dict: the dictionary is larger than the limit of 1.0 KB; keep only the words your "
                     "transcripts need"]
    assert not project.files.exists()


TOO_LARGE = "The dictionary is larger than 1.0 MB; keep only the lines for the words of this run (the aligner already knows all other words)."


def review_url(run):
    return reverse("pipelines-review", args=[run.project.pk, run.pk])


def test_a_reviewed_dictionary_over_the_limit_is_refused_on_the_form_with_the_text_kept(alice_client, owned):
    project, f, run = owned
    text = "clubs K L AH1 B Z\n" * 60_000  # 1.08 MB
    response = alice_client.post_form(review_url(run), {"dictionary": text})
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [TOO_LARGE]
    assert response.context["form"]["dictionary"].value() == text
    assert TOO_LARGE in response.content.decode()
    run.refresh_from_db()
    assert (run.stage, run.dictionary) == (Run.Stage.REVIEW, "a AH\n")


def test_a_reviewed_dictionary_of_several_megabytes_gets_the_message_not_a_bare_400(alice_client, owned):
    project, f, run = owned
    text = "clubs K L AH1 B Z\n" * 300_000  # 5.4 MB, beyond what Django parses
    response = alice_client.post_form(review_url(run), {"dictionary": text}, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain == [(review_url(run), 302)]
    assert [str(m) for m in response.context["messages"]] == [f"{TOO_LARGE} Nothing was aligned yet."]
    run.refresh_from_db()
    assert (run.stage, run.dictionary) == (Run.Stage.REVIEW, "a AH\n")


def test_any_other_form_too_large_to_read_gets_a_message(alice_client):
    response = alice_client.post_form(reverse("upload-create-project"), {"name": "x" * 5_000_000}, follow=True)
    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == [
        "What you sent is larger than this form takes; nothing was saved. Send less text at once."]


def test_a_text_parameter_over_the_limit_is_refused_with_a_message(alice, alice_client, settings):
    from scripts.models import BaseParameter, TextParameter

    settings.PARAMETER_MAX_CHARACTERS = 100
    project = make_project(alice)
    TextParameter.objects.create(script=project.pipeline.fa_script, clam_id="notes", name="Notes",
                                 type=BaseParameter.Type.TEXT)
    response = alice_client.post_form(reverse("pipelines-start-run", args=[project.pk]), {"notes": "x" * 101},
                                      form_url=project.get_absolute_url(), follow=True)
    assert [str(m) for m in response.context["messages"]] == [
        "Notes: Ensure this value has at most 100 characters (it has 101)."]
    assert not project.runs.exists()


# Results that cannot be drawn


def _write_result(run, name, content):
    folder = default_storage.path(run.fa_process.output_folder)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(content)
    run.fa_process.outputs = [*run.fa_process.outputs, name]
    run.fa_process.save(update_fields=["outputs"])


def test_the_view_of_a_result_that_is_not_a_textgrid_is_404(alice_client, owned):
    project, f, run = owned
    _write_result(run, "a.log", b"the service's log\n")
    url = reverse("pipelines-view-result", args=[project.pk, run.pk, "a.log"])
    assert alice_client.get(url).status_code == 404
    download = reverse("pipelines-download-result", args=[project.pk, run.pk, "a.log"])
    assert alice_client.get(download).status_code == 200


@pytest.mark.parametrize(
    "content",
    [b"", b"\xff\xfe\x00garbage", "not a textgrid at all".encode(), GRID[:200].encode(), GRID.encode("utf-16")[:-4],
     GRID.replace("xmax = 0.5", "xmax = -1").encode(), GRID.replace("size = 1", "size = 7").encode(),
     GRID.replace('text = "a"', 'text = "\x00"').encode("latin-1")],
    ids=["empty", "binary", "text", "cut", "utf-16-cut", "negative", "wrong-size", "nul"],
)
def test_the_view_of_a_damaged_textgrid_is_404_not_500(owned, alice, content):
    project, f, run = owned
    with open(os.path.join(default_storage.path(run.fa_process.output_folder), "a.TextGrid"), "wb") as grid:
        grid.write(content)
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    response = client.get(reverse("pipelines-view-result", args=[project.pk, run.pk, "a.TextGrid"]))
    assert response.status_code in (200, 404)
