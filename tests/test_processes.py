"""CLAM processes driven step by step, against the bundled services on 127.0.0.1."""

import json
import time
from datetime import timedelta
from pathlib import Path

import pytest
from background_task.models import Task
from background_task.tasks import tasks
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from scripts import runner
from scripts.clam import ClamConnection, NotAClamService
from scripts.models import Process
from scripts.tasks import schedule_process
from tests.clamservers import register_script
from tests.helpers import DATA, free_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fa_script(fa_service):
    return register_script(fa_service, "FA")


def stored(name, content):
    return default_storage.save(f"projects/test/files/{name}", ContentFile(content))


def make_process(script, files, parameters=None):
    inputs = [
        {"storage_name": stored(name, content), "name": name, "template": template}
        for name, content, template in files
    ]
    return Process.objects.create(
        script=script, inputs=inputs, parameters=parameters or {}, output_folder="projects/test/runs/one"
    )


def pair(stem):
    return [
        (f"{stem}.wav", (DATA / f"{stem}.wav").read_bytes(), "audio"),
        (f"{stem}.txt", (DATA / f"{stem}.txt").read_bytes(), "transcript"),
    ]


def run_to_end(process, limit=60):
    deadline = time.monotonic() + limit
    delay = 0
    while delay is not None:
        assert time.monotonic() < deadline
        time.sleep(min(delay, 0.2))
        delay = runner.advance(process.pk)
    process.refresh_from_db()
    return process


def remote_exists(process):
    try:
        ClamConnection.for_script(process.script).index_of(process.clam_project)
        return True
    except NotAClamService:
        return False


def test_a_process_runs_downloads_into_place_and_cleans_up(fa_script, settings):
    process = run_to_end(make_process(fa_script, pair("cards-001"), {"textgrid_format": "short"}))
    assert process.status == "done", process.error
    assert "cards-001.TextGrid" in process.outputs and "alignment.log" in process.outputs
    folder = Path(default_storage.path(process.output_folder))
    grid = (folder / "cards-001.TextGrid").read_text()
    assert grid.startswith('File type = "ooTextFile"') and "intervals [1]:" not in grid  # short format was sent
    assert not list(folder.parent.glob("*.part-*"))
    assert not remote_exists(process)
    assert process.started_at and process.finished_at and process.completion == 100


def test_a_job_is_polled_soon_after_its_start_and_less_often_the_longer_it_runs(fa_script, settings):
    process = make_process(fa_script, pair("cards-001"))
    assert runner.advance(process.pk) == 0.02  # the start: a job of a second is often done within 0.2 s
    process.refresh_from_db()
    waits = {}
    for seconds in (0.1, 1, 10, 1000):
        process.started_at = timezone.now() - timedelta(seconds=seconds)
        waits[seconds] = runner._next_interval(process)
    assert waits == pytest.approx({0.1: 0.02, 1: 0.05, 10: 0.5, 1000: settings.PROCESS_POLL_MAX_SECONDS}, abs=0.005)
    assert run_to_end(process).status == "done"


def test_a_failing_job_reports_the_wrappers_reason_and_cleans_up(fa_script):
    # The aligner itself fails a job only when there is nothing to align at all. (Every input template is
    # optional since a transcript may be a .txt, a .TextGrid or an .eaf: CLAM takes a dictionary alone.)
    process = run_to_end(make_process(fa_script, [("extra.dict", b"pony P OW N IY\n", "dictionary")]))
    assert process.status == "failed"
    assert "no recordings or transcripts were sent" in process.error
    assert not remote_exists(process)


def test_a_bad_pair_is_an_outcome_in_the_report_not_a_failed_job(fa_script):
    files = [*pair("cards-001"), pair("cards-002")[0], ("cards-002.txt", b" ... \n", "transcript")]
    process = run_to_end(make_process(fa_script, files))
    assert process.status == "done", process.error
    report = json.loads((Path(default_storage.path(process.output_folder)) / "report.json").read_text())
    entries = {e["audio"]: e for e in report["recordings"]}
    assert entries["cards-001.wav"]["status"] == "aligned" and entries["cards-001.wav"]["textgrid"] == "cards-001.TextGrid"
    assert entries["cards-002.wav"]["status"] == "not_aligned"
    assert entries["cards-002.wav"]["code"] == "empty_transcript"
    assert entries["cards-002.wav"]["reason"] == "the transcript has no words"
    assert "cards-001.TextGrid" in process.outputs and "cards-002.TextGrid" not in process.outputs


def test_wrong_password_fails_at_once(fa_script):
    fa_script.set_password("wrong")
    fa_script.save()
    process = run_to_end(make_process(fa_script, pair("cards-001")))
    assert process.status == "failed" and "rejected the credentials" in process.error


