"""The task queue's history is purged by the workers' hourly housekeeping (scripts.housekeeping)."""

from datetime import timedelta

import pytest
from background_task.models import CompletedTask
from django.utils import timezone

from scripts.housekeeping import BATCH, purge_completed_tasks
from scripts.signals import worker_idle_hourly

pytestmark = pytest.mark.django_db


def completed(days_ago, count=1, **fields):
    run_at = timezone.now() - timedelta(days=days_ago)
    CompletedTask.objects.bulk_create([
        CompletedTask(task_name="scripts.tasks.advance_process", task_params="[[1], {}]", task_hash=f"h{days_ago}-{n}",
                      run_at=run_at, **fields)
        for n in range(count)
    ])


def test_the_hourly_housekeeping_deletes_completed_tasks_older_than_the_setting_and_keeps_the_recent(settings):
    settings.COMPLETED_TASKS_KEEP_DAYS = 30
    completed(31, count=3)
    completed(40, failed_at=timezone.now() - timedelta(days=40), last_error="Traceback …")
    completed(29, count=2)
    worker_idle_hourly.send_robust(sender=None)
    assert CompletedTask.objects.count() == 2
    assert all(t.run_at > timezone.now() - timedelta(days=30) for t in CompletedTask.objects.all())


def test_a_backlog_larger_than_a_batch_is_deleted_entirely(settings):
    settings.COMPLETED_TASKS_KEEP_DAYS = 7
    completed(8, count=BATCH * 2 + 5)
    completed(1, count=4)
    assert purge_completed_tasks() == BATCH * 2 + 5
    assert CompletedTask.objects.count() == 4


def test_zero_days_keeps_every_completed_task(settings):
    settings.COMPLETED_TASKS_KEEP_DAYS = 0
    completed(400, count=2)
    assert purge_completed_tasks() == 0
    assert CompletedTask.objects.count() == 2
