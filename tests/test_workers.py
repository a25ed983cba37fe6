"""Workers say they are alive (scripts/workers.py): what a dead worker held goes to the others, a live one keeps it.

The SIGKILLed real workers are in tests/test_worker_recovery.py; here the rules, on the database.
"""

import signal
import time
import uuid
from datetime import timedelta

import pytest
from background_task.models import Task
from django.conf import settings
from django.utils import timezone

from scripts import runner, workers
from scripts.management.commands.process_tasks import seconds_until_next_task
from scripts.models import Process, Script, Worker
from scripts.tasks import advance_process

pytestmark = pytest.mark.django_db


@pytest.fixture
def process():
    script = Script.objects.create(name="aligner", url="http://127.0.0.1:9/")
    return Process.objects.create(script=script, output_folder="x")


def a_worker(seen_seconds_ago):
    return Worker.objects.create(
        name=f"host:{uuid.uuid4().hex[:6]}", hostname="host", pid=1,
        seen_at=timezone.now() - timedelta(seconds=seen_seconds_ago),
    )


def test_a_beat_keeps_the_workers_task_lock_and_process_lease_fresh(process):
    worker = a_worker(seen_seconds_ago=20)
    long_ago = timezone.now() - timedelta(seconds=20)
    advance_process(str(process.pk))
    Task.objects.update(locked_by=worker.name, locked_at=long_ago)
    Process.objects.filter(pk=process.pk).update(leased_by=worker.name, lease_until=long_ago)
    workers.current_task = (Task.objects.get().pk, time.monotonic())
    workers.current_process = process.pk
    try:
        workers.beat(worker.name)
    finally:
        workers.current_task = workers.current_process = None
    worker.refresh_from_db()
    process.refresh_from_db()
    task = Task.objects.get()
    assert timezone.now() - worker.seen_at < timedelta(seconds=5)
    assert timezone.now() - task.locked_at < timedelta(seconds=5)
    assert process.lease_until - timezone.now() > timedelta(seconds=settings.WORKER_STALE_SECONDS - 5)
    assert Task.objects.unlocked(timezone.now()).count() == 0


def test_a_task_whose_worker_stopped_beating_is_free_after_the_stale_time(process):
    worker = a_worker(seen_seconds_ago=0)
    advance_process(str(process.pk))
    Task.objects.update(locked_by=worker.name, locked_at=timezone.now())
    later = timezone.now() + timedelta(seconds=settings.WORKER_STALE_SECONDS + 1)
    assert Task.objects.unlocked(timezone.now()).count() == 0
    assert Task.objects.unlocked(later).count() == 1


def test_a_stopping_worker_hands_over_its_task_and_process_at_once(process):
    worker = a_worker(seen_seconds_ago=0)
    advance_process(str(process.pk))
    Task.objects.update(locked_by=worker.name, locked_at=timezone.now())
    Process.objects.filter(pk=process.pk).update(leased_by=worker.name, lease_until=workers.lease_until())
    workers.release(worker.name)
    assert Task.objects.unlocked(timezone.now()).count() == 1
    process.refresh_from_db()
    assert process.lease_until is None and process.leased_by == ""
    assert not Worker.objects.exists()


def test_a_worker_removed_as_dead_comes_back_with_its_next_beat():
    workers.beat("host:1:abc")
    assert Worker.objects.filter(name="host:1:abc").exists()


def test_advance_leaves_a_process_to_the_live_worker_on_it(process):
    worker = a_worker(seen_seconds_ago=1)
    Process.objects.filter(pk=process.pk).update(leased_by=worker.name, lease_until=workers.lease_until())
    assert runner.advance(process.pk) is None  # this second chain ends; the holder's own task goes on
    process.refresh_from_db()
    assert process.attempts == 0


def test_advance_waits_only_for_the_end_of_a_dead_workers_lease(process):
    worker = a_worker(seen_seconds_ago=settings.WORKER_STALE_SECONDS)
    Process.objects.filter(pk=process.pk).update(
        leased_by=worker.name, lease_until=timezone.now() + timedelta(seconds=2)
    )
    delay = runner.advance(process.pk)
    assert 0 < delay <= 2.2
    process.refresh_from_db()
    assert process.attempts == 0


def test_the_lease_a_worker_takes_names_it(process, monkeypatch):
    monkeypatch.setattr(workers, "current_name", "host:2:def")
    seen = {}

    def step(p):
        seen.update(Process.objects.filter(pk=p.pk).values("leased_by", "lease_until").get())
        raise runner.StepFailed("stop here")

    monkeypatch.setattr(runner, "step_start", step)
    runner.advance(process.pk)
    assert seen["leased_by"] == "host:2:def" and seen["lease_until"] > timezone.now()
    process.refresh_from_db()
    assert process.leased_by == "" and process.lease_until is None


