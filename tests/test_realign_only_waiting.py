"""After the review only the recordings that waited for it are aligned again, on the bundled services; every other
recording keeps its first-pass result, in every download and view built on it."""

import csv
import io
import json
import os
import re
import zipfile
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.urls import reverse
from praatio import textgrid

from pipelines import outcomes, results, services
from pipelines.models import RecordingOutcome, Run
from scripts.models import Process
from tests.helpers import DATA, work_until
from tests.test_pipeline_flow import _silent_wav
from tests.utterance_files import textgrid as utterance_grid
from upload.models import Project
from upload import services as upload_services
from upload.services import Upload

pytestmark = pytest.mark.django_db(transaction=True)

KEPT_RESULTS = ["austen-0870.wav", "cards-001.wav", "cards-3.wav"]  # aligned in the first pass
SENT = {"oov-equestria.wav", "oov-equestria.txt", "equestria.dict"}
FIELDS = ("status", "code", "message", "transcript", "textgrid", "unknown_words", "warnings", "to_check")


def _project(owner, pipeline, tmp_path):
    """Six recordings: three aligned at once (one with a warning, one with an utterance TextGrid as its transcript),
    one silent (not aligned), one with the unknown word "equestria" and one with the unknown "zorblax"."""
    project = Project.objects.create(owner=owner, name="several", pipeline=pipeline)
    upload = Upload(project)
    files = {
        "austen-0870.wav": (DATA / "austen-0870.wav").read_bytes(),
        "austen-0870.txt": (DATA / "austen-0870.txt").read_bytes(),
        "cards-001.wav": (DATA / "cards-001.wav").read_bytes(),
        "cards-001.TextGrid": utterance_grid({"speaker A": [(0.0, 1.09, "ten of clubs")]}, xmax=1.09),
        "cards-3.wav": (DATA / "cards-003.wav").read_bytes(),
        "cards-3.txt": "“7 of clubs”".encode(),
        "silent.wav": _silent_wav(tmp_path / "silent.wav"),
        "silent.txt": b"ten of clubs",
        "oov-equestria.wav": (DATA / "oov-equestria.wav").read_bytes(),
        "oov-equestria.txt": (DATA / "oov-equestria.txt").read_bytes(),
        "zorblax.wav": (DATA / "cards-002.wav").read_bytes(),
        "zorblax.txt": b"two of zorblax",
    }
    for name, content in files.items():
        upload.add(SimpleUploadedFile(name, content))
    assert all(o.saved for o in upload.outcomes), upload.outcomes
    return project


def _in_review(owner, pipeline, tmp_path):
    run = work_until(services.start_alignment(_project(owner, pipeline, tmp_path)), {Run.Stage.REVIEW, *Run.FINISHED})
    assert run.stage == Run.Stage.REVIEW, run.error
    assert sorted(run.oov_words) == ["equestria", "zorblax"]
    states = {o.recording: o.status for o in run.outcomes.all()}
    assert states == {"austen-0870.wav": "aligned", "cards-001.wav": "aligned", "cards-3.wav": "warnings",
                      "silent.wav": "not_aligned", "oov-equestria.wav": "waiting", "zorblax.wav": "waiting"}
    return run


def _review(run):
    """The proposed pronunciations of "equestria" only: "zorblax" is skipped, with its recording."""
    lines = [line for line in run.dictionary.splitlines() if line.split()[:1]
             and line.split()[0].split("(")[0].lower() == "equestria"]
    assert lines, run.dictionary
    return services.realign(run, "\n".join(lines) + "\n", skip_missing=True)


def _body(response):
    return b"".join(response.streaming_content) if response.streaming else response.content


def _snapshot(run):
    return {o.recording: {f: getattr(o, f) for f in FIELDS} for o in run.outcomes.all()}


def _first_pass_file(run, name):
    return Path(default_storage.path(run.fa_process.output_folder)) / name


