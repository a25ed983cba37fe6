"""A project through the whole pipeline on the bundled services, driven by the real task queue."""

from pathlib import Path

import pytest
from background_task.tasks import tasks
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from praatio import textgrid

from pipelines import services
from pipelines.models import Run
from scripts.models import Pipeline
from tests.helpers import DATA, work_until
from upload.models import Project
from upload.services import Upload

pytestmark = pytest.mark.django_db(transaction=True)


def add(project, *stems):
    upload = Upload(project)
    for stem in stems:
        for ext in ("wav", "txt"):
            upload.add(SimpleUploadedFile(f"{stem}.{ext}", (DATA / f"{stem}.{ext}").read_bytes()))
    assert all(o.saved for o in upload.outcomes), upload.outcomes


def test_fa_g2p_review_and_fa_again(alice, english):
    project = Project.objects.create(owner=alice, name="demo", pipeline=english)
    add(project, "austen-0870", "austen-0880", "oov-equestria")
    run = services.start_alignment(project, {"textgrid_format": "long"})
    run = work_until(run, {Run.Stage.REVIEW, Run.Stage.FAILED, Run.Stage.DONE})
    assert run.stage == Run.Stage.REVIEW, run.error
    assert run.oov_words == ["equestria"]
    assert run.dictionary.startswith("equestria ")

    with pytest.raises(ValueError, match="Line 2: “XX” is not a phone of this aligner"):
        services.realign(run, run.dictionary + "pony P XX\n")
    run = services.realign(run, run.dictionary)
    assert project.files.filter(name="equestria.dict").exists()
    run = work_until(run, {Run.Stage.DONE, Run.Stage.FAILED})
    assert run.stage == Run.Stage.DONE, run.error
    folder = Path(default_storage.path(run.result_process.output_folder))
    for stem in ("austen-0870", "austen-0880", "oov-equestria"):
        grid = textgrid.openTextgrid(str(folder / f"{stem}.TextGrid"), includeEmptyIntervals=False)
        words = [e.label.lower() for e in grid.getTier("words").entries]
        assert words == (DATA / f"{stem}.txt").read_text().split()


def test_a_project_without_oov_words_is_done_after_one_pass(alice, english):
    project = Project.objects.create(owner=alice, name="cards", pipeline=english)
    add(project, "cards-001")
    run = work_until(services.start_alignment(project), {Run.Stage.DONE, Run.Stage.FAILED})
    assert run.stage == Run.Stage.DONE and run.g2p_process is None
    assert "cards-001.TextGrid" in run.fa_process.outputs


def test_alignment_needs_complete_files_and_one_run_at_a_time(alice, english):
    project = Project.objects.create(owner=alice, name="half", pipeline=english)
    upload = Upload(project)
    upload.add(SimpleUploadedFile("cards-001.wav", (DATA / "cards-001.wav").read_bytes()))
    # Every kind of transcript is optional to the service (issue 17): the pairing says what is missing.
    with pytest.raises(services.CannotStart, match="no recording can be aligned with its transcript. cards-001.wav "
                                                   "has no transcript: add cards-001.txt"):
        services.start_alignment(project)
    add(project, "cards-002")
    with pytest.raises(services.CannotStart, match="cards-001.wav has no transcript: add cards-001.txt"):
        services.start_alignment(project)
    run = services.start_alignment(project, only_complete_pairs=True)
    assert sorted(i["name"] for i in run.fa_process.inputs) == ["cards-002.txt", "cards-002.wav"]
    [left_out] = run.outcomes.all()
    assert (left_out.recording, left_out.status, left_out.code) == ("cards-001.wav", "not_aligned", "left_out")
    assert left_out.message.startswith("left out of this run: cards-001.wav has no transcript: add cards-001.txt")
    with pytest.raises(services.CannotStart, match="already running"):
        services.start_alignment(project, only_complete_pairs=True)
    run = work_until(run, Run.FINISHED)
    assert run.stage == Run.Stage.PROBLEMS  # not everything was aligned, by choice, and the state says so
    assert {o.recording: o.code for o in run.outcomes.all()} == {"cards-001.wav": "left_out", "cards-002.wav": ""}