def test_an_idle_worker_wakes_when_a_lock_ends(process):
    advance_process(str(process.pk))
    Task.objects.update(locked_by="host:3:dead", locked_at=timezone.now() - timedelta(seconds=settings.MAX_RUN_TIME - 2))
    wait = seconds_until_next_task(None, 60, ["scripts.tasks.advance_process"])
    assert 1 < wait <= 2


def test_worker_names_are_unique_and_fit_the_task_lock():
    names = {workers.new_name() for _ in range(50)}
    assert len(names) == 50 and all(len(name) <= 64 for name in names)


def test_a_beat_keeps_only_what_the_worker_is_doing_now(process):
    """A lock or lease that a step which ended badly left behind runs out, though its worker lives on."""
    worker = a_worker(seen_seconds_ago=0)
    long_ago = timezone.now() - timedelta(seconds=20)
    advance_process(str(process.pk))
    Task.objects.update(locked_by=worker.name, locked_at=long_ago)
    Process.objects.filter(pk=process.pk).update(leased_by=worker.name, lease_until=long_ago)
    workers.beat(worker.name)  # between tasks: it runs none
    assert Task.objects.get().locked_at == long_ago
    process.refresh_from_db()
    assert process.lease_until == long_ago


def test_a_step_longer_than_the_limit_is_no_longer_kept(process, settings):
    worker = a_worker(seen_seconds_ago=0)
    long_ago = timezone.now() - timedelta(seconds=20)
    advance_process(str(process.pk))
    Task.objects.update(locked_by=worker.name, locked_at=long_ago)
    settings.WORKER_MAX_STEP_SECONDS = 60
    workers.current_task = (Task.objects.get().pk, time.monotonic() - 61)
    try:
        workers.beat(worker.name)
    finally:
        workers.current_task = None
    assert Task.objects.get().locked_at == long_ago


def test_a_stopped_workers_late_beat_does_not_bring_its_row_back():
    import threading

    stopping = threading.Event()
    stopping.set()
    workers.beat("host:4:gone", stopping)
    assert not Worker.objects.exists()


def test_no_worker_takes_a_task_from_a_live_worker_even_when_its_lock_looks_old(process):
    """The queue library saves a task that ran with the time it was locked: after a long step it looks free."""
    from background_task.tasks import tasks

    worker = a_worker(seen_seconds_ago=1)
    advance_process(str(process.pk))
    Task.objects.update(locked_by=worker.name, locked_at=timezone.now() - timedelta(hours=1))
    runner_ = workers.TaskRunner("host:5:other")
    assert runner_.get_task_to_run(tasks) is None
    Worker.objects.filter(pk=worker.pk).update(seen_at=timezone.now() - timedelta(seconds=settings.WORKER_STALE_SECONDS + 1))
    assert runner_.get_task_to_run(tasks).locked_by == "host:5:other"


def test_a_step_that_ends_with_an_unexpected_error_leaves_the_process_free(process, monkeypatch):
    monkeypatch.setattr(workers, "current_name", "host:6:me")
    a_worker(seen_seconds_ago=0)

    def bug(p):
        raise RuntimeError("a bug")

    monkeypatch.setattr(runner, "step_start", bug)
    with pytest.raises(RuntimeError):
        runner.advance(process.pk)
    process.refresh_from_db()
    assert process.leased_by == "" and process.lease_until is None
    monkeypatch.setattr(workers, "current_name", "host:7:other")
    monkeypatch.setattr(runner, "step_start", lambda p: None)
    assert runner.advance(process.pk) is not None  # the queue's retry, on another worker, goes on
    process.refresh_from_db()
    assert process.attempts == 0


def test_a_lease_of_its_own_left_by_a_bad_step_is_no_obstacle_to_the_same_worker(process, monkeypatch):
    monkeypatch.setattr(workers, "current_name", "host:8:me")
    Worker.objects.create(name="host:8:me", hostname="host", pid=1, seen_at=timezone.now())
    Process.objects.filter(pk=process.pk).update(leased_by="host:8:me", lease_until=workers.lease_until())
    monkeypatch.setattr(runner, "step_start", lambda p: None)
    assert runner.advance(process.pk) is not None
    process.refresh_from_db()
    assert process.attempts == 0 and process.leased_by == ""


def test_a_stop_outside_a_step_waits_for_the_end_of_the_task_and_inside_one_interrupts_it():
    from scripts.management.commands import process_tasks

    command = process_tasks.Command()
    command.sig_manager = process_tasks.SignalManager()
    command._stop(signal.SIGTERM, None)
    assert command.sig_manager.kill_now
    with pytest.raises(KeyboardInterrupt):
        command._stop(signal.SIGTERM, None)  # a second one: at once
    command.sig_manager.kill_now = False
    with workers.stoppable(), pytest.raises(KeyboardInterrupt):
        command._stop(signal.SIGINT, None)
