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


def test_queue_health_page_in_the_admin_shows_the_same_figures(client, admin_user):
    from django.urls import reverse

    script = Script.objects.create(name="aligner", url="http://127.0.0.1:9/")
    Process.objects.create(script=script, output_folder="y", status="failed", finished_at=timezone.now())
    client.force_login(admin_user)
    changelist = client.get(reverse("admin:scripts_process_changelist")).content.decode()
    url = reverse("admin:scripts_process_queue_health")
    assert f'href="{url}"' in changelist
    page = client.get(url).content.decode()
    assert "Queue health" in page
    assert "failed 1" in page and "aligner: 1" in page


def test_queue_health_page_is_for_staff_who_may_view_processes(client, alice):
    from django.contrib.auth.models import Permission
    from django.urls import reverse

    url = reverse("admin:scripts_process_queue_health")
    client.force_login(alice)  # a researcher: not staff
    assert client.get(url)["Location"].startswith(reverse("admin:login"))
    alice.is_staff = True
    alice.save()
    assert client.get(url).status_code == 403  # staff, but may not view processes
    alice.user_permissions.add(Permission.objects.get(codename="view_process"))
    assert client.get(url).status_code == 200