def test_cancel_a_run(alice, english):
    project = Project.objects.create(owner=alice, name="cancel", pipeline=english)
    add(project, "austen-0870")
    run = services.start_alignment(project)
    tasks.run_next_task()  # uploads and starts the CLAM job
    services.cancel_run(run)
    run.refresh_from_db()
    assert run.stage == Run.Stage.CANCELLED and run.fa_process.status == "cancelled"


def test_the_clam_fixture_loads_by_natural_keys_next_to_an_administrators_scripts(db):
    from django.core.management import call_command

    from scripts.models import Script

    own = Script.objects.create(name="Our Dutch aligner", url="https://clam.example.org/nl/")
    call_command("loaddata", "clam", verbosity=0)
    call_command("loaddata", "clam", verbosity=0)  # idempotent
    english = Pipeline.objects.get(name="English")
    assert english.fa_script.name == "Bundled forced alignment (English)"
    assert (english.oov_output.template_id, english.g2p_input.template_id) == ("oov", "wordlist")
    assert (english.dictionary_output.template_id, english.fa_dictionary_input.template_id) == ("dictionary", "dictionary")
    assert "AA" in english.phone_set.split()
    assert Script.objects.get(pk=own.pk).url == "https://clam.example.org/nl/"
    assert Script.objects.count() == 3


def _silent_wav(path, seconds=2.0):
    import numpy as np
    import soundfile

    soundfile.write(str(path), np.zeros(int(16000 * seconds), dtype=np.int16), 16000, subtype="PCM_16")
    return path.read_bytes()


def test_a_mixed_run_delivers_the_good_recordings_and_says_why_not_the_bad_ones(alice, english, tmp_path):
    project = Project.objects.create(owner=alice, name="messy", pipeline=english)
    add(project, "cards-001", "austen-0870")
    upload = Upload(project)
    files = {
        # Another recording's transcript.
        "wrong.wav": (DATA / "austen-0890.wav").read_bytes(),
        "wrong.txt": (DATA / "cards-002.txt").read_bytes() + b" and many more words that are not spoken here",
        # Silence only.
        "silent.wav": _silent_wav(tmp_path / "silent.wav"),
        "silent.txt": b"ten of clubs",
        # Numbers and typographic punctuation, read as words.
        "cards-3.wav": (DATA / "cards-003.wav").read_bytes(),
        "cards-3.txt": "“7 of clubs”".encode(),
    }
    for name, content in files.items():
        upload.add(SimpleUploadedFile(name, content))
    assert all(o.saved for o in upload.outcomes), upload.outcomes

    run = work_until(services.start_alignment(project), Run.FINISHED)
    assert run.stage == Run.Stage.PROBLEMS, run.error
    outcomes = {o.recording: o for o in run.outcomes.all()}
    assert sorted(outcomes) == ["austen-0870.wav", "cards-001.wav", "cards-3.wav", "silent.wav", "wrong.wav"]
    for good in ("austen-0870.wav", "cards-001.wav"):
        assert outcomes[good].status == "aligned" and outcomes[good].textgrid
    assert outcomes["cards-3.wav"].status == "warnings"
    assert "“7” was read as “seven”" in outcomes["cards-3.wav"].warnings
    assert (outcomes["silent.wav"].status, outcomes["silent.wav"].code) == ("not_aligned", "silent")
    assert (outcomes["wrong.wav"].status, outcomes["wrong.wav"].code) == ("not_aligned", "no_match")
    assert "the transcript does not match the recording" in outcomes["wrong.wav"].message
    folder = Path(default_storage.path(run.result_process.output_folder))
    assert {p.name for p in folder.glob("*.TextGrid")} == {"austen-0870.TextGrid", "cards-001.TextGrid", "cards-3.TextGrid"}


def test_upper_case_extensions_give_one_outcome_under_the_uploaded_name(alice, english):
    # Recorders write REC001.WAV; the CLAM service stores it as REC001.wav.
    project = Project.objects.create(owner=alice, name="recorder", pipeline=english)
    upload = Upload(project)
    upload.add(SimpleUploadedFile("CARDS.WAV", (DATA / "cards-001.wav").read_bytes()))
    upload.add(SimpleUploadedFile("CARDS.TXT", (DATA / "cards-001.txt").read_bytes()))
    run = work_until(services.start_alignment(project), Run.FINISHED)
    assert run.stage == Run.Stage.DONE, run.error
    assert [(o.recording, o.transcript, o.status) for o in run.outcomes.all()] == [("CARDS.WAV", "CARDS.TXT", "aligned")]
