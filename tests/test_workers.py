"""Workers say they are alive (scripts/workers.py): what a dead worker held goes to the others, a live one keeps it.

The SIGKILLed real workers are in tests/test_worker_recovery.py; here the rules, on the database.
"""

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
    workers.beat(worker.name)
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
