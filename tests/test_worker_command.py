"""`manage.py process_tasks` is ours (scripts/management/commands/process_tasks.py)."""

import uuid
from datetime import timedelta

import pytest
from background_task.models import CompletedTask, Task
from django.core.management import get_commands

from scripts.management.commands import process_tasks
from scripts.signals import worker_idle_hourly
from scripts.tasks import advance_process


def test_the_worker_command_is_equestrias():
    assert get_commands()["process_tasks"] == "scripts"


def run_until_idle(monkeypatch, sleep):
    """Run the worker loop in this process until it first waits; returns how long it waited each time."""
    waits = []
    command = process_tasks.Command()
    command.sig_manager = process_tasks.SignalManager()

    def fake_sleep(seconds):
        waits.append(seconds)
        command.sig_manager.kill_now = True

    monkeypatch.setattr(process_tasks.time, "sleep", fake_sleep)
    command.run(sleep=sleep)
    if command.housekeeper:
        command.housekeeper.join(timeout=30)
    return waits


@pytest.mark.django_db
def test_the_worker_goes_straight_to_the_next_task_and_waits_only_when_none_is_due(monkeypatch):
    for _ in range(5):
        advance_process(str(uuid.uuid4()))  # unknown processes: each task ends at once
    assert run_until_idle(monkeypatch, sleep=0.3) == [0.3]  # no pause between the five tasks
    assert Task.objects.count() == 0


@pytest.mark.django_db
def test_an_idle_worker_wakes_when_the_next_task_is_due_not_later(monkeypatch):
    advance_process(str(uuid.uuid4()), schedule=timedelta(seconds=1))
    Task.objects.create(task_name="an.unknown.task", task_params="[[], {}]", task_hash="x", run_at=Task.objects.get().run_at - timedelta(hours=1))
    [wait] = run_until_idle(monkeypatch, sleep=5)
    assert 0.5 < wait <= 1.0  # the poll in a second, not --sleep; a task this worker does not know is ignored
    assert Task.objects.count() == 2


@pytest.mark.django_db
def test_a_worker_that_cannot_read_the_queue_says_so_and_waits_its_sleep(monkeypatch, caplog):
    from django.db import OperationalError

    def unreachable(*args):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(process_tasks, "seconds_until_next_task", unreachable)
    monkeypatch.setattr(process_tasks.connection, "close", lambda: None)  # the test's database stays open
    assert run_until_idle(monkeypatch, sleep=2) == [2]
    assert "Could not look at the task queue; retrying in 2 s" in caplog.text


@pytest.mark.django_db(transaction=True)  # the housekeeping thread has its own connection
def test_an_idle_worker_removes_what_crashes_left_behind_and_not_again_within_the_hour(monkeypatch, settings, tmp_path,
                                                                                         alice):
    import os
    import time as clock

    from tests.factories import make_project

    settings.MEDIA_ROOT = tmp_path
    make_project(alice)  # the cleanup removes no project file while the database has no projects at all
    orphan = tmp_path / "projects" / "7" / "files" / "left-behind.wav"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"RIFF")
    day_ago = clock.time() - 25 * 3600
    os.utime(orphan, (day_ago, day_ago))
    calls = []
    worker_idle_hourly.connect(lambda **kwargs: calls.append(1), weak=False, dispatch_uid="test-counter")
    try:
        run_until_idle(monkeypatch, sleep=0.3)
        assert not orphan.exists() and calls == [1]
        run_until_idle(monkeypatch, sleep=0.3)  # a new worker: its own first idle moment
        assert calls == [1, 1]
    finally:
        worker_idle_hourly.disconnect(dispatch_uid="test-counter")


@pytest.mark.django_db
def test_a_cleanup_that_fails_is_logged_and_the_worker_goes_on(monkeypatch, settings, caplog):
    settings.MEDIA_ROOT = "/proc/1/no-such-folder"  # listing it fails
    settings.FILE_UPLOAD_TEMP_DIR = "/proc/1/no-such-folder"

    def broken(**kwargs):
        raise PermissionError("no")

    worker_idle_hourly.connect(broken, dispatch_uid="test-broken")
    try:
        assert run_until_idle(monkeypatch, sleep=0.3) == [0.3]
    finally:
        worker_idle_hourly.disconnect(dispatch_uid="test-broken")
    assert "Housekeeping by test_a_cleanup_that_fails_is_logged_and_the_worker_goes_on.<locals>.broken failed" in caplog.text


@pytest.mark.django_db
def test_a_step_queued_under_the_tasks_name_before_issue_15_runs_and_queues_the_next_under_the_new_name(monkeypatch):
    from scripts.models import Process, Script
    from tests.helpers import free_port

    script = Script.objects.create(name="aligner", url=f"http://127.0.0.1:{free_port()}/")  # down: the step is retried
    process = Process.objects.create(script=script, output_folder="x")
    # As the task was queued before it was renamed (background_task's own way of queueing it).
    Task.objects.new_task("scripts.tasks.update_script", args=[str(process.pk)]).save()
    run_until_idle(monkeypatch, sleep=5)
    assert list(CompletedTask.objects.values_list("task_name", flat=True)) == ["scripts.tasks.update_script"]
    assert list(Task.objects.values_list("task_name", flat=True)) == ["scripts.tasks.advance_process"]
    process.refresh_from_db()
    assert process.message.startswith("retrying (attempt 1)"), process.message

