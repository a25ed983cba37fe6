"""The background task that drives a CLAM process (django-background-tasks, run by `manage.py process_tasks`).

Polling is a chain of short tasks, each scheduling the next, rather than one
task that sleeps: a killed worker loses one step, not a whole job.
"""

from datetime import timedelta

from background_task import background
from django.conf import settings

from scripts.runner import advance, delete_remote_later


@background(schedule=0)
def advance_process(process_id):
    """Do the next step of a process and queue the one after it."""
    delay = advance(process_id)
    if delay is not None:
        advance_process(process_id, schedule=timedelta(seconds=delay))


# Its name before issue 15, kept as a second name of the same task: a worker runs only the names it
# knows, and the queue holds tasks under the name they were queued with, by an earlier version or, during
# an upgrade, by a worker still finishing its step with the old code (so renaming the rows in a data
# migration would not be enough). The steps after such a task are queued under the new name.
background(schedule=0, name="scripts.tasks.update_script")(advance_process.task_function)


def schedule_process(process):
    """Queue the first step of a process (call inside the transaction that created it)."""
    advance_process(str(process.pk), schedule=timedelta(0))


@background(schedule=0)
def delete_clam_project(process_id, attempt=1):
    """Delete an ended process's CLAM project that its server did not let us delete at the time."""
    if not delete_remote_later(process_id) and attempt < settings.PROCESS_MAX_ATTEMPTS:
        delay = min(settings.PROCESS_RETRY_MAX_SECONDS, 2**attempt * settings.CLAM_READ_TIMEOUT)
        delete_clam_project(process_id, attempt + 1, schedule=timedelta(seconds=delay))
