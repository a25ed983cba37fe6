"""Each recording's outcome: reading report.json, the fallback without one, and how a run ends.

The FA processes here are rows with an output folder written by the test (no CLAM service), so
these tests do not depend on what the bundled service writes.
"""

import json
import os
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from pipelines import outcomes, services
from pipelines.models import RecordingOutcome, Run
from scripts.models import InputTemplate, OutputTemplate, Process, Profile, Script
from scripts.plainwords import GENERIC_FAILURE, looks_technical
from scripts.runner import _failure_reason
from tests.factories import make_fa_pipeline, make_project
from upload.models import Project

pytestmark = pytest.mark.django_db
Status = RecordingOutcome.Status
Stage = Run.Stage


def entry(audio, status="aligned", code="", reason="", textgrid="default", **extra):
    stem = audio.rsplit(".", 1)[0]
    if textgrid == "default":
        textgrid = f"{stem}.TextGrid" if status != "not_aligned" else None
    return {"audio": audio, "transcript": f"{stem}.txt", "status": status, "code": code, "reason": reason,
            "textgrid": textgrid, "unknown_words": [], "warnings": [], "words": 3, "words_aligned": 3,
            "duration": 1.5, **extra}


def report(*entries):
    return json.dumps({"format": "equestria-alignment-report", "version": 1, "recordings": list(entries)})


GRID = 'File type = "ooTextFile"\nObject class = "TextGrid"\n'


def fa_process(project, stems, outputs, *, status="done", folder="fa"):
    """A finished FA process of `project` with audio and transcript inputs and these output files."""
    inputs = [{"storage_name": f"{project.folder}/files/{s}.{ext}", "name": f"{s}.{ext}",
               "template": "audio" if ext == "wav" else "transcript"} for s in stems for ext in ("wav", "txt")]
    process = Process.objects.create(script=project.pipeline.fa_script, inputs=inputs, status=status,
                                     output_folder=f"{project.folder}/runs/t/{folder}", outputs=sorted(outputs))
    path = default_storage.path(process.output_folder)
    os.makedirs(path)
    for name, content in outputs.items():
        with open(os.path.join(path, name), "w", encoding="utf-8") as f:
            f.write(content)
    return process


def aligning_run(owner, stems, outputs, *, status="done", pipeline=None):
    project = make_project(owner, pipeline=pipeline)
    process = fa_process(project, stems, outputs, status=status)
    return Run.objects.create(project=project, pipeline=project.pipeline, stage=Stage.ALIGNING, fa_process=process)


def finish(process):
    """What the worker does when a process ends (scripts.runner._finish sends the signal)."""
    services.on_process_finished(sender=Process, process=process)


def states(run):
    return {o.recording: (o.status, o.code) for o in run.outcomes.all()}


# report.json


def test_a_report_gives_each_recording_its_outcome_and_a_run_with_a_failure_ends_with_problems(alice):
    body = report(
        entry("a.wav"),
        entry("b.wav", status="warnings", warnings=["“the” was not found in the audio"]),
        entry("c.wav", status="not_aligned", code="no_match", reason="the transcript does not match the audio near 2.1 s"),
    )
    run = aligning_run(alice, "abc", {"a.TextGrid": GRID, "b.TextGrid": GRID, "report.json": body})
    finish(run.fa_process)
    run.refresh_from_db()
    assert run.stage == Stage.PROBLEMS and run.finished_at
    assert states(run) == {"a.wav": (Status.ALIGNED, ""), "b.wav": (Status.WARNINGS, ""),
                           "c.wav": (Status.NOT_ALIGNED, "no_match")}
    b, c = run.outcomes.get(recording="b.wav"), run.outcomes.get(recording="c.wav")
    assert b.textgrid == "b.TextGrid" and b.warnings == ["“the” was not found in the audio"] and b.transcript == "b.txt"
    assert c.message == "the transcript does not match the audio near 2.1 s" and c.textgrid == ""


def test_a_run_where_every_recording_was_aligned_is_done(alice):
    run = aligning_run(alice, "ab", {"a.TextGrid": GRID, "b.TextGrid": GRID,
                                     "report.json": report(entry("a.wav"), entry("b.wav", status="warnings"))})
    finish(run.fa_process)
    run.refresh_from_db()
    assert run.stage == Stage.DONE and [o.status for o in run.outcomes.all()] == [Status.ALIGNED, Status.WARNINGS]