def _kept_are_the_first_pass(run, before):
    """Every recording that was not sent again has its first-pass outcome, and its TextGrid is the first pass's file."""
    after = _snapshot(run)
    for recording in [*KEPT_RESULTS, "silent.wav"]:
        assert after[recording] == before[recording], recording
    folder = Path(default_storage.path(run.result_process.output_folder))
    for recording in KEPT_RESULTS:
        name = before[recording]["textgrid"]
        assert name in run.result_process.outputs
        assert os.path.samefile(folder / name, _first_pass_file(run, name))  # a hard link, not a copy


def test_only_the_recording_that_waited_is_aligned_again_and_every_download_keeps_the_others(
        alice, alice_client, english, tmp_path):
    run = _in_review(alice, english, tmp_path)
    before = _snapshot(run)
    first_report = {e["audio"]: e for e in json.loads(_first_pass_file(run, "report.json").read_text())["recordings"]}
    first_bytes = {r: _first_pass_file(run, before[r]["textgrid"]).read_bytes() for r in KEPT_RESULTS}

    run = _review(run)
    assert run.stage == Run.Stage.REALIGNING
    # What the service is given: the one recording that waited, its transcript and the dictionary.
    assert {i["name"] for i in run.realign_process.inputs} == SENT
    zorblax = run.outcomes.get(recording="zorblax.wav")
    assert (zorblax.status, zorblax.message) == ("not_aligned", "you skipped it (no pronunciation for “zorblax”)")
    status = alice_client.get(reverse("pipelines-run-status", args=[run.project_id, run.pk])).content.decode()
    assert ("Aligning 1 of the 6 recordings with your pronunciations, those that need them; 3 keep the result of "
            "the first alignment.") in status
    detail = alice_client.get(reverse("api-run-detail", args=[run.project_id, run.pk])).json()
    assert detail["realignment"].startswith("Aligning 1 of the 6 recordings")

    run = work_until(run, Run.FINISHED)
    assert run.stage == Run.Stage.PROBLEMS, run.error  # silent.wav and zorblax.wav were not aligned
    assert run.result_process == run.realign_process
    _kept_are_the_first_pass(run, before)
    equestria = run.outcomes.get(recording="oov-equestria.wav")
    assert equestria.status == "aligned" and equestria.to_check is not None
    folder = Path(default_storage.path(run.realign_process.output_folder))
    grid = textgrid.openTextgrid(str(folder / equestria.textgrid), includeEmptyIntervals=False)
    assert "equestria" in [e.label.lower() for e in grid.getTier("words").entries]
    # The service's own log speaks of the one recording it was given.
    log = (folder / "alignment.log").read_text()
    assert "oov-equestria" in log and "austen-0870" not in log and "cards-001" not in log

    # One report of every recording: the kept ones' entries are the first pass's.
    merged = json.loads((folder / "report.json").read_text())
    entries = {e["audio"]: e for e in merged["recordings"]}
    assert sorted(entries) == sorted(before)
    for recording in [*KEPT_RESULTS, "silent.wav"]:
        assert entries[recording] == first_report[recording] | {"kept_from_first_pass": recording in KEPT_RESULTS}
    # zorblax.wav waited and was skipped: its entry says what its outcome says, not the first pass's unknown words.
    assert entries["zorblax.wav"] == first_report["zorblax.wav"] | {
        "status": "not_aligned", "reason": "you skipped it (no pronunciation for “zorblax”)",
        "kept_from_first_pass": False}
    assert entries["oov-equestria.wav"]["status"] == "aligned"
    assert entries["oov-equestria.wav"]["kept_from_first_pass"] is False
    assert merged["kept_from_first_pass"] == sorted(KEPT_RESULTS)  # silent.wav and zorblax.wav have no result
    assert merged["summary"] == ("Aligned 4 of 6 recordings; 3 of them kept from the first alignment, 1 aligned again "
                                 "with the reviewed pronunciations")
    # The first pass's log, which tells how the kept results were made, is still there, next to the service's own.
    first_log = folder / "alignment-first-pass.log"
    assert "alignment-first-pass.log" in run.realign_process.outputs
    assert first_log.read_text() == _first_pass_file(run, "alignment.log").read_text()
    assert "austen-0870" in first_log.read_text()

    page = alice_client.get(reverse("pipelines-run", args=[run.project_id, run.pk])).content.decode()
    assert "1 of the 6 recordings was aligned with your pronunciations; 3 kept the result of the first " \
           "alignment." in page
    # Which kept it, on each row: the page's, report.csv's, the API's and report.json's marker agree.
    assert page.count("kept from the first alignment</span>") == len(KEPT_RESULTS)
    assert 'id="run-summary">4 of 6 recordings aligned (1 with warnings); 2 not aligned.' in page

    names = {r: run.outcomes.get(recording=r).textgrid for r in [*KEPT_RESULTS, "oov-equestria.wav"]}
    args = [run.project_id, run.pk]
    for recording, name in names.items():
        response = alice_client.get(reverse("pipelines-download-result", args=[*args, name]))
        assert response.status_code == 200 and _body(response) == (first_bytes.get(recording) or (folder / name).read_bytes())
        for format in ("eaf", "csv", "json"):
            response = alice_client.get(reverse("pipelines-export-result", args=[*args, format, name]))
            assert response.status_code == 200, (name, format)
        assert alice_client.get(reverse("pipelines-view-result", args=[*args, name])).status_code == 200
        assert alice_client.get(reverse("pipelines-edit-result", args=[*args, name])).status_code == 200
        api_result = reverse("api-result", args=[*args, name])
        for format in results.FORMATS:
            assert alice_client.get(api_result, {"format": format}).status_code == 200, (name, format)
    cards3 = _body(alice_client.get(reverse("pipelines-export-result", args=[*args, "json", names["cards-3.wav"]])))
    assert b"seven" in cards3.lower() or b"7" in cards3  # the kept result, with the word the first pass read

    response = alice_client.get(reverse("pipelines-download-results", args=args))
    archive = zipfile.ZipFile(io.BytesIO(_body(response)))
    listed = set(archive.namelist())
    for name in names.values():
        stem = name[: -len(".TextGrid")]
        assert {name, f"ELAN/{stem}.eaf", f"CSV/{stem}.csv", f"JSON/{stem}.json"} <= listed, name
    for recording in KEPT_RESULTS:
        assert archive.read(names[recording]) == first_bytes[recording]
    report_rows = archive.read("report.csv").decode("utf-8-sig").splitlines()
    assert len(report_rows) == 1 + 6 and "dictionary.dict" in listed
    table = list(csv.DictReader(io.StringIO("\n".join(report_rows))))
    assert sorted(r["recording"] for r in table if r["kept_from_first_alignment"] == "yes") == KEPT_RESULTS
    api_kept = alice_client.get(reverse("api-run-detail", args=args)).json()["outcomes"]
    assert sorted(o["recording"] for o in api_kept if o["kept_from_first_alignment"]) == KEPT_RESULTS
    assert {"alignment.log", "alignment-first-pass.log"} <= listed
    assert json.loads(archive.read("report.json"))["kept_from_first_pass"] == merged["kept_from_first_pass"]

    listed_api = alice_client.get(reverse("api-result-list", args=args)).json()
    assert sorted(item["name"] for item in listed_api["results"]) == sorted(names.values())
    assert alice_client.get(reverse("pipelines-download-words-to-check", args=args)).status_code == 200
    # The run's words to check include the kept results' (recorded in the first pass, not read again).
    assert {o.recording for o, _ in results.words_to_check(run, list(run.outcomes.all()))} == set(names)


