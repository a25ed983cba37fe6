"""What a researcher sees of a run's outcomes: the run page, its status block, the results zip,
the project list; and that no page shows a traceback, an exception name or a server path.

Runs are built in the database with an output folder written by the test (no CLAM service).
"""

import csv
import io
import os
import re
import zipfile
from types import SimpleNamespace

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from pipelines.models import Run
from scripts import runner
from scripts.models import Process
from tests.factories import GRID, make_project, wav_bytes
from tests.test_outcomes import entry, fa_process, finish, report, unknown
from upload.services import Upload

pytestmark = pytest.mark.django_db

TRACEBACK = ('Traceback (most recent call last):\n  File "/srv/equestria/clamservices/aligner.py", line 212, in align\n'
             "    for segment in decoder.seg():\nTypeError: 'NoneType' object is not iterable\n")
SECRETS = ["Traceback", "TypeError", "/srv/equestria", "aligner.py", "NoneType"]


def mixed_run(owner, *, stage=None, dictionary=""):
    """A finished first pass over a, b (warnings), c (does not match) and d (unknown words), with a, b, c, d uploaded."""
    project = make_project(owner)
    upload = Upload(project)
    for stem in "abcd":
        upload.add(SimpleUploadedFile(f"{stem}.wav", wav_bytes()))
        upload.add(SimpleUploadedFile(f"{stem}.txt", b"ten of clubs"))
    body = report(
        entry("d.wav", status="not_aligned", code="no_match", reason="the transcript does not match the audio near 0.3 s"),
        entry("a.wav"),
        entry("b.wav", status="warnings", warnings=["“of” was not found in the audio"]),
        unknown("c.wav", ["zork"]),
    )
    process = fa_process(project, "abcd", {"a.TextGrid": GRID, "b.TextGrid": GRID, "report.json": body,
                                           "alignment.log": TRACEBACK})
    run = Run.objects.create(project=project, pipeline=project.pipeline, stage=Run.Stage.ALIGNING, fa_process=process,
                             dictionary=dictionary)
    finish(process)
    run.refresh_from_db()
    if stage:
        Run.objects.filter(pk=run.pk).update(stage=stage)
        run.refresh_from_db()
    return project, run


def page(client, url_name, project, run, **kwargs):
    response = client.get(reverse(url_name, kwargs={"project_id": project.pk, "run_id": run.pk, **kwargs}))
    assert response.status_code == 200
    return response.content.decode()


def test_the_run_page_lists_every_recording_with_its_outcome_and_results_in_name_order(alice, alice_client):
    project, run = mixed_run(alice)
    assert run.stage == Run.Stage.PROBLEMS
    html = page(alice_client, "pipelines-run", project, run)
    assert re.search(r'class="badge text-bg-warning">done with problems<', html)
    assert "2 of 4 recordings aligned (1 with warnings); 2 not aligned." in html
    rows = re.findall(r'<tr data-status="(\w+)">\s*<td class="text-break">([^<]+)<', html)
    assert rows == [("aligned", "a.wav"), ("warnings", "b.wav"), ("not_aligned", "c.wav"), ("not_aligned", "d.wav")]
    assert "the transcript does not match the audio near 0.3 s" in html
    assert "its transcript has words no dictionary knows: zork" in html
    assert "“of” was not found in the audio" in html
    for grid in ("a.TextGrid", "b.TextGrid"):
        assert reverse("pipelines-view-result", args=[project.pk, run.pk, grid]) in html
        assert reverse("pipelines-download-result", args=[project.pk, run.pk, grid]) in html
    assert reverse("pipelines-download-results", args=[project.pk, run.pk]) in html