def test_a_run_that_ends_moves_its_project_to_the_top_of_the_list(alice):
    run = aligning_run(alice, "a", {"a.TextGrid": GRID})
    # An hour ago: the database's clock (Now()) and Python's may round the same instant differently.
    before = timezone.now() - timedelta(hours=1)
    Project.objects.filter(pk=run.project_id).update(updated_at=before)
    finish(run.fa_process)
    run.project.refresh_from_db()
    assert run.project.updated_at > before + timedelta(minutes=59)


def test_odd_entries_are_checked_one_by_one_and_forgotten_recordings_are_derived(alice):
    body = report(
        "not an entry", 42, None, {"audio": None, "transcript": None},
        entry("a.wav", textgrid="missing.TextGrid"),  # claims a result that was not delivered
        entry("../../etc/passwd.wav"),  # a path, not a name
        entry("b.wav", status="exploded", code="x" * 100, reason="Traceback (most recent call last):\n  File \"/srv/x.py\""),
        entry("b.wav"),  # twice: the first counts
        entry("d.wav", status="not_aligned", code="too_short", reason=""),
        {**entry("e.wav"), "warnings": "not a list", "unknown_words": {"no": 1}},
        {**entry("f.wav", status="warnings"), "warnings": ["ok", 3, None, "KeyError at /srv/app/aligner.py"]},
    )
    outputs = {"b.TextGrid": GRID, "c.TextGrid": GRID, "e.TextGrid": GRID, "f.TextGrid": GRID, "report.json": body}
    run = aligning_run(alice, "abcdef", outputs)
    finish(run.fa_process)
    run.refresh_from_db()
    got = {o.recording: o for o in run.outcomes.all()}
    assert set(got) == {"a.wav", "b.wav", "c.wav", "d.wav", "e.wav", "f.wav"}
    assert (got["a.wav"].status, got["a.wav"].code) == (Status.NOT_ALIGNED, "no_result")
    assert got["b.wav"].status == Status.NOT_ALIGNED and len(got["b.wav"].code) <= 40
    assert got["b.wav"].message == outcomes.REASONS["no_result"]  # the traceback is not shown
    assert (got["c.wav"].status, got["c.wav"].textgrid) == (Status.ALIGNED, "c.TextGrid")  # not in the report
    assert got["d.wav"].message == outcomes.REASONS["too_short"]
    assert (got["e.wav"].status, got["e.wav"].warnings, got["e.wav"].unknown_words) == (Status.ALIGNED, [], [])
    assert got["f.wav"].warnings == ["ok"]
    assert run.stage == Stage.PROBLEMS


@pytest.mark.parametrize("content", ["", "{not json", "[1, 2]", '{"recordings": "none"}', "\udcff", '{"recordings": null}',
                                     "[" * 100000])
def test_a_garbage_report_falls_back_to_the_textgrids(alice, content, caplog):
    run = aligning_run(alice, "ab", {"a.TextGrid": GRID, "report.json": content.encode("utf-8", "surrogateescape").decode("utf-8", "replace")})
    finish(run.fa_process)
    run.refresh_from_db()
    assert states(run) == {"a.wav": (Status.ALIGNED, ""), "b.wav": (Status.NOT_ALIGNED, "no_result")}
    assert run.stage == Stage.PROBLEMS
    assert "unusable" in caplog.text


def test_a_report_that_is_not_utf8_falls_back(alice):
    run = aligning_run(alice, "a", {"a.TextGrid": GRID, "report.json": ""})
    with open(os.path.join(default_storage.path(run.fa_process.output_folder), "report.json"), "wb") as f:
        f.write(b"\xff\xfe{\x00")
    finish(run.fa_process)
    assert states(run) == {"a.wav": (Status.ALIGNED, "")}


def test_an_unexpected_error_while_recording_outcomes_never_stops_the_run(alice, monkeypatch, caplog):
    run = aligning_run(alice, "ab", {"a.TextGrid": GRID, "report.json": report(entry("a.wav"))})
    monkeypatch.setattr(outcomes, "from_entry", lambda *a, **k: 1 / 0)
    finish(run.fa_process)
    run.refresh_from_db()
    assert states(run) == {"a.wav": (Status.ALIGNED, ""), "b.wav": (Status.NOT_ALIGNED, "no_result")}
    assert run.stage == Stage.PROBLEMS and "could not be recorded" in caplog.text