def test_a_cancelled_realignment_keeps_the_first_pass(alice, english, tmp_path):
    run = _in_review(alice, english, tmp_path)
    before = _snapshot(run)
    run = _review(run)
    services.cancel(run)
    run.refresh_from_db()
    assert run.stage == Run.Stage.CANCELLED and run.result_process == run.fa_process
    after = _snapshot(run)
    for recording in [*KEPT_RESULTS, "silent.wav"]:
        assert after[recording] == before[recording], recording
    assert after["oov-equestria.wav"]["status"] == "not_aligned"
    assert after["oov-equestria.wav"]["message"] == services.CANCELLED
    assert outcomes.realignment(run) == ("The alignment of 1 recording with your pronunciations did not end; "
                                         "3 keep the result of the first alignment.")
    for recording in KEPT_RESULTS:
        assert results.result_path(run, before[recording]["textgrid"])


def test_a_realignment_that_fails_keeps_the_first_pass(alice, alice_client, english, tmp_path):
    run = _in_review(alice, english, tmp_path)
    before = _snapshot(run)
    run = _review(run)
    # A setting the service refuses (the language was removed from it since the first pass, say): the job fails.
    Process.objects.filter(pk=run.realign_process_id).update(
        parameters={**run.realign_process.parameters, "language": "xx-gone"})
    run = work_until(run, Run.FINISHED)
    assert run.stage == Run.Stage.FAILED and run.result_process == run.fa_process
    after = _snapshot(run)
    for recording in [*KEPT_RESULTS, "silent.wav"]:
        assert after[recording] == before[recording], recording
    assert after["oov-equestria.wav"]["status"] == "not_aligned"
    page = alice_client.get(reverse("pipelines-run", args=[run.project_id, run.pk])).content.decode()
    for recording in KEPT_RESULTS:
        name = before[recording]["textgrid"]
        assert reverse("pipelines-download-result", args=[run.project_id, run.pk, name]) in page
        response = alice_client.get(reverse("pipelines-download-result", args=[run.project_id, run.pk, name]))
        assert _body(response) == _first_pass_file(run, name).read_bytes()


