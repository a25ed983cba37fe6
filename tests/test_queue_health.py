"""The operator's view of the queue."""

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from scripts.models import Process, Script
from scripts.tasks import schedule_process

pytestmark = pytest.mark.django_db


def test_queue_health_reports_tasks_processes_and_failures(capsys):
    script = Script.objects.create(name="aligner", url="http://127.0.0.1:9/")
    old = Process.objects.create(script=script, output_folder="x", status="running")
    Process.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    Process.objects.create(script=script, output_folder="y", status="failed", finished_at=timezone.now())
    schedule_process(old)
    call_command("queue_health", "--json")
    health = json.loads(capsys.readouterr().out)
    assert health["tasks_queued"] == 1 and health["tasks_due"] == 1 and health["tasks_running"] == 0
    assert health["processes_by_status"] == {"running": 1, "failed": 1}
    assert 590 <= health["oldest_active_process_seconds"] <= 700
    assert health["failures_last_24h_by_script"] == {"aligner": 1}
    call_command("queue_health")
    out = capsys.readouterr().out
    assert "processes:      failed 1, running 1" in out and "failed in 24 h: aligner: 1" in out