# Without a report (a third-party service)


def test_without_a_report_textgrids_say_which_recordings_were_aligned(alice):
    run = aligning_run(alice, ["a", "b", "Émile 2"], {"a.textgrid": GRID, "Émile 2.TextGrid": GRID, "oov.txt": ""})
    finish(run.fa_process)
    run.refresh_from_db()
    assert states(run) == {"a.wav": (Status.ALIGNED, ""), "b.wav": (Status.NOT_ALIGNED, "no_result"),
                           "Émile 2.wav": (Status.ALIGNED, "")}
    b = run.outcomes.get(recording="b.wav")
    assert b.message == "the service produced no result for it; its log may say why" and b.transcript == "b.txt"
    assert run.outcomes.get(recording="a.wav").textgrid == "a.textgrid"


def test_a_transcript_without_recording_gets_its_own_outcome(alice):
    run = aligning_run(alice, "a", {"a.TextGrid": GRID})
    process = run.fa_process
    process.inputs = process.inputs + [{"storage_name": "x/z.txt", "name": "z.txt", "template": "transcript"},
                                       {"storage_name": "x/e.dict", "name": "e.dict", "template": "dictionary"}]
    process.save()
    finish(process)
    assert states(run) == {"a.wav": (Status.ALIGNED, ""), "z.txt": (Status.NOT_ALIGNED, "no_audio")}


def test_a_failed_job_keeps_what_it_delivered(alice):
    run = aligning_run(alice, "ab", {"a.TextGrid": GRID}, status="failed")
    run.fa_process.error = "the alignment service stopped"
    finish(run.fa_process)
    run.refresh_from_db()
    assert run.stage == Stage.FAILED and run.error == "the alignment service stopped"
    assert states(run) == {"a.wav": (Status.ALIGNED, ""), "b.wav": (Status.NOT_ALIGNED, "no_result")}
    assert run.outcomes.get(recording="b.wav").message == outcomes.STOPPED


def test_a_job_that_failed_before_delivering_anything_leaves_every_recording_not_aligned(alice):
    run = aligning_run(alice, "ab", {}, status="failed")
    finish(run.fa_process)
    run.refresh_from_db()
    assert run.stage == Stage.FAILED
    assert states(run) == {"a.wav": (Status.NOT_ALIGNED, "no_result"), "b.wav": (Status.NOT_ALIGNED, "no_result")}


# First pass, review, second pass


def with_g2p(pipeline):
    """Connect a G2P script to a pipeline of tests.factories, as the bundled English one is."""
    fa_profile = pipeline.fa_script.profiles.get()
    pipeline.oov_output = OutputTemplate.objects.create(profile=fa_profile, template_id="oov", format="PlainTextFormat",
                                                        label="OOV", extension="txt", filename="oov.txt")
    pipeline.fa_dictionary_input = InputTemplate.objects.get(profile=fa_profile, template_id="dictionary")
    g2p = Script.objects.create(name="G2P", url="http://127.0.0.1:9/g2p/")
    profile = Profile.objects.create(script=g2p, index=0)
    pipeline.g2p_script = g2p
    pipeline.g2p_input = InputTemplate.objects.create(profile=profile, template_id="wordlist", format="PlainTextFormat",
                                                      label="Words", extension="txt")
    pipeline.dictionary_output = OutputTemplate.objects.create(profile=profile, template_id="dictionary",
                                                               format="PlainTextFormat", label="Dictionary",
                                                               extension="dict", filename="dictionary.dict")
    pipeline.save()
    return pipeline


def unknown(audio, words):
    return entry(audio, status="not_aligned", code="unknown_words", unknown_words=words,
                 reason=f"its transcript has words no dictionary knows: {', '.join(words)}")