def test_the_finishing_step_run_twice_gives_the_same_folder_report_and_outcomes(alice, english, tmp_path, monkeypatch):
    """A worker killed after the merge, before its transaction committed: the step runs again on a folder that has
    the links and the merged report already."""
    run = _in_review(alice, english, tmp_path)
    before = _snapshot(run)
    run = _review(run)
    at_realigning = _snapshot(run)
    own_outputs = {}
    merge = outcomes.merge_first_pass

    def recorded_merge(run, process):
        own_outputs.setdefault(process.pk, list(process.outputs))
        merge(run, process)

    monkeypatch.setattr(outcomes, "merge_first_pass", recorded_merge)
    run = work_until(run, Run.FINISHED)
    assert run.stage == Run.Stage.PROBLEMS, run.error
    first_outputs = sorted(run.realign_process.outputs)
    folder = Path(default_storage.path(run.realign_process.output_folder))
    first_report = (folder / "report.json").read_text()
    first_outcomes = _snapshot(run)

    # What the database holds again after the rollback; the disk keeps what the first attempt did.
    process = run.realign_process
    Process.objects.filter(pk=process.pk).update(outputs=own_outputs[process.pk])
    Run.objects.filter(pk=run.pk).update(stage=Run.Stage.REALIGNING, finished_at=None)
    run.outcomes.all().delete()
    RecordingOutcome.objects.bulk_create(RecordingOutcome(run=run, recording=r, **fields)
                                         for r, fields in at_realigning.items())
    process.refresh_from_db()
    with transaction.atomic():  # as scripts.runner._finish sends it
        services.on_process_finished(sender=Process, process=process)

    run.refresh_from_db()
    process.refresh_from_db()
    assert run.stage == Run.Stage.PROBLEMS
    assert sorted(process.outputs) == first_outputs and len(set(process.outputs)) == len(process.outputs)
    assert (folder / "report.json").read_text() == first_report
    assert _snapshot(run) == first_outcomes
    _kept_are_the_first_pass(run, before)