def test_a_run_that_failed_with_a_traceback_shows_plain_words_only(alice, alice_client):
    project, run = mixed_run(alice)
    process = run.fa_process
    Process.objects.filter(pk=process.pk).update(
        status="failed", error="TypeError: 'NoneType' object is not iterable", detail=TRACEBACK,
        log=TRACEBACK, message="Failed: TypeError at /srv/equestria/clamservices/aligner.py",
    )
    Run.objects.filter(pk=run.pk).update(stage=Run.Stage.FAILED, error="TypeError: 'NoneType' object is not iterable")
    html = page(alice_client, "pipelines-run", project, run)
    assert "The alignment failed: the service stopped with an internal error" in html
    html += page(alice_client, "pipelines-run-status", project, run)
    html += alice_client.get(reverse("pipelines-project-runs", args=[project.pk])).content.decode()
    html += alice_client.get(project.get_absolute_url()).content.decode()
    for secret in SECRETS:
        assert secret not in html, secret


def test_the_status_block_of_an_active_run_has_the_current_state_of_each_step(alice, alice_client):
    project, run = mixed_run(alice)
    second = fa_process(project, "abcd", {}, status="running", folder="fa2")
    Process.objects.filter(pk=second.pk).update(completion=40, message=f"Aligning b.wav (2 of 4) {TRACEBACK}")
    Run.objects.filter(pk=run.pk).update(stage=Run.Stage.REALIGNING, realign_process=second, finished_at=None)
    html = page(alice_client, "pipelines-run-status", project, run)
    assert 'data-refresh-active="true"' in html
    assert 'aria-valuenow="40"' in html and 'data-width="40"' in html
    assert '<p class="small text-muted">running</p>' in html  # its status line had a traceback: left out
    assert "Alignment with your dictionary</dt><dd class=\"col-sm-9\">running (40 %)" in html
    assert "Forced alignment</dt><dd class=\"col-sm-9\">done," in html
    for secret in SECRETS:
        assert secret not in html, secret
    # The first pass's outcomes and results stay on the page until the second pass delivers.
    html = page(alice_client, "pipelines-run", project, run)
    assert reverse("pipelines-view-result", args=[project.pk, run.pk, "a.TextGrid"]) in html


def test_the_progress_bar_never_goes_back_while_a_job_runs(alice, monkeypatch):
    project = make_project(alice)
    process = Process.objects.create(script=project.pipeline.fa_script, output_folder="x", status="running", completion=50)
    status = {"code": "1", "completion": "0", "message": "Could not align b.wav"}
    monkeypatch.setattr(runner, "_connection", lambda process: None)
    monkeypatch.setattr(runner, "_status", lambda connection, process: (None, SimpleNamespace(get=status.get)))
    assert runner.step_poll(process) is False
    process.refresh_from_db()
    assert (process.completion, process.message) == (50, "Could not align b.wav")
    status["completion"] = "75"
    runner.step_poll(process)
    process.refresh_from_db()
    assert process.completion == 75


def test_the_results_zip_has_the_outputs_a_csv_report_and_the_dictionary(alice, alice_client):
    project, run = mixed_run(alice, dictionary="zork Z AO R K\n")
    # While the run waits for the review, run.dictionary holds proposals that nothing used yet.
    response = alice_client.get(reverse("pipelines-download-results", args=[project.pk, run.pk]))
    assert "dictionary.dict" not in zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist()
    Run.objects.filter(pk=run.pk).update(realign_process=run.fa_process)  # as if these were the realignment's
    response = alice_client.get(reverse("pipelines-download-results", args=[project.pk, run.pk]))
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = archive.namelist()
    assert names[:4] == ["a.TextGrid", "alignment.log", "b.TextGrid", "report.json"]
    assert set(names[4:]) == {"report.csv", "dictionary.dict", "all-intervals.csv"} | {
        f"{folder}/{stem}.{extension}" for folder, extension in (("ELAN", "eaf"), ("CSV", "csv"), ("JSON", "json"))
        for stem in "ab"}
    assert archive.read("dictionary.dict").decode() == "zork Z AO R K\n"
    rows = list(csv.DictReader(io.StringIO(archive.read("report.csv").decode("utf-8-sig"))))
    assert [(r["recording"], r["status"], r["textgrid"]) for r in rows] == [
        ("a.wav", "aligned", "a.TextGrid"), ("b.wav", "warnings", "b.TextGrid"),
        ("c.wav", "not_aligned", ""), ("d.wav", "not_aligned", ""),
    ]
    assert rows[1]["warnings"] == "“of” was not found in the audio"
    assert rows[3]["message"] == "the transcript does not match the audio near 0.3 s"
    assert rows[0]["transcript"] == "a.txt"