def test_recordings_with_unknown_words_wait_for_the_review_then_skipped_ones_say_so(alice):
    pipeline = with_g2p(make_fa_pipeline())
    first = report(entry("a.wav"), unknown("b.wav", ["equestria"]), unknown("c.wav", ["zork", "flurb"]))
    run = aligning_run(alice, "abc", {"a.TextGrid": GRID, "oov.txt": "equestria\nflurb\nzork\n", "report.json": first},
                       pipeline=pipeline)
    finish(run.fa_process)
    run.refresh_from_db()
    assert run.stage == Stage.TRANSCRIBING and run.g2p_process is not None
    assert states(run) == {"a.wav": (Status.ALIGNED, ""), "b.wav": (Status.WAITING, "unknown_words"),
                           "c.wav": (Status.WAITING, "unknown_words")}
    assert "“equestria”" in run.outcomes.get(recording="b.wav").message

    # The review left "zork" and "flurb" out; the second pass aligns b, and reports c's words as unknown.
    run.stage, run.skipped_words = Stage.REALIGNING, ["flurb", "zork"]
    run.realign_process = fa_process(run.project, "abc", {
        "a.TextGrid": GRID, "b.TextGrid": GRID,
        "report.json": report(entry("a.wav"), entry("b.wav"), unknown("c.wav", ["zork", "flurb"])),
    }, folder="fa2")
    run.save()
    finish(run.realign_process)
    run.refresh_from_db()
    assert run.stage == Stage.PROBLEMS
    assert states(run) == {"a.wav": (Status.ALIGNED, ""), "b.wav": (Status.ALIGNED, ""),
                           "c.wav": (Status.NOT_ALIGNED, "unknown_words")}
    assert run.outcomes.get(recording="c.wav").message == "you skipped it (no pronunciation for “zork”, “flurb”)"
    assert run.result_process == run.realign_process


def test_the_g2p_word_list_goes_with_the_presets_of_its_input_templates_parameters(alice):
    from scripts.models import ChoiceParameter

    pipeline = with_g2p(make_fa_pipeline())
    ChoiceParameter.objects.create(script=pipeline.g2p_script, input_template=pipeline.g2p_input, clam_id="variety",
                                   name="Variety", type="choice", value="us", preset=True)
    run = aligning_run(alice, "a", {"oov.txt": "zork\n", "report.json": report(unknown("a.wav", ["zork"]))},
                       pipeline=pipeline)
    finish(run.fa_process)
    run.refresh_from_db()
    assert [i.get("metadata") for i in run.g2p_process.inputs] == [{"variety": "us"}]


def test_unknown_words_without_a_g2p_script_are_a_reason_not_a_wait(alice):
    run = aligning_run(alice, "ab", {"a.TextGrid": GRID, "oov.txt": "zork\n",
                                     "report.json": report(entry("a.wav"), unknown("b.wav", ["zork"]))})
    finish(run.fa_process)
    run.refresh_from_db()
    assert run.stage == Stage.PROBLEMS
    b = run.outcomes.get(recording="b.wav")
    assert (b.status, b.message) == (Status.NOT_ALIGNED, "its transcript has words no dictionary knows: zork")


def realigned(owner, stems, outputs, *, status="done", before_finishing=None, first=None):
    """A run whose first pass aligned a.wav and left b.wav waiting (unknown "zork"), then whose
    realignment over `stems` ended with `status` and these output files. `first`: more outputs of the first pass."""
    pipeline = with_g2p(make_fa_pipeline())
    run = aligning_run(owner, "ab", {"a.TextGrid": GRID, "oov.txt": "zork\n",
                                     "report.json": report(entry("a.wav"), unknown("b.wav", ["zork"])), **(first or {})},
                       pipeline=pipeline)
    finish(run.fa_process)
    run.refresh_from_db()
    run.stage = Stage.REALIGNING
    run.realign_process = fa_process(run.project, stems, outputs, status=status, folder="fa2")
    run.save()
    if before_finishing:
        before_finishing(run)
    finish(run.realign_process)
    run.refresh_from_db()
    return run


def test_a_realignment_that_fails_without_results_keeps_the_first_pass_and_settles_the_waiting(alice):
    run = realigned(alice, "ab", {}, status="failed")
    assert run.stage == Stage.FAILED and run.result_process == run.fa_process
    assert states(run) == {"a.wav": (Status.ALIGNED, ""), "b.wav": (Status.NOT_ALIGNED, "unknown_words")}
    assert run.outcomes.get(recording="b.wav").message == outcomes.STOPPED


def test_a_realignment_that_fails_after_delivering_some_outputs_keeps_the_first_pass(alice):
    run = realigned(alice, "ab", {"alignment.log": "Aligning a.wav\n"}, status="failed")
    assert run.result_process == run.fa_process  # its a.TextGrid stays on the page and in the zip
    assert states(run) == {"a.wav": (Status.ALIGNED, ""), "b.wav": (Status.NOT_ALIGNED, "unknown_words")}


