"""Workers that say they are alive, so that a killed worker's work is taken over within seconds, not minutes.

django-background-tasks lets another worker run a locked task only when the lock is older than
MAX_RUN_TIME, whether its holder is alive or not: with a long MAX_RUN_TIME a killed worker's step
waited 15 minutes; with a short one a long step (a big upload) would be run twice at once. So each
worker has a row (scripts.models.Worker) and a heartbeat thread that every WORKER_HEARTBEAT_SECONDS
refreshes the row, the lock of the task it runs and the lease of the process it advances, while
MAX_RUN_TIME and the lease last only WORKER_STALE_SECONDS. A worker that stops beating (killed, frozen,
cut off from the database) loses both that long after its last beat, however long its step was to take;
a step that takes long on a live worker keeps them.

A beat writes the three at once with one time: the task lock and the lease end at the same moment, and
the holder looks dead (is_alive) well before, so a worker that finds the task unlocked also finds the
process free (scripts.runner.advance would otherwise wait for the lease, or leave the process to a
holder that looks alive).
"""

import logging
import os
import secrets
import socket
import threading
import time
from contextlib import contextmanager
from datetime import timedelta

from background_task.models import Task
from background_task.tasks import DBTaskRunner
from django.conf import settings
from django.db import DatabaseError, OperationalError, connection, transaction
from django.utils import timezone

from scripts.models import Process, Worker

log = logging.getLogger(__name__)

# How long the rows of workers that died stay, for queue health to tell about them.
FORGET_DEAD_AFTER = timedelta(days=1)

# What the worker in this process (`process_tasks`) is doing, for its heartbeat thread to keep: its name
# (None outside a worker; advance() records it as the lease's holder), the task it runs with the
# monotonic time it began (set by TaskRunner) and the process whose step it works on (set by advance()).
# Only these are kept fresh: a lock or lease that a step which ended badly left behind runs out.
current_name = None
current_task = None
current_process = None
# Whether the worker is inside a step, where a stop may interrupt it (see stoppable()).
in_step = False


def new_name():
    """Unique across machines and restarts, and within Task.locked_by's 64 characters."""
    suffix = f":{os.getpid()}:{secrets.token_hex(3)}"
    return socket.gethostname()[: 64 - len(suffix)] + suffix


def stale_before(now=None):
    """Workers last seen before this moment are dead."""
    return (now or timezone.now()) - timedelta(seconds=settings.WORKER_STALE_SECONDS)


def live_workers(now=None):
    return Worker.objects.filter(seen_at__gte=stale_before(now))


def is_alive(name, now=None):
    """Whether the named worker beat within half the stale time (a margin for clocks that differ a little)."""
    now = now or timezone.now()
    recent = now - timedelta(seconds=settings.WORKER_STALE_SECONDS / 2)
    return bool(name) and Worker.objects.filter(name=name, seen_at__gte=recent).exists()


def lease_until(now=None):
    return (now or timezone.now()) + timedelta(seconds=settings.WORKER_STALE_SECONDS)


def beat(name, stopping=None):
    """Say this worker is alive and keep the lock of the task it runs and the lease of the process it works on.

    A step that has run for WORKER_MAX_STEP_SECONDS is no longer kept: a worker stuck in it (a file
    system that stopped answering, a bug that loops) must not hold a run for ever.
    """
    now = timezone.now()
    task, process = current_task, current_process
    with transaction.atomic():  # one write (on SQLite, one turn of the database's write lock)
        if not Worker.objects.filter(name=name).update(seen_at=now) and not (stopping and stopping.is_set()):
            # Removed as dead after a long pause (the machine slept, the database was away): alive again.
            Worker.objects.create(name=name, hostname=socket.gethostname(), pid=os.getpid(), seen_at=now)
        if task is None:
            return
        if time.monotonic() - task[1] > settings.WORKER_MAX_STEP_SECONDS:
            log.error("Worker %s has been on task %s for over %s s; other workers may take it over",
                      name, task[0], settings.WORKER_MAX_STEP_SECONDS)
            return
        Task.objects.filter(pk=task[0], locked_by=name).update(locked_at=now)
        if process is not None:
            Process.objects.filter(pk=process, leased_by=name, lease_until__isnull=False).update(
                lease_until=lease_until(now)
            )


@contextmanager
def stoppable():
    """Mark a step: a stop (SIGTERM, Ctrl-C) may interrupt the worker here, and hand the step over at once.

    Elsewhere, e.g. between queueing a process's next task and removing the one that ran, an
    interruption would leave both, and the process would go on twice: there a stop waits for the
    task's end.
    """
    global in_step
    in_step = True
    try:
        yield
    finally:
        in_step = False


class TaskRunner(DBTaskRunner):
    """The queue library's runner, which never takes a task from a live worker, and tells the heartbeat what runs.

    The library decides by the lock's age alone, and itself saves the task once it has run with the
    time it was locked: a task that ran longer than WORKER_STALE_SECONDS looks free for a moment then.
    """

    def __init__(self, name):
        super().__init__()
        self.worker_name = name

    def get_task_to_run(self, tasks, queue=None):
        try:
            available = [task for task in Task.objects.find_available(queue) if task.task_name in tasks._tasks][:5]
            for task in available:
                now = timezone.now()
                taken = (
                    Task.objects.unlocked(now).filter(pk=task.pk)
                    .exclude(locked_by__in=live_workers(now).values("name"))
                    .update(locked_by=self.worker_name, locked_at=now)
                )
                if taken:
                    return Task.objects.get(pk=task.pk)
            return None
        except OperationalError:
            log.warning("Failed to retrieve tasks. Database unreachable.")

    def run_task(self, tasks, task):
        global current_task
        current_task = (task.pk, time.monotonic())
        try:
            super().run_task(tasks, task)
        finally:
            current_task = None


def release(name):
    """Hand what a stopping worker holds to the others at once, and remove its row."""
    Task.objects.filter(locked_by=name).update(locked_by=None, locked_at=None)
    Process.objects.filter(leased_by=name).update(lease_until=None, leased_by="")
    Worker.objects.filter(name=name).delete()


class Heartbeat:
    """Registers this process as a worker and beats in a thread of its own until `stop()`."""

    def __init__(self):
        self.name = new_name()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="equestria-heartbeat", daemon=True)

    def start(self):
        global current_name
        now = timezone.now()
        Worker.objects.filter(seen_at__lt=now - FORGET_DEAD_AFTER).delete()
        Worker.objects.create(name=self.name, hostname=socket.gethostname(), pid=os.getpid(), seen_at=now)
        current_name = self.name
        self._thread.start()
        return self

    def _run(self):
        # Its own database connection (Django's are per thread); closed when the thread ends.
        try:
            while not self._stopping.wait(settings.WORKER_HEARTBEAT_SECONDS):
                try:
                    beat(self.name, self._stopping)
                except Exception:  # whatever it was, a heartbeat that stops makes a live worker look dead
                    log.warning("Worker %s could not write its heartbeat; trying again", self.name, exc_info=True)
                    connection.close()
        finally:
            connection.close()

    def stop(self):
        global current_name
        self._stopping.set()
        self._thread.join(timeout=settings.WORKER_HEARTBEAT_SECONDS + 5)
        current_name = None
        try:
            release(self.name)
        except DatabaseError:
            log.warning("Worker %s could not hand over its work; others take it over when it looks dead", self.name)
