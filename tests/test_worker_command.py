"""`manage.py process_tasks` is ours: no pause after each task (scripts/management/commands/process_tasks.py)."""

import uuid

import pytest
from background_task.management.commands import process_tasks as library_command
from background_task.models import Task
from django.core.management import get_commands

from scripts.management.commands import process_tasks
from scripts.tasks import update_script


def test_the_worker_command_is_equestrias():
    assert get_commands()["process_tasks"] == "scripts"


@pytest.mark.django_db
def test_the_worker_goes_straight_to_the_next_task_and_sleeps_only_when_the_queue_is_empty(monkeypatch):
    for _ in range(5):
        update_script(str(uuid.uuid4()))  # unknown processes: each task ends at once
    sleeps = []
    monkeypatch.setattr(library_command.time, "sleep", sleeps.append)
    monkeypatch.setattr(library_command, "close_connection", lambda: None)  # the test's database stays open
    command = process_tasks.Command()
    command.sig_manager = process_tasks.NoPauseSignalManager()
    # Stop once the queue is empty and the worker has slept --sleep once.
    original = command._tasks.run_next_task

    def run_next_task(queue=None):
        ran = original(queue)
        if not ran:
            command.sig_manager.kill_now = True
        return ran

    monkeypatch.setattr(command._tasks, "run_next_task", run_next_task)
    command.run(sleep=0.3)
    assert Task.objects.count() == 0
    assert sleeps == [0.0] * 5 + [0.3]