def test_a_recording_the_realignment_was_not_given_keeps_its_first_result_in_the_realignments_folder(alice):
    run = realigned(alice, "b", {"b.TextGrid": GRID, "report.json": report(entry("b.wav"))})
    a = run.outcomes.get(recording="a.wav")
    assert (a.status, a.textgrid) == (Status.ALIGNED, "a.TextGrid")
    assert run.result_process == run.realign_process and "a.TextGrid" in run.realign_process.outputs
    kept = os.path.join(default_storage.path(run.realign_process.output_folder), "a.TextGrid")
    assert os.path.samefile(kept, os.path.join(default_storage.path(run.fa_process.output_folder), "a.TextGrid"))
    assert "oov.txt" not in run.realign_process.outputs  # the first pass's unknown words are not the run's now


def test_the_merged_report_says_what_was_kept_and_keeps_the_first_pass_warnings_and_log(alice):
    def with_warnings(warnings, *entries):
        return json.dumps({"format": "equestria-alignment-report", "version": 1, "warnings": warnings,
                           "recordings": list(entries)})

    first = {"alignment.log": "Aligning a.wav\n",
             "report.json": with_warnings(["a.wav was resampled"], entry("a.wav"), unknown("b.wav", ["zork"]))}
    # b.wav, sent again, does not align this time.
    run = realigned(alice, "b", {"alignment.log": "Aligning b.wav\n",
                                 "report.json": with_warnings(["slow disk"], entry("b.wav", status="not_aligned",
                                                                                   code="no_match"))}, first=first)
    assert states(run) == {"a.wav": (Status.ALIGNED, ""), "b.wav": (Status.NOT_ALIGNED, "no_match")}
    folder = default_storage.path(run.realign_process.output_folder)
    with open(os.path.join(folder, "report.json"), encoding="utf-8") as f:
        merged = json.load(f)
    assert merged["kept_from_first_pass"] == ["a.wav"]
    assert merged["summary"] == ("Aligned 1 of 2 recordings; 1 of them kept from the first alignment, 0 aligned "
                                 "again with the reviewed pronunciations")
    assert merged["warnings"] == ["slow disk", "first alignment: a.wav was resampled"]
    # The first pass's log explains the kept result; the realignment's own stays alignment.log.
    assert {"alignment.log", "alignment-first-pass.log"} <= set(run.realign_process.outputs)
    with open(os.path.join(folder, "alignment-first-pass.log"), encoding="utf-8") as f:
        assert f.read() == "Aligning a.wav\n"
    with open(os.path.join(folder, "alignment.log"), encoding="utf-8") as f:
        assert f.read() == "Aligning b.wav\n"
    # What the page says agrees with its summary line ("1 of 2 recordings aligned; 1 not aligned").
    assert outcomes.realignment(run) == ("0 of the 2 recordings were aligned with your pronunciations (1 was "
                                         "sent, and did not align); 1 kept the result of the first alignment.")


def test_a_kept_recording_named_as_the_reviewed_dictionary_keeps_its_result(alice):
    def with_dictionary(run):
        run.realign_process.inputs = [*run.realign_process.inputs,
                                      {"storage_name": "x/a.dict", "name": "a.dict", "template": "dictionary"}]
        run.realign_process.save()

    run = realigned(alice, "b", {"b.TextGrid": GRID, "report.json": report(entry("b.wav"))},
                    before_finishing=with_dictionary)
    assert states(run) == {"a.wav": (Status.ALIGNED, ""), "b.wav": (Status.ALIGNED, "")}
    assert "a.TextGrid" in run.realign_process.outputs


def test_a_kept_results_saved_versions_stay_its_versions_after_the_realignment(alice):
    from pipelines import results
    from pipelines.models import ResultVersion

    def corrected(run):
        path = f"{run.folder}/versions/a1.TextGrid"
        default_storage.save(path, ContentFile(GRID))
        ResultVersion.objects.create(run=run, process=run.fa_process, result="a.TextGrid", number=1, author=alice,
                                     textgrid=path)

    run = realigned(alice, "b", {"b.TextGrid": GRID, "report.json": report(entry("b.wav"))},
                    before_finishing=corrected)
    latest = results.result_version(run, "a.TextGrid")
    assert (latest.number, latest.author) == (1, "alice")
    assert [v.number for v in results.versions(run, "a.TextGrid")] == [0, 1]
    assert results.result_version(run, "b.TextGrid").number == 0