def test_a_server_that_is_down_is_retried_then_fails_with_the_reason(fa_script, settings):
    settings.PROCESS_MAX_ATTEMPTS = 3
    settings.PROCESS_RETRY_MAX_SECONDS = 0  # no backoff wait in the test
    fa_script.url = f"http://127.0.0.1:{free_port()}/"
    fa_script.save()
    process = make_process(fa_script, pair("cards-001"))
    assert runner.advance(process.pk) is not None
    process.refresh_from_db()
    assert process.message.startswith("retrying (attempt 1): cannot connect") and process.status == "uploading"
    process = run_to_end(process)
    assert process.status == "failed"
    assert process.error.startswith("gave up after 3 attempts") and "connection refused" in process.error


def test_a_worker_killed_mid_step_is_resumed_and_one_that_always_dies_gives_up(fa_script, settings):
    process = make_process(fa_script, pair("cards-001"))
    # As a worker killed during the upload leaves it: attempt counted, lease held, project half made.
    Process.objects.filter(pk=process.pk).update(status="uploading", attempts=1)
    ClamConnection.for_script(fa_script).request("PUT", f"{process.clam_project}/")
    process = run_to_end(process)
    assert process.status == "done" and not remote_exists(process)

    dying = make_process(fa_script, pair("cards-002"))
    Process.objects.filter(pk=dying.pk).update(attempts=settings.PROCESS_MAX_ATTEMPTS)
    dying = run_to_end(dying)
    assert dying.status == "failed" and dying.error.startswith(f"gave up after {settings.PROCESS_MAX_ATTEMPTS} attempts")


def test_a_held_lease_keeps_a_second_worker_off(fa_script):
    from datetime import timedelta

    from django.utils import timezone

    process = make_process(fa_script, pair("cards-001"))
    Process.objects.filter(pk=process.pk).update(lease_until=timezone.now() + timedelta(minutes=5))
    assert runner.advance(process.pk) is not None
    process.refresh_from_db()
    assert process.status == "queued" and process.attempts == 0


def test_cancel_deletes_the_remote_project(fa_script):
    process = make_process(fa_script, pair("austen-0870"))
    runner.advance(process.pk)  # started
    assert remote_exists(Process.objects.get(pk=process.pk))
    runner.cancel(Process.objects.get(pk=process.pk))
    process.refresh_from_db()
    assert process.status == "cancelled" and not remote_exists(process)
    assert runner.advance(process.pk) is None


def test_the_real_worker_queue_runs_a_process_to_the_end(fa_script):
    process = make_process(fa_script, pair("cards-003"))
    schedule_process(process)
    deadline = time.monotonic() + 60
    while not Process.objects.get(pk=process.pk).finished:
        assert time.monotonic() < deadline
        if not tasks.run_next_task():
            time.sleep(0.05)
    assert Process.objects.get(pk=process.pk).status == "done"
    assert not Task.objects.exists()


def test_a_full_disk_while_downloading_fails_clearly_and_leaves_nothing_half_written(fa_script, settings, monkeypatch):
    import errno

    settings.PROCESS_MAX_ATTEMPTS = 3
    settings.PROCESS_RETRY_MAX_SECONDS = 0  # no backoff wait in the test
    real_open_result = runner._open_result

    class FullDisk:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    # A disk that fills up cannot be made here without privileges: every write of a result fails as one would.
    monkeypatch.setattr(runner, "_open_result", lambda path: FullDisk(real_open_result(path)))
    process = run_to_end(make_process(fa_script, pair("cards-001")))
    assert process.status == "failed"
    assert "no space left on the Equestria server's disk" in process.error
    parent = Path(default_storage.path(process.output_folder)).parent
    assert not parent.exists() or not list(parent.iterdir())
    assert not remote_exists(process)


def test_a_name_clam_refuses_is_sent_under_a_safe_name_and_its_results_keep_the_users_name(fa_script):
    wav, txt = pair("cards-001")
    process = run_to_end(make_process(fa_script, [("don't.wav", wav[1], "audio"), ("don't.txt", txt[1], "transcript")]))
    assert process.status == "done", process.error
    assert [i["clam_name"] for i in process.inputs] == ["don_t.wav", "don_t.txt"]
    assert "don't.TextGrid" in process.outputs and "don_t.TextGrid" not in process.outputs
    assert (Path(default_storage.path(process.output_folder)) / "don't.TextGrid").read_text().startswith("File type")
    report = json.loads((Path(default_storage.path(process.output_folder)) / "report.json").read_text())
    assert report["recordings"][0]["audio"] == "don't.wav"  # the service's own file, with the user's names


def test_a_file_name_the_service_refuses_is_named_as_such_not_as_a_password_problem(fa_script):
    # Names are sent under safe names; should a service still refuse one, the reason is its refusal.
    wav, txt = pair("cards-001")
    process = make_process(fa_script, [("don't.wav", wav[1], "audio"), ("don't.txt", txt[1], "transcript")])
    process.inputs = [{**item, "clam_name": item["name"]} for item in process.inputs]
    process.save()
    process = run_to_end(process)
    assert process.status == "failed"
    assert "Filename contains invalid symbols" in process.error
    assert "credentials" not in process.error