def test_a_run_without_a_dictionary_has_none_in_its_zip(alice, alice_client):
    project, run = mixed_run(alice)
    response = alice_client.get(reverse("pipelines-download-results", args=[project.pk, run.pk]))
    names = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist()
    assert "report.csv" in names and "dictionary.dict" not in names


def test_the_zip_is_offered_only_when_the_run_has_textgrids(alice, alice_client):
    _, mixed = mixed_run(alice)
    assert "Download all (zip)" in page(alice_client, "pipelines-run", mixed.project, mixed)
    project = make_project(alice, "Every recording failed", mixed.pipeline)
    upload = Upload(project)
    for stem in "ab":
        upload.add(SimpleUploadedFile(f"{stem}.wav", wav_bytes()))
        upload.add(SimpleUploadedFile(f"{stem}.txt", b"ten of clubs"))
    failed = [entry(f"{stem}.wav", status="not_aligned", code="no_match", reason="the transcript does not match")
              for stem in "ab"]
    process = fa_process(project, "ab", {"report.json": report(*failed), "alignment.log": "Aligned 0 of 2 recordings"})
    run = Run.objects.create(project=project, pipeline=project.pipeline, stage=Run.Stage.ALIGNING, fa_process=process)
    finish(process)
    run.refresh_from_db()
    html = page(alice_client, "pipelines-run", project, run)
    assert "0 of 2 recordings aligned" in html
    assert "Download all (zip)" not in html
    assert reverse("pipelines-download-results", args=[project.pk, run.pk]) not in html


def test_only_textgrids_are_viewed_and_one_that_does_not_parse_is_a_404(alice, alice_client):
    project, run = mixed_run(alice)
    html = page(alice_client, "pipelines-view-result", project, run, name="a.TextGrid")
    assert "a.wav" in html
    assert alice_client.get(reverse("pipelines-view-result", args=[project.pk, run.pk, "report.json"])).status_code == 404
    with open(os.path.join(default_storage.path(run.fa_process.output_folder), "b.TextGrid"), "w") as f:
        f.write("not a TextGrid")
    assert alice_client.get(reverse("pipelines-view-result", args=[project.pk, run.pk, "b.TextGrid"])).status_code == 404
    # Still downloadable as it is.
    assert alice_client.get(reverse("pipelines-download-result", args=[project.pk, run.pk, "b.TextGrid"])).status_code == 200


def test_the_project_list_shows_the_latest_runs_state(alice, alice_client):
    project, run = mixed_run(alice)
    other = make_project(alice, "Emma", project.pipeline)
    html = alice_client.get(reverse("upload-project-list")).content.decode()
    link = reverse("pipelines-run", args=[project.pk, run.pk])
    assert re.search(rf'<a href="{link}"><span class="badge text-bg-warning">done with problems</span>\s*</a>', html)
    assert "none yet" in html and other.name in html


def test_deleting_a_file_asks_first_without_inline_script(alice, alice_client):
    project, _ = mixed_run(alice)
    html = alice_client.get(project.get_absolute_url()).content.decode()
    assert 'data-confirm="Delete a.wav? This cannot be undone."' in html
    assert "/static/js/confirm.js" in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)  # every script is a file
    assert " onsubmit=" not in html and " onclick=" not in html