def test_a_recording_whose_first_result_is_gone_from_the_disk_loses_no_link_to_a_missing_result(alice):
    run = realigned(alice, "b", {"b.TextGrid": GRID, "report.json": report(entry("b.wav"))},
                    before_finishing=lambda run: os.remove(
                        os.path.join(default_storage.path(run.fa_process.output_folder), "a.TextGrid")))
    a = run.outcomes.get(recording="a.wav")
    assert (a.status, a.textgrid) == (Status.NOT_ALIGNED, "")
    assert a.message == outcomes.FIRST_RESULT_GONE


def test_names_the_service_stored_in_another_case_keep_the_uploaded_name(alice):
    # CLAM stores REC.WAV as REC.wav; the report speaks of REC.wav.
    project = make_project(alice)
    process = fa_process(project, [], {"REC.TextGrid": GRID, "report.json": report(
        {**entry("REC.wav"), "transcript": "REC.txt"})})
    process.inputs = [{"storage_name": "x", "name": "REC.WAV", "template": "audio"},
                      {"storage_name": "y", "name": "REC.TXT", "template": "transcript"}]
    process.save()
    run = Run.objects.create(project=project, pipeline=project.pipeline, stage=Stage.ALIGNING, fa_process=process)
    finish(process)
    assert [(o.recording, o.transcript, o.status) for o in run.outcomes.all()] == [("REC.WAV", "REC.TXT", Status.ALIGNED)]


def test_without_a_report_a_textgrid_named_after_the_whole_audio_name_counts(alice):
    run = aligning_run(alice, "ab", {"a.wav.TextGrid": GRID, "b.TextGrid": GRID})
    finish(run.fa_process)
    run.refresh_from_db()
    assert states(run) == {"a.wav": (Status.ALIGNED, ""), "b.wav": (Status.ALIGNED, "")}
    assert run.stage == Stage.DONE


def test_a_run_of_the_complete_pairs_only_that_fails_at_once_still_accounts_for_the_sent_ones(alice):
    from upload.readiness import Unpaired

    run = aligning_run(alice, "a", {}, status="failed")
    outcomes.record_left_out(run, [Unpaired(["c.wav"], "c.wav has no transcript: add c.txt.")])
    finish(run.fa_process)
    run.refresh_from_db()
    assert states(run) == {"a.wav": (Status.NOT_ALIGNED, "no_result"), "c.wav": (Status.NOT_ALIGNED, "left_out")}


def test_cancelling_during_the_review_settles_the_waiting_recordings(alice):
    run = aligning_run(alice, "ab", {"a.TextGrid": GRID})
    finish(run.fa_process)
    run.refresh_from_db()
    RecordingOutcome.objects.filter(run=run, recording="b.wav").update(status=Status.WAITING)
    Run.objects.filter(pk=run.pk).update(stage=Stage.REVIEW, finished_at=None)
    run.refresh_from_db()
    services.cancel_run(run)
    run.refresh_from_db()
    assert run.stage == Stage.CANCELLED
    assert run.outcomes.get(recording="b.wav").status == Status.NOT_ALIGNED


def test_a_run_that_ended_with_problems_counts_as_finished(alice):
    run = aligning_run(alice, "a", {})
    run.stage = Stage.PROBLEMS
    run.save()
    assert not run.active and run.complete and run.stage in Run.FINISHED
    services.cancel_run(run)
    run.refresh_from_db()
    assert run.stage == Stage.PROBLEMS
    assert services.active_run(run.project) is None


# Summary and CSV


def test_the_summary_counts_outcomes_in_plain_words():
    def outcomes_of(*statuses):
        return [RecordingOutcome(recording=str(i), status=s) for i, s in enumerate(statuses)]

    assert outcomes.summary(outcomes_of("aligned", "aligned", "warnings", "not_aligned", "not_aligned")) == \
        "3 of 5 recordings aligned (1 with warnings); 2 not aligned"
    assert outcomes.summary(outcomes_of("aligned")) == "1 of 1 recording aligned"
    assert outcomes.summary(outcomes_of("aligned", "waiting")) == "1 of 2 recordings aligned; 1 waits for your review"


