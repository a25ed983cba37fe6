"""Keeping the task queue's history bounded: django-background-tasks keeps a CompletedTask row for every
step of every process (a poll of a running CLAM job is one), thousands a day on a busy site, for ever.

Every worker purges rows older than `COMPLETED_TASKS_KEEP_DAYS` about once an hour (the
scripts.signals.worker_idle_hourly housekeeping), in small batches so that a large backlog never holds
the database's write lock long enough to stall the other workers (SQLite has one lock for everything).
"""

import logging
from datetime import timedelta

from background_task.models import CompletedTask
from django.conf import settings
from django.utils import timezone

log = logging.getLogger(__name__)

BATCH = 1000


def purge_completed_tasks(now=None, keep_days=None):
    """Delete the CompletedTask rows run more than `keep_days` ago; returns how many were deleted."""
    keep_days = settings.COMPLETED_TASKS_KEEP_DAYS if keep_days is None else keep_days
    if keep_days <= 0:  # 0 keeps them all, as before this purge existed
        return 0
    before = (now or timezone.now()) - timedelta(days=keep_days)
    deleted = 0
    while ids := list(CompletedTask.objects.filter(run_at__lt=before).order_by("pk").values_list("pk", flat=True)[:BATCH]):
        deleted += CompletedTask.objects.filter(pk__in=ids).delete()[0]
    if deleted:
        log.info("Deleted %d completed tasks older than %d days", deleted, keep_days)
    return deleted


def purge_when_idle(**kwargs):
    """Receiver of scripts.signals.worker_idle_hourly."""
    purge_completed_tasks()