def test_odd_names_and_an_utterance_transcript_on_the_recording_that_waited(alice, alice_client, english):
    project = Project.objects.create(owner=alice, name="odd", pipeline=english)
    upload = Upload(project)
    files = {
        "Café dé Flore (take 2).wav": (DATA / "cards-001.wav").read_bytes(),
        "Café dé Flore (take 2).txt": (DATA / "cards-001.txt").read_bytes(),
        "CARDS.WAV": (DATA / "cards-002.wav").read_bytes(),
        "CARDS.txt": (DATA / "cards-002.txt").read_bytes(),
        "équestria – interview.wav": (DATA / "oov-equestria.wav").read_bytes(),
        "équestria – interview.TextGrid": utterance_grid(
            {"Ann": [(0.0, 2.65, "the equestria pipeline aligns speech")]}, xmax=2.65),
    }
    for name, content in files.items():
        upload.add(SimpleUploadedFile(name, content))
    assert all(o.saved for o in upload.outcomes), upload.outcomes
    run = work_until(services.start_alignment(project), {Run.Stage.REVIEW, *Run.FINISHED})
    assert run.stage == Run.Stage.REVIEW, run.error
    before = _snapshot(run)
    assert before["équestria – interview.wav"]["status"] == "waiting"

    run = services.realign(run, run.dictionary)
    assert {i["name"] for i in run.realign_process.inputs} == {
        "équestria – interview.wav", "équestria – interview.TextGrid", "equestria.dict"}
    run = work_until(run, Run.FINISHED)
    assert run.stage == Run.Stage.DONE, run.error
    after = _snapshot(run)
    folder = Path(default_storage.path(run.result_process.output_folder))
    for recording in ("Café dé Flore (take 2).wav", "CARDS.WAV"):
        assert after[recording] == before[recording]
        name = after[recording]["textgrid"]
        assert os.path.samefile(folder / name, _first_pass_file(run, name))
    waited = after["équestria – interview.wav"]
    assert waited["status"] == "aligned" and waited["textgrid"] == "équestria – interview.TextGrid"
    grid = textgrid.openTextgrid(str(folder / waited["textgrid"]), includeEmptyIntervals=False)
    assert "equestria" in [e.label.lower() for e in grid.getTier("Ann - words").entries]
    response = alice_client.get(reverse("pipelines-download-results", args=[run.project_id, run.pk]))
    listed = set(zipfile.ZipFile(io.BytesIO(_body(response))).namelist())
    assert {after[r]["textgrid"] for r in after} <= listed
    assert {f"ELAN/{Path(after[r]['textgrid']).stem}.eaf" for r in after} <= listed


def test_the_merged_report_never_says_more_recordings_were_kept_than_were_aligned(alice, english, tmp_path):
    run = work_until(_review(_in_review(alice, english, tmp_path)), Run.FINISHED)
    merged = json.loads((Path(default_storage.path(run.realign_process.output_folder)) / "report.json").read_text())
    # 4 aligned: 3 kept results and oov-equestria.wav aligned again; silent.wav and zorblax.wav were not aligned.
    found = re.match(r"Aligned (\d+) of (\d+) recordings; (\d+) of them kept", merged["summary"])
    assert found, merged["summary"]
    aligned, _, kept = map(int, found.groups())
    assert kept <= aligned and kept == 3, merged["summary"]


def test_a_transcript_whose_recording_was_deleted_during_the_review_is_not_sent_alone(alice, english, tmp_path):
    run = _in_review(alice, english, tmp_path)
    before = set(run.outcomes.values_list("recording", flat=True))
    upload_services.delete_file(run.project.files.get(name="oov-equestria.wav"))  # its transcript stays
    run = _review(run)
    if run.realign_process is not None:
        assert "oov-equestria.txt" not in {i["name"] for i in run.realign_process.inputs}
        run = work_until(run, Run.FINISHED)
    equestria = run.outcomes.get(recording="oov-equestria.wav")
    said = "its recording oov-equestria.wav was deleted during the review, so it was not aligned"
    assert (equestria.status, equestria.message) == ("not_aligned", said)
    assert set(run.outcomes.values_list("recording", flat=True)) == before  # no row for the transcript alone
    # The merged report agrees with the outcome, not the first pass's "unknown words".
    merged = json.loads((Path(default_storage.path(run.result_process.output_folder)) / "report.json").read_text())
    entry = next(e for e in merged["recordings"] if e["audio"] == "oov-equestria.wav")
    assert (entry["status"], entry["code"], entry["reason"]) == ("not_aligned", "deleted_in_review", said)