def test_the_csv_report_has_one_row_per_recording_and_no_formulas():
    import csv
    import io

    text = outcomes.report_csv([
        RecordingOutcome(recording="a.wav", transcript="a.txt", status="warnings", textgrid="a.TextGrid",
                         warnings=["one", "two"]),
        RecordingOutcome(recording="=cmd.wav", status="not_aligned", message="the recording is silent"),
    ], kept={"a.wav"})
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows == [outcomes.CSV_COLUMNS, ["a.wav", "a.txt", "warnings", "", "one; two", "a.TextGrid", "yes"],
                    ["'=cmd.wav", "", "not_aligned", "the recording is silent", "", "", ""]]


# Messages for people (scripts.runner, scripts.plainwords)


@pytest.mark.parametrize("log, expected", [
    ("Failed: audio without transcript: a.wav (add a.txt)\n", "audio without transcript: a.wav (add a.txt)"),
    ("[CLAM Dispatcher] started\nFailed: Failed: the transcript is empty\n[CLAM Dispatcher] done\n", "the transcript is empty"),
    ("Traceback (most recent call last):\n  File \"/srv/clamservices/aligner.py\", line 3, in align\n"
     "TypeError: 'NoneType' object is not iterable\n", GENERIC_FAILURE),
    ("Failed: cannot open /var/lib/clam/x/input/a.wav\n", GENERIC_FAILURE),
    ("ValueError: bad\n", GENERIC_FAILURE),
])
def test_the_failure_reason_is_plain_words(log, expected):
    assert _failure_reason({"message": "error"}, [log]) == expected


def test_without_a_log_the_status_message_is_the_reason():
    assert _failure_reason({"message": "Failed: no input files"}, []) == "no input files"


@pytest.mark.parametrize("text, technical", [
    ("the transcript does not match the audio near 2.1 s", False),
    ("words and/or numbers, 3/4 of them", False),
    ("see https://example.org/a/b", False),
    ("KeyError: 'x'", True),
    ("in /home/equestria/var/media/projects/x", True),
    ("C:\\Users\\me\\file", True),
])
def test_technical_text_is_recognised(text, technical):
    assert looks_technical(text) is technical


@pytest.mark.parametrize(
    "library_text, reason",
    [
        ("HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded (Caused by NewConnectionError("
         "'<urllib3.connection.HTTPConnection object>: Failed to establish a new connection: [Errno 111] "
         "Connection refused'))", "connection refused"),
        ("('Connection aborted.', RemoteDisconnected('Remote end closed connection without response'))",
         "the connection was closed early"),
        ("HTTPConnectionPool(host='x', port=80): Read timed out. (read timeout=5)", "timed out"),
        ("something else entirely: OSError(12)", "network error"),
    ],
)
def test_network_errors_reach_the_researcher_in_plain_words(library_text, reason):
    from scripts.clam import _reason

    assert _reason(Exception(library_text)) == reason
    assert not looks_technical(f"retrying (attempt 2): cannot connect to http://127.0.0.1:9 ({reason})")


@pytest.mark.django_db
def test_while_aligning_again_the_recordings_that_waited_for_the_review_say_so(alice, alice_client):
    pipeline = with_g2p(make_fa_pipeline())
    first = report(entry("a.wav"), unknown("b.wav", ["equestria"]))
    run = aligning_run(alice, "ab", {"a.TextGrid": GRID, "oov.txt": "equestria\n", "report.json": first},
                       pipeline=pipeline)
    finish(run.fa_process)
    Run.objects.filter(pk=run.pk).update(stage=Stage.REALIGNING)  # the review is in; the second pass runs
    html = alice_client.get(reverse("pipelines-run", args=[run.project.pk, run.pk])).content.decode()
    assert "1 of 2 recordings aligned; 1 is being aligned with your pronunciations." in html
    assert '<span class="badge text-bg-secondary">being aligned with your pronunciations</span>' in html
    assert "waits for your review" not in html


