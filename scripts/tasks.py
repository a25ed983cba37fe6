"""The background task that drives a CLAM process (django-background-tasks, run by `manage.py process_tasks`).

Polling is a chain of short tasks, each scheduling the next, rather than one
task that sleeps: a killed worker loses one step, not a whole job.
"""

from datetime import timedelta

from background_task import background
from django.conf import settings

from scripts.runner import advance, delete_remote_later


@background(schedule=0)
def update_script(process_id):
    delay = advance(process_id)
    if delay is not None:
        update_script(process_id, schedule=timedelta(seconds=delay))


def schedule_process(process):
    """Queue the first step of a process (call inside the transaction that created it)."""
    update_script(str(process.pk), schedule=timedelta(0))


@background(schedule=0)
def delete_clam_project(process_id, attempt=1):
    """Delete an ended process's CLAM project that its server did not let us delete at the time."""
    if not delete_remote_later(process_id) and attempt < settings.PROCESS_MAX_ATTEMPTS:
        delay = min(settings.PROCESS_RETRY_MAX_SECONDS, 2**attempt * settings.CLAM_READ_TIMEOUT)
        delete_clam_project(process_id, attempt + 1, schedule=timedelta(seconds=delay))