def test_a_merge_that_fails_once_is_retried_with_the_realignment_run_again(alice, english, tmp_path, monkeypatch):
    """The merge runs after the service's job was deleted: the runner's retry runs that job again (merge_first_pass's
    docstring), and the run ends as if nothing had happened."""
    run = _in_review(alice, english, tmp_path)
    before = _snapshot(run)
    run = _review(run)
    merge, calls = outcomes.merge_first_pass, []

    def fails_once(run, process):
        calls.append(process.pk)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        merge(run, process)

    monkeypatch.setattr(outcomes, "merge_first_pass", fails_once)
    run = work_until(run, Run.FINISHED)
    assert len(calls) == 2 and run.stage == Run.Stage.PROBLEMS, run.error
    assert run.result_process == run.realign_process
    assert "service answered 404" in run.realign_process.log  # the job was run again, as the docstring says
    _kept_are_the_first_pass(run, before)
    assert run.outcomes.get(recording="oov-equestria.wav").status == "aligned"
    merged = json.loads((Path(default_storage.path(run.realign_process.output_folder)) / "report.json").read_text())
    assert merged["kept_from_first_pass"] == sorted(KEPT_RESULTS)
    assert "alignment-first-pass.log" in run.realign_process.outputs


def test_the_researchers_case_a_recording_whose_audio_alone_was_deleted_during_the_review(alice, alice_client, english):
    """a1–a4, a2 and a3 with unknown words; only a2.wav deleted during the review, which is then accepted."""
    project = Project.objects.create(owner=alice, name="a1 to a4", pipeline=english)
    upload = Upload(project)
    for name, content in {"a1.wav": (DATA / "austen-0870.wav").read_bytes(),
                          "a1.txt": (DATA / "austen-0870.txt").read_bytes(),
                          "a2.wav": (DATA / "cards-002.wav").read_bytes(), "a2.txt": b"two of zorblax",
                          "a3.wav": (DATA / "oov-equestria.wav").read_bytes(),
                          "a3.txt": (DATA / "oov-equestria.txt").read_bytes(),
                          "a4.wav": (DATA / "cards-001.wav").read_bytes(), "a4.txt": b"ten of clubs"}.items():
        upload.add(SimpleUploadedFile(name, content))
    run = work_until(services.start_alignment(project), {Run.Stage.REVIEW, *Run.FINISHED})
    assert run.stage == Run.Stage.REVIEW, run.error
    upload_services.delete_file(project.files.get(name="a2.wav"))
    run = work_until(services.realign(run, run.dictionary), Run.FINISHED)
    said = "its recording a2.wav was deleted during the review, so it was not aligned"
    a2 = run.outcomes.get(recording="a2.wav")
    assert (a2.status, a2.code, a2.message) == ("not_aligned", "deleted_in_review", said)
    assert outcomes.realignment(run) == ("1 of the 4 recordings was aligned with your pronunciations; 2 kept the "
                                         "result of the first alignment.")
    folder = Path(default_storage.path(run.result_process.output_folder))
    entries = {e["audio"]: e for e in json.loads((folder / "report.json").read_text())["recordings"]}
    assert (entries["a2.wav"]["status"], entries["a2.wav"]["code"], entries["a2.wav"]["reason"]) == (
        "not_aligned", "deleted_in_review", said)
    assert {a for a, e in entries.items() if e["kept_from_first_pass"]} == {"a1.wav", "a4.wav"}
    response = alice_client.get(reverse("pipelines-download-results", args=[run.project_id, run.pk]))
    table = list(csv.DictReader(io.StringIO(zipfile.ZipFile(io.BytesIO(_body(response))).read("report.csv")
                                            .decode("utf-8-sig"))))
    rows = {r["recording"]: r for r in table}
    assert rows["a2.wav"]["message"] == said
    assert {r for r, row in rows.items() if row["kept_from_first_alignment"] == "yes"} == {"a1.wav", "a4.wav"}