@pytest.mark.django_db
def test_the_one_recording_that_waited_is_aligned_not_aligned_again_and_nothing_is_said_kept(alice, alice_client):
    """Never aligned before the review, it is not "aligned again"; with no result kept, no "0 kept"; one recording is
    "1 of 1 recording"; and nothing was replaced, so no "replaced" reason."""
    pipeline = with_g2p(make_fa_pipeline())
    run = aligning_run(alice, "b", {"oov.txt": "zork\n", "report.json": report(unknown("b.wav", ["zork"]))},
                       pipeline=pipeline)
    finish(run.fa_process)
    run.refresh_from_db()
    waiting = run.outcomes.get(recording="b.wav")
    assert waiting.status == Status.WAITING and "aligned again" not in waiting.message
    assert waiting.message.endswith("it is aligned after your review of their pronunciations")
    run.stage = Stage.REALIGNING
    run.realign_process = fa_process(run.project, "b", {"b.TextGrid": GRID, "report.json": report(entry("b.wav"))},
                                     folder="fa2")
    run.save()
    assert outcomes.realignment(run) == "Aligning the recording with your pronunciations."
    page = alice_client.get(reverse("pipelines-run", args=[run.project.pk, run.pk])).content.decode()
    assert page.count("Aligning the recording with your pronunciations.") == 1
    finish(run.realign_process)
    run.refresh_from_db()
    assert run.stage == Stage.DONE
    assert outcomes.realignment(run) == "1 of 1 recording was aligned with your pronunciations."
    assert outcomes.kept_from_first_pass(run, list(run.outcomes.all())) == set()
    page = alice_client.get(reverse("pipelines-run", args=[run.project.pk, run.pk])).content.decode()
    assert "kept from the first alignment" not in page


@pytest.mark.django_db
def test_several_that_waited_are_aligned_with_no_replaced_reason_unless_a_file_was_replaced(alice):
    pipeline = with_g2p(make_fa_pipeline())
    run = aligning_run(alice, "bc", {"oov.txt": "zork\n", "report.json": report(unknown("b.wav", ["zork"]),
                                                                               unknown("c.wav", ["zork"]))},
                       pipeline=pipeline)
    finish(run.fa_process)
    run.refresh_from_db()
    run.stage = Stage.REALIGNING
    run.realign_process = fa_process(run.project, "bc", {}, folder="fa2")
    run.save()
    assert outcomes.realignment(run) == "Aligning all 2 recordings with your pronunciations: each needs them."
    inputs = run.realign_process.inputs
    inputs[0] = {**inputs[0], "storage_name": inputs[0]["storage_name"] + ".another"}  # b.wav replaced
    Process.objects.filter(pk=run.realign_process_id).update(inputs=inputs)
    run.refresh_from_db()
    assert outcomes.realignment(run) == ("Aligning all 2 recordings with your pronunciations: each needs them or had "
                                         "a file replaced during the review.")


def test_the_merged_report_marks_each_kept_entry_and_agrees_with_the_outcome_of_one_left_out(alice):
    """a.wav kept, b.wav sent; c.wav waited and was left out in the review (its outcome says why): its entry says so,
    not the first pass's "unknown words"."""
    pipeline = with_g2p(make_fa_pipeline())
    run = aligning_run(alice, "abc", {"a.TextGrid": GRID, "oov.txt": "zork\n", "report.json": report(
        entry("a.wav"), unknown("b.wav", ["zork"]), unknown("c.wav", ["flurb"]))}, pipeline=pipeline)
    finish(run.fa_process)
    run.refresh_from_db()
    said = "its recording c.wav was deleted during the review, so it was not aligned"
    run.outcomes.filter(recording="c.wav").update(status=Status.NOT_ALIGNED, code=outcomes.DELETED_IN_REVIEW,
                                                  message=said)
    run.stage = Stage.REALIGNING
    run.realign_process = fa_process(run.project, "b", {"b.TextGrid": GRID, "report.json": report(entry("b.wav"))},
                                     folder="fa2")
    run.save()
    finish(run.realign_process)
    run.refresh_from_db()
    with open(os.path.join(default_storage.path(run.realign_process.output_folder), "report.json")) as f:
        entries = {e["audio"]: e for e in json.load(f)["recordings"]}
    assert {a: e["kept_from_first_pass"] for a, e in entries.items()} == {"a.wav": True, "b.wav": False,
                                                                        "c.wav": False}
    assert (entries["c.wav"]["status"], entries["c.wav"]["code"], entries["c.wav"]["reason"]) == (
        "not_aligned", "deleted_in_review", said)
    c = run.outcomes.get(recording="c.wav")
    assert (c.status, c.code, c.message) == (Status.NOT_ALIGNED, "deleted_in_review", said)
    assert outcomes.kept_from_first_pass(run, list(run.outcomes.all())) == {"a.wav"}
    assert outcomes.realignment(run) == ("1 of the 3 recordings was aligned with your pronunciations; 1 kept the "
                                         "result of the first alignment.")
