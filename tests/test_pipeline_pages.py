"""The researcher's pages of a run, through the test client, on the bundled services and the real task queue."""

import io
import zipfile

import pytest
from django.urls import reverse

from pipelines.models import Run
from tests.conftest import CsrfClient
from tests.helpers import DATA, work_until
from upload.models import Project

pytestmark = pytest.mark.django_db(transaction=True)


def test_start_review_align_again_and_see_results(alice, english):
    client = CsrfClient()
    client.force_login(alice)
    project = Project.objects.create(owner=alice, name="demo", pipeline=english)
    from django.core.files.uploadedfile import SimpleUploadedFile

    files = [SimpleUploadedFile(f"{s}.{e}", (DATA / f"{s}.{e}").read_bytes()) for s in ("cards-001", "oov-equestria") for e in ("wav", "txt")]
    client.post_form(reverse("upload-add-files", args=[project.pk]), {"files": files}, form_url=project.get_absolute_url())
    page = client.get(project.get_absolute_url()).content.decode()
    assert "Start alignment" in page and "TextGrid format" in page  # non-preset parameters as a form

    response = client.post_form(reverse("pipelines-start-run", args=[project.pk]), {"textgrid_format": "short", "phone_tier": "on"},
                                form_url=project.get_absolute_url())
    run = Run.objects.get()
    assert response["Location"] == reverse("pipelines-run", args=[project.pk, run.pk])
    assert run.parameters["textgrid_format"] == "short" and run.parameters["phone_tier"] == "True"

    # While it runs, uploads are refused with the reason.
    response = client.post_form(reverse("upload-add-files", args=[project.pk]), {"files": [SimpleUploadedFile("x.txt", b"x")]},
                                form_url=project.get_absolute_url(), follow=True)
    assert any("An alignment of this project is running" in str(m) for m in response.context["messages"])

    run = work_until(run, {Run.Stage.REVIEW, Run.Stage.FAILED})
    page = client.get(reverse("pipelines-run", args=[project.pk, run.pk])).content.decode()
    assert "Review the proposed pronunciations" in page
    assert "cards-001.TextGrid" in page  # first-pass results are there already

    review_url = reverse("pipelines-review", args=[project.pk, run.pk])
    page = client.get(review_url).content.decode()
    assert "equestria IH K W EH S T R IY AH" in page
    response = client.post_form(review_url, {"dictionary": "equestria IH K W EH S T R IY AH\nequestria Q\n"})
    assert "Line 2: “Q” is not a phone of this aligner" in response.content.decode()
    response = client.post_form(review_url, {"dictionary": "equestria IH K W EH S T R IY AH\n"})
    assert response.status_code == 302
    run = work_until(run, {Run.Stage.DONE, Run.Stage.FAILED})
    assert run.stage == Run.Stage.DONE, run.error

    page = client.get(reverse("pipelines-run", args=[project.pk, run.pk])).content.decode()
    assert "oov-equestria.TextGrid" in page and "Download all (zip)" in page
    picture = client.get(reverse("pipelines-view-result", args=[project.pk, run.pk, "oov-equestria.TextGrid"])).content.decode()
    assert "<svg" in picture and ">equestria</text>" in picture and 'data-tier="phones"' in picture
    response = client.get(reverse("pipelines-download-results", args=[project.pk, run.pk]))
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert {"cards-001.TextGrid", "oov-equestria.TextGrid"} <= set(archive.namelist())
    grid = archive.read("oov-equestria.TextGrid").decode()
    assert "intervals [1]:" not in grid  # the researcher's "short" format was used


def test_the_runs_fragment_asks_to_be_refreshed_only_while_a_run_is_active(alice):
    from scripts.models import Process
    from tests.factories import make_fa_pipeline

    client = CsrfClient()
    client.force_login(alice)
    project = Project.objects.create(owner=alice, name="p", pipeline=make_fa_pipeline())
    url = reverse("pipelines-project-runs", args=[project.pk])
    done = Process.objects.create(script=project.pipeline.fa_script, output_folder="x", status="done")
    Run.objects.create(project=project, pipeline=project.pipeline, stage="done", fa_process=done)
    assert 'data-refresh-active=""' in client.get(url).content.decode()
    running = Process.objects.create(script=project.pipeline.fa_script, output_folder="y", status="running")
    Run.objects.create(project=project, pipeline=project.pipeline, stage="aligning", fa_process=running)
    assert 'data-refresh-active="true"' in client.get(url).content.decode()
