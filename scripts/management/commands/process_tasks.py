"""`manage.py process_tasks`: django-background-tasks' worker, with a loop made for chains of short tasks.

It replaces the library's command (this app comes first in INSTALLED_APPS)
and takes the same options and SIGTSTP (stop after the current task). A CLAM
process is a chain of short tasks, some scheduled a fraction of a second
ahead (polls), and the library's loop costs them time
(tests/benchmarks/throughput.py and pipeline_overhead.py):

- after every task it pauses 0–0.1 s; here the next due task runs at once;
- with nothing due it sleeps `--sleep` seconds, even when a poll is due
  sooner; here it wakes when the next task is due (at most `--sleep` later,
  so new work is still picked up);
- with nothing due it closes its database connection every time (with the
  default CONN_MAX_AGE = 0), so an idle worker reconnected several times a
  second; here the connection is kept and closed only if it stopped working.
"""

import logging
import signal
import threading
import time
from datetime import timedelta

from background_task.management.commands import process_tasks
from background_task.models import Task
from background_task.tasks import autodiscover
from background_task.utils import SignalManager
from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Min
from django.utils import autoreload, timezone

from scripts import workers
from scripts.signals import worker_idle_hourly

log = logging.getLogger(__name__)


def seconds_until_next_task(queue, longest, names):
    """Seconds until the earliest task this worker knows is due, or a lock ends (at least 10 ms, at most `longest`).

    A lock ends when its holder stops beating (scripts.workers): waking then, rather than up to
    `longest` later, is what makes a killed worker's step run again WORKER_STALE_SECONDS after it died.
    """
    now = timezone.now()

    def known(tasks):
        tasks = tasks.filter(failed_at=None, task_name__in=names)
        return tasks.filter(queue=queue) if queue else tasks

    due = known(Task.objects.unlocked(now)).aggregate(due=Min("run_at"))["due"]
    locked_since = known(Task.objects.filter(locked_by__isnull=False)).aggregate(at=Min("locked_at"))["at"]
    if locked_since is not None:
        lock_ends = locked_since + timedelta(seconds=settings.MAX_RUN_TIME)
        due = lock_ends if due is None else min(due, lock_ends)
    if due is None:
        return longest
    return max(0.01, min(longest, (due - now).total_seconds()))


# Every worker does housekeeping (upload removes the files crashes left behind) about this often.
CLEANUP_EVERY_SECONDS = 3600


def housekeeping():
    """Tell the apps that keep house (upload removes the files crashes left behind) that now is a good time."""
    try:
        for receiver, result in worker_idle_hourly.send_robust(sender=None):
            if isinstance(result, Exception):  # never let housekeeping stop the worker: the next hour tries again
                log.error("Housekeeping by %s failed", getattr(receiver, "__qualname__", receiver),
                          exc_info=(type(result), result, result.__traceback__))
    finally:
        connection.close()  # this thread's own




class Command(process_tasks.Command):
    housekeeper = None  # the thread of the last housekeeping

    def handle(self, *args, **options):
        self.sig_manager = SignalManager()
        if options.get("dev"):
            autoreload.run_with_reloader(self.run, *args, **options)
        else:
            self.run(*args, **options)

    def run(self, *args, **options):
        duration = options.get("duration") or 0
        sleep = options.get("sleep", 5.0)
        queue = options.get("queue")
        if options.get("dev"):
            autoreload.raise_last_exception()
        if options.get("log_std"):
            process_tasks._configure_log_std()
        autodiscover()
        if threading.current_thread() is threading.main_thread():  # not under --dev's reloader
            signal.signal(signal.SIGTERM, self._stop)
            signal.signal(signal.SIGINT, self._stop)
        heartbeat = workers.Heartbeat().start()
        self._tasks._runner = workers.TaskRunner(heartbeat.name)
        log.info("Worker %s started", heartbeat.name)
        try:
            self._loop(duration, sleep, queue)
            if self.sig_manager.kill_now:
                log.info("Worker %s stopped after its task, as asked", heartbeat.name)
        except KeyboardInterrupt:
            log.info("Worker %s stopped; its work goes to the other workers", heartbeat.name)
        finally:
            heartbeat.stop()

    def _stop(self, signum, frame):
        """SIGTERM (systemd, docker, a supervisor) and Ctrl-C: inside a step, stop at once and hand the step
        over; elsewhere at the end of the task (as SIGTSTP does); a second one stops at once anyway."""
        if workers.in_step or self.sig_manager.kill_now:
            raise KeyboardInterrupt
        self.sig_manager.kill_now = True

    def _loop(self, duration, sleep, queue):
        started = time.time()
        next_cleanup = time.monotonic()
        while duration <= 0 or time.time() - started <= duration:
            if self.sig_manager.kill_now:
                break
            if self._tasks.run_next_task(queue):
                continue
            if time.monotonic() >= next_cleanup and not (self.housekeeper and self.housekeeper.is_alive()):
                # When idle, so a restarted worker takes over first; in a thread, so a walk over a large
                # media folder does not hold up steps that fall due meanwhile.
                next_cleanup = time.monotonic() + CLEANUP_EVERY_SECONDS
                self.housekeeper = threading.Thread(target=housekeeping, name="equestria-housekeeping", daemon=True)
                self.housekeeper.start()
            if connection.connection is not None and not connection.is_usable():
                connection.close()  # the database went away; the next query reconnects
            try:
                wait = seconds_until_next_task(queue, sleep, list(self._tasks._tasks))
            except DatabaseError:  # unreachable: say so, wait as the library would
                log.warning("Could not look at the task queue; retrying in %s s", sleep, exc_info=True)
                connection.close()
                wait = sleep
            time.sleep(wait)
