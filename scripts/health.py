"""Queue health: what an operator watches (queued, running and failed work, the oldest running process)."""

from datetime import timedelta

from background_task.models import Task
from django.db.models import Count, Min
from django.utils import timezone

from scripts.models import Process


def queue_health(now=None):
    now = now or timezone.now()
    tasks = Task.objects.all()
    active = Process.objects.exclude(status__in=Process.FINISHED)
    oldest = active.aggregate(oldest=Min("created_at"))["oldest"]
    since = now - timedelta(hours=24)
    return {
        "tasks_queued": tasks.filter(locked_by__isnull=True, failed_at__isnull=True).count(),
        "tasks_due": tasks.filter(locked_by__isnull=True, failed_at__isnull=True, run_at__lte=now).count(),
        "tasks_running": tasks.filter(locked_by__isnull=False).count(),
        "tasks_failed": tasks.filter(failed_at__isnull=False).count(),
        "processes_by_status": dict(Process.objects.values_list("status").annotate(n=Count("id")).order_by()),
        "oldest_active_process_seconds": int((now - oldest).total_seconds()) if oldest else None,
        "failures_last_24h_by_script": dict(
            Process.objects.filter(status=Process.Status.FAILED, finished_at__gte=since)
            .values_list("script__name").annotate(n=Count("id")).order_by()
        ),
    }
