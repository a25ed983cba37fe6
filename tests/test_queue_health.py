"""The operator's view of the queue: live and dead workers, stale locks, retrying services, the oldest
stuck item, an exit status for monitors; the same in the admin; and the hint a researcher sees on a
run page while its step waits for a worker.

Workers, tasks and processes are rows written by the test (the real killed workers are in
tests/test_worker_recovery.py): health reads only the database.
"""

import os
import json
import os
import re
import uuid
from datetime import timedelta

import pytest
from background_task.models import CompletedTask, Task
from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from pipelines.models import Run
from scripts.health import queue_health
from scripts.models import Process, Script, Worker
from scripts.tasks import advance_process, schedule_process
from tests.factories import make_project

pytestmark = pytest.mark.django_db

BOUND = settings.WORKER_STALE_SECONDS


def ago(seconds):
    return timezone.now() - timedelta(seconds=seconds)


def a_worker(seen_seconds_ago=1, pid=None, started_seconds_ago=3600):
    pid = pid or int(uuid.uuid4().int % 30000) + 2
    worker = Worker.objects.create(name=f"host:{pid}:{uuid.uuid4().hex[:6]}", hostname="host", pid=pid,
                                   seen_at=ago(seen_seconds_ago))
    Worker.objects.filter(pk=worker.pk).update(started_at=ago(started_seconds_ago))  # auto_now_add on create
    return worker


def a_process(script_name="aligner", **fields):
    script, _ = Script.objects.get_or_create(name=script_name, defaults={"url": "http://127.0.0.1:9/"})
    return Process.objects.create(script=script, output_folder=f"x/{uuid.uuid4().hex}", **fields)


def a_task(process, *, due_seconds_ago=0, holder=None, locked_seconds_ago=0):
    advance_process(str(process.pk))
    task = Task.objects.order_by("-pk").first()
    Task.objects.filter(pk=task.pk).update(
        run_at=ago(due_seconds_ago), locked_by=holder, locked_at=ago(locked_seconds_ago) if holder else None,
    )
    return task


def leased(process, worker):
    Process.objects.filter(pk=process.pk).update(leased_by=worker.name, lease_until=timezone.now() + timedelta(seconds=BOUND))


def command(*args):
    """Output and exit status of `manage.py queue_health`."""
    from io import StringIO

    out = StringIO()
    try:
        call_command("queue_health", *args, stdout=out)
    except SystemExit as exc:
        return out.getvalue(), exc.code
    return out.getvalue(), 0


def test_queue_health_reports_tasks_processes_and_failures():
    a_worker()
    old = a_process(status="running")
    Process.objects.filter(pk=old.pk).update(created_at=ago(600))
    a_process(status="failed", finished_at=timezone.now())
    schedule_process(old)
    out, _ = command("--json")
    health = json.loads(out)
    assert health["tasks_queued"] == 1 and health["tasks_due"] == 1 and health["tasks_running"] == 0
    assert health["processes_by_status"] == {"running": 1, "failed": 1}
    assert 590 <= health["oldest_active_process_seconds"] <= 700
    assert health["failures_last_24h_by_script"] == {"aligner": 1}
    out, _ = command()
    assert "processes:      failed 1, running 1" in out and "failed in 24 h: aligner: 1" in out


def test_live_workers_are_told_from_dead_ones_with_what_they_run():
    busy, idle = a_worker(seen_seconds_ago=2, pid=11), a_worker(seen_seconds_ago=0, pid=12)
    dead = a_worker(seen_seconds_ago=BOUND + 100, pid=13)
    process = a_process(status="running", attempts=1)
    task = a_task(process, holder=busy.name, locked_seconds_ago=2)
    leased(process, busy)
    health = queue_health()
    live = {w["name"]: w for w in health["workers"]["live"]}
    assert set(live) == {busy.name, idle.name}
    assert live[busy.name] == {"name": busy.name, "hostname": "host", "pid": 11, "seen_seconds_ago": 2,
                               "task_id": task.pk, "process_id": str(process.pk), "lease_left_over": False,
                               "late": False, "dead_in_seconds": None}
    assert live[idle.name]["task_id"] is None and live[idle.name]["process_id"] is None
    assert health["workers"]["dead"] == [{"name": dead.name, "hostname": "host", "pid": 13, "seen_seconds_ago": BOUND + 100,
                                          "task_id": None, "process_id": None}]
    assert health["tasks_running"] == 1 and health["stale_locks"] == []
    assert health["retrying_by_service"] == {}  # a first attempt on a live worker is no retry
    assert health["status"] == "ok" and health["problems"] == []  # it holds nothing: listed, no problem
    out, status = command()
    assert status == 0
    assert f"  {busy.name} (pid 11 on host), seen 2 s ago: task {task.pk}, process {process.pk}" in out
    assert f"  {idle.name} (pid 12 on host), seen 0 s ago: idle" in out
    assert f"  {dead.name} (pid 13 on host), last seen {BOUND + 100} s ago: holds nothing" in out


def test_workers_that_died_more_than_an_hour_ago_are_listed_but_no_longer_a_warning():
    a_worker()
    a_worker(seen_seconds_ago=2 * 3600)
    health = queue_health()
    assert len(health["workers"]["dead"]) == 1
    assert health["status"] == "ok" and health["problems"] == []
    assert command() == (command()[0], 0)


def test_a_dead_workers_lock_is_a_stale_lock_not_running_work():
    a_worker()  # another worker is alive to take it over
    dead = a_worker(seen_seconds_ago=10)  # its last beat also refreshed its lock
    Worker.objects.filter(pk=dead.pk).update(seen_at=ago(BOUND + 1))
    process = a_process(status="running", attempts=1)
    task = a_task(process, holder=dead.name, locked_seconds_ago=10)
    health = queue_health()
    assert health["tasks_running"] == 0
    assert health["stale_locks"] == [{"task_id": task.pk, "task_name": "scripts.tasks.advance_process",
                                      "holder": dead.name, "locked_seconds_ago": 10,
                                      "free_in_seconds": BOUND - 10}]
    assert (f"Task {task.pk} (scripts.tasks.advance_process) is locked by {dead.name}, which stopped: "
            f"taken over within {BOUND - 10} s.") in health["problems"]
    assert health["oldest_stuck"]["kind"] == "task" and health["oldest_stuck"]["id"] == task.pk
    assert health["status"] == "warning"
    assert not any(p.startswith("Stuck") for p in health["problems"])  # the stale lock's own sentence says it
    out, status = command()
    assert status == 1
    assert f"  task {task.pk} (scripts.tasks.advance_process) held by {dead.name} since 10 s, free in {BOUND - 10} s" in out
    assert "tasks running:  0" in out


def test_work_waiting_with_no_live_worker_is_critical_in_both_modes():
    a_worker(seen_seconds_ago=BOUND + 5)
    schedule_process(a_process())
    health = queue_health()
    assert health["status"] == "critical"
    assert health["problems"][0] == "No worker is alive and 1 task(s) wait for one: start the workers (manage.py process_tasks)."
    out, status = command("--json")
    assert status == 2 and json.loads(out)["status"] == "critical"
    out, status = command()
    assert status == 2 and out.startswith("status:         CRITICAL\n  - No worker is alive and 1 task(s)")


def test_no_worker_and_nothing_to_do_is_a_warning():
    health = queue_health()
    assert health["status"] == "warning"
    assert health["problems"] == ["No worker is alive: new runs will wait until one starts (manage.py process_tasks)."]
    assert command("--json")[1] == 1


def test_a_healthy_queue_exits_zero_and_shows_the_recovery_bound():
    worker = a_worker()
    process = a_process(status="running", attempts=1)
    a_task(process, holder=worker.name)
    leased(process, worker)
    out, status = command("--json")
    health = json.loads(out)
    assert status == 0 and health["status"] == "ok" and health["problems"] == []
    assert health["recovery_bound_seconds"] == BOUND
    out, status = command()
    assert status == 0
    assert out.startswith("status:         OK\n")
    assert f"recovery bound: a dead worker's step is taken over within {BOUND} s" in out


def test_processes_retrying_are_grouped_by_service_with_their_reasons():
    a_worker()
    down = "cannot connect to http://127.0.0.1:9/ (connection refused)"
    a_process("aligner", status="queued", attempts=2, detail=down, message=f"retrying (attempt 2): {down}")
    a_process("aligner", status="running", attempts=1, detail=down)
    a_process("aligner", status="running", attempts=2)  # its worker died during the step
    a_process("g2p", status="running", attempts=3, detail="the service answered 503 (Service Unavailable)")
    a_process("g2p", status="running", attempts=1)  # a first attempt going on
    a_process("g2p", status="failed", attempts=0, detail=down, finished_at=timezone.now())  # over
    health = queue_health()
    assert health["retrying_by_service"] == {
        "aligner": {"processes": 3, "reasons": [down, "the worker on it stopped during the step"]},
        "g2p": {"processes": 1, "reasons": ["the service answered 503 (Service Unavailable)"]},
    }
    assert health["status"] == "warning"
    assert (f"3 process(es) of aligner retrying: {down}; the worker on it stopped during the step. "
            "Check that the service runs and answers.") in health["problems"]
    out, status = command()
    assert status == 1
    assert f"  aligner: 3 process(es): {down}; the worker on it stopped during the step" in out
    assert "  g2p: 1 process(es): the service answered 503 (Service Unavailable)" in out


def test_the_oldest_stuck_item_is_the_one_waiting_longest_for_work_that_should_have_happened():
    worker = a_worker()
    a_worker()  # idle
    pause = max(settings.PROCESS_POLL_MAX_SECONDS, settings.PROCESS_RETRY_MAX_SECONDS)
    # Held by a live worker (a long upload): not stuck however old its row.
    busy = a_process(status="uploading", attempts=1)
    a_task(busy, holder=worker.name)
    leased(busy, worker)
    # Due for less than the grace: a busy moment, not stuck.
    a_task(a_process(), due_seconds_ago=BOUND)
    assert queue_health()["oldest_stuck"] is None
    due = a_task(a_process(), due_seconds_ago=3 * BOUND)
    stuck = queue_health()["oldest_stuck"]
    assert stuck["kind"] == "task" and stuck["id"] == due.pk and 3 * BOUND <= stuck["seconds"] <= 3 * BOUND + 5
    assert stuck["why"] == "scripts.tasks.advance_process is due and 1 of the 2 live worker(s) are idle but did not take it"
    # A process nobody moved on for far longer than any step rests (its task was lost or given up).
    lost = a_process(status="running")
    Process.objects.filter(pk__in=[lost.pk, busy.pk]).update(updated_at=ago(pause + 10 * BOUND))
    health = queue_health()
    assert health["oldest_stuck"]["kind"] == "process" and health["oldest_stuck"]["id"] == str(lost.pk)
    assert 10 * BOUND <= health["oldest_stuck"]["seconds"] <= 10 * BOUND + 5
    assert health["oldest_stuck"]["why"].startswith(
        f"a process of aligner (running) unchanged for {pause + 10 * BOUND} s; no step should leave it longer than"
    )
    # Stuck for more than four recovery bounds: critical, even with a live worker.
    assert health["status"] == "critical"
    assert health["problems"][0].startswith(f"Stuck for {10 * BOUND}") and health["problems_critical"] == 1
    out, status = command()
    assert status == 2 and f"oldest stuck:   process {lost.pk}, {10 * BOUND}" in out


def test_due_tasks_behind_workers_all_busy_are_a_backlog_not_stuck():
    worker = a_worker()
    upload = a_process(status="uploading", attempts=1)  # a 3-minute upload
    a_task(upload, holder=worker.name, locked_seconds_ago=1)
    leased(upload, worker)
    Process.objects.filter(pk=upload.pk).update(updated_at=ago(180))
    a_task(a_process(), due_seconds_ago=5 * BOUND)
    a_task(a_process(), due_seconds_ago=BOUND)
    health = queue_health()
    assert health["oldest_stuck"] is None
    assert health["backlog"] == {"tasks": 2, "busy_workers": 1, "oldest_seconds": 5 * BOUND}
    assert health["status"] == "warning"
    assert health["problems"] == [
        f"2 task(s) wait for a free worker; all 1 live worker(s) are busy (the oldest has waited {5 * BOUND} s): "
        "more workers (manage.py process_tasks) would shorten the wait."
    ]
    out, status = command()
    assert status == 1
    assert f"backlog:        2 task(s) wait for a free worker, the oldest for {5 * BOUND} s" in out
    assert "oldest stuck:   none" in out


def test_a_due_task_an_idle_worker_leaves_is_stuck_from_when_that_worker_became_free():
    busy, idle = a_worker(), a_worker()
    upload = a_process(status="uploading", attempts=1)
    a_task(upload, holder=busy.name)
    leased(upload, busy)
    due = a_task(a_process(), due_seconds_ago=5 * BOUND)
    # The idle one finished its last task a moment ago: it is about to take the due one.
    CompletedTask.objects.create(task_name="scripts.tasks.advance_process", task_params="[[], {}]", run_at=ago(60),
                                 locked_by=idle.name, locked_at=ago(5))
    health = queue_health()
    assert health["oldest_stuck"] is None and health["backlog"] is None
    assert health["status"] == "ok"
    # Idle for longer than the grace and it still did not take it: stuck, critical after four bounds.
    CompletedTask.objects.filter(locked_by=idle.name).update(locked_at=ago(4 * BOUND + 10))
    health = queue_health()
    assert health["oldest_stuck"]["id"] == due.pk and 4 * BOUND + 10 <= health["oldest_stuck"]["seconds"] <= 4 * BOUND + 15
    assert health["oldest_stuck"]["why"] == (
        "scripts.tasks.advance_process is due and 1 of the 2 live worker(s) are idle but did not take it")
    assert health["status"] == "critical" and health["problems"][0].startswith(f"Stuck for {health['oldest_stuck']['seconds']} s: ")


def test_a_lease_a_live_worker_keeps_without_a_task_is_stuck_and_said_so():
    worker = a_worker(pid=41)
    process = a_process(status="running", attempts=1)
    leased(process, worker)  # its heartbeat renews the lease; no task of its carries the process on
    a_task(a_process(), holder=worker.name)  # a task for another process
    health = queue_health()
    assert health["oldest_stuck"] is None  # a moment after a claim: not yet
    Process.objects.filter(pk=process.pk).update(updated_at=ago(3 * BOUND))
    health = queue_health()
    assert health["workers"]["live"][0]["lease_left_over"] is True
    stuck = health["oldest_stuck"]
    assert stuck["kind"] == "process" and stuck["id"] == str(process.pk)
    assert stuck["why"] == (f"a process of aligner (running) is held by the live worker {worker.name}, which runs no "
                            "task for it: no other worker may take it while that one lives")
    assert health["status"] == "warning"
    out, _ = command()
    task = Task.objects.get(locked_by=worker.name)
    assert (f"  {worker.name} (pid 41 on host), seen 1 s ago: task {task.pk}; also holds the lease of process "
            f"{process.pk} without running a task for it (left over)") in out
    Task.objects.filter(pk=task.pk).delete()
    out, _ = command()
    assert (f"seen 1 s ago: no task; holds the lease of process {process.pk} without running a task for it "
            "(left over)") in out


def test_only_a_dead_worker_that_still_holds_work_is_a_warning():
    alive = a_worker()
    holder, empty = a_worker(seen_seconds_ago=BOUND + 5, pid=51), a_worker(seen_seconds_ago=BOUND + 5, pid=52)
    process = a_process(status="running", attempts=1)
    task = a_task(process, holder=holder.name, locked_seconds_ago=BOUND + 5)
    Process.objects.filter(pk=process.pk).update(leased_by=holder.name, lease_until=ago(5))
    health = queue_health()
    dead = {w["name"]: w for w in health["workers"]["dead"]}
    assert (dead[holder.name]["task_id"], dead[holder.name]["process_id"]) == (task.pk, str(process.pk))
    assert (dead[empty.name]["task_id"], dead[empty.name]["process_id"]) == (None, None)
    assert f"Worker {holder.name} (pid 51 on host) stopped without handing over its work {BOUND + 5} s ago " \
        "(killed, out of memory, or its machine failed): see its log for why." in health["problems"]
    assert not any(empty.name in p for p in health["problems"])  # listed, but it left nothing to wait for
    out, _ = command()
    assert f"last seen {BOUND + 5} s ago: still holds task {task.pk}, process {process.pk}" in out
    assert f"  {empty.name} (pid 52 on host), last seen {BOUND + 5} s ago: holds nothing" in out
    # A live worker took the step over: both dead rows stay listed (for a day), the status is ok again.
    Task.objects.filter(pk=task.pk).update(locked_by=alive.name, locked_at=timezone.now())
    leased(process, alive)
    health = queue_health()
    assert {w["name"] for w in health["workers"]["dead"]} == {holder.name, empty.name}
    assert health["status"] == "ok" and health["problems"] == []
    out, status = command()
    assert status == 0 and f"  {holder.name} (pid 51 on host), last seen {BOUND + 5} s ago: holds nothing" in out


LATE = 2 * settings.WORKER_HEARTBEAT_SECONDS + 2  # two heartbeats missed, and the second of margin


def test_a_worker_that_missed_two_heartbeats_is_late_a_warning_and_not_counted_as_running():
    on_time = a_worker(seen_seconds_ago=2 * settings.WORKER_HEARTBEAT_SECONDS, pid=61)
    late = a_worker(seen_seconds_ago=LATE, pid=62)
    process = a_process(status="running", attempts=1)
    task = a_task(process, holder=late.name, locked_seconds_ago=LATE)
    Process.objects.filter(pk=process.pk).update(leased_by=late.name, lease_until=ago(LATE - BOUND))
    a_task(a_process(status="running", attempts=1), holder=on_time.name, locked_seconds_ago=1)
    out, status = command("--json")
    health = json.loads(out)
    live = {w["name"]: w for w in health["workers"]["live"]}
    assert (live[late.name]["late"], live[late.name]["dead_in_seconds"]) == (True, BOUND - LATE)
    assert (live[on_time.name]["late"], live[on_time.name]["dead_in_seconds"]) == (False, None)
    assert health["tasks_running"] == 1 and health["tasks_on_late_workers"] == 1
    assert status == 1 and health["status"] == "warning"
    assert health["problems"] == [f"Worker {late.name} (pid 62 on host) not heard from for {LATE} s; taken for dead "
                                  f"(and its work taken over) in {BOUND - LATE} s."]
    out, status = command()
    assert status == 1
    assert (f"  {late.name} (pid 62 on host), seen {LATE} s ago: LATE: not heard from for {LATE} s, taken for dead "
            f"in {BOUND - LATE} s; task {task.pk}, process {process.pk}") in out
    assert "tasks running:  1 (and 1 on late workers)" in out


def test_a_stale_lock_with_no_worker_alive_waits_for_one_to_start():
    dead = a_worker(seen_seconds_ago=BOUND + 1)
    process = a_process(status="running", attempts=1)
    task = a_task(process, holder=dead.name, locked_seconds_ago=10)
    health = queue_health()
    assert health["status"] == "critical"
    assert health["problems"][0] == ("No worker is alive and 1 task(s) wait for one: start the workers "
                                     "(manage.py process_tasks).")
    assert (f"Task {task.pk} (scripts.tasks.advance_process) is locked by {dead.name}, which stopped: free in "
            f"{BOUND - 10} s, but waits for a worker to start.") in health["problems"]
    assert not any("taken over within" in p for p in health["problems"])
    Task.objects.filter(pk=task.pk).update(locked_at=ago(BOUND + 1))
    assert (f"Task {task.pk} (scripts.tasks.advance_process) is locked by {dead.name}, which stopped: free now, "
            "but waits for a worker to start.") in queue_health()["problems"]


def test_tasks_the_queue_gave_up_on_count_as_failed_for_a_day():
    a_worker()
    for hours in (1, 30):
        CompletedTask.objects.create(task_name="scripts.tasks.advance_process", task_params="[[], {}]", run_at=ago(3600 * hours),
                                     attempts=25, failed_at=ago(3600 * hours), last_error="boom")
    health = queue_health()
    assert health["tasks_failed"] == 1 and health["status"] == "warning"
    assert health["problems"] == ["1 task(s) given up by the queue in the last 24 h: see Background tasks → "
                                  "Completed tasks in the admin for their errors."]


# The admin

def test_queue_health_page_in_the_admin_shows_the_same(client, admin_user):
    live = a_worker(pid=21)
    dead = a_worker(seen_seconds_ago=BOUND + 10, pid=22)
    process = a_process(status="running", attempts=2, detail="cannot connect (connection refused)")
    task = a_task(process, holder=dead.name, locked_seconds_ago=BOUND + 10)
    a_process(status="failed", finished_at=timezone.now())
    client.force_login(admin_user)
    changelist = client.get(reverse("admin:scripts_process_changelist")).content.decode()
    url = reverse("admin:scripts_process_queue_health")
    assert f'href="{url}"' in changelist
    page = client.get(url).content.decode()
    assert "Status: WARNING" in page and '<li class="error">' not in page
    assert f"Task {task.pk} (scripts.tasks.advance_process) is locked by {dead.name}, which stopped: free to take over now." in page
    assert f"<td>{live.name}</td><td>host</td><td>21</td>" in page
    assert f"<td>{dead.name}</td><td>host</td><td>22</td>" in page
    assert "Dead: stopped without saying so (1)" in page and f"<td>task {task.pk}</td>" in page  # still holds it
    assert '<td id="backlog">none</td>' in page
    assert f"task {task.pk} (scripts.tasks.advance_process) held by {dead.name}, free now" in page
    assert "aligner: 1 process(es): cannot connect (connection refused)" in page
    assert f"Recovery bound: a dead worker's step is taken over within {BOUND} s" in page
    assert "failed 1" in page and "aligner: 1" in page
    assert "Traceback" not in page


def test_queue_health_page_shows_a_late_worker_apart(client, admin_user):
    late = a_worker(seen_seconds_ago=LATE, pid=71)
    task = a_task(a_process(status="running", attempts=1), holder=late.name, locked_seconds_ago=LATE)
    client.force_login(admin_user)
    page = client.get(reverse("admin:scripts_process_queue_health")).content.decode()
    assert "Status: WARNING" in page
    assert (f"<td>{late.name}</td><td>host</td><td>71</td><td>{LATE} s ago</td>\n        <td><strong class=\"late\">late: "
            f"not heard from for {LATE} s, taken for dead in {BOUND - LATE} s;</strong> task {task.pk}</td>") in page
    assert "<td>0 (and 1 on late workers)</td>" in page


def test_queue_health_page_is_for_staff_who_may_view_processes(client, alice):
    url = reverse("admin:scripts_process_queue_health")
    client.force_login(alice)  # a researcher: not staff
    assert client.get(url)["Location"].startswith(reverse("admin:login"))
    alice.is_staff = True
    alice.save()
    assert client.get(url).status_code == 403  # staff, but may not view processes
    alice.user_permissions.add(Permission.objects.get(codename="view_process"))
    assert client.get(url).status_code == 200


def test_the_worker_admin_lists_workers_alive_or_not_read_only(client, admin_user):
    live, dead = a_worker(pid=31), a_worker(seen_seconds_ago=BOUND + 1, pid=32)
    client.force_login(admin_user)
    page = client.get(reverse("admin:scripts_worker_changelist")).content.decode()
    rows = {name: row for name, row in re.findall(r"(host:3[12]:\w+)(.*?)</tr>", page, re.S)}
    assert 'alt="True"' in rows[live.name] and 'alt="False"' in rows[dead.name]
    assert "<td class=\"field-pid\">31</td>" in rows[live.name]
    assert client.get(reverse("admin:scripts_worker_add")).status_code == 403
    change = client.get(reverse("admin:scripts_worker_change", args=[live.pk])).content.decode()
    assert 'name="name"' not in change  # read-only
    assert "delete_selected" not in page and "Delete" not in change
    assert client.get(reverse("admin:scripts_worker_delete", args=[dead.pk])).status_code == 403
    response = client.post(reverse("admin:scripts_worker_changelist"),
                           {"action": "delete_selected", "_selected_action": [dead.pk], "post": "yes"})
    assert response.status_code in (200, 302)  # the admin ignores an action it does not offer
    assert Worker.objects.filter(pk=dead.pk).exists()


def test_the_worker_admin_is_for_staff_who_may_view_workers(client, alice):
    url = reverse("admin:scripts_worker_changelist")
    client.force_login(alice)
    assert client.get(url)["Location"].startswith(reverse("admin:login"))
    alice.is_staff = True
    alice.save()
    assert client.get(url).status_code == 403
    alice.user_permissions.add(Permission.objects.get(codename="view_worker"))
    assert client.get(url).status_code == 200


def test_the_task_admin_says_whether_a_tasks_holder_is_alive(client, admin_user):
    live, dead = a_worker(), a_worker(seen_seconds_ago=BOUND + 1)
    held = a_task(a_process(), holder=live.name)
    orphaned = a_task(a_process(), holder=dead.name, locked_seconds_ago=BOUND + 1)
    free = a_task(a_process())
    client.force_login(admin_user)
    page = client.get(reverse("admin:background_task_task_changelist")).content.decode()
    assert "holder alive" in page.lower() and "pid running" not in page.lower()
    cells = dict(re.findall(r'/task/(\d+)/change/.*?<td class="field-holder_alive">(.*?)</td>', page, re.S))
    assert 'alt="True"' in cells[str(held.pk)]
    assert 'alt="False"' in cells[str(orphaned.pk)]
    assert 'alt="None"' in cells[str(free.pk)]  # no holder


# The run page

@pytest.fixture
def aligning(alice):
    project = make_project(alice)
    process = Process.objects.create(script=project.pipeline.fa_script, output_folder=f"{project.folder}/runs/t/fa",
                                     status="running", attempts=1)
    run = Run.objects.create(project=project, pipeline=project.pipeline, stage=Run.Stage.ALIGNING, fa_process=process)
    return run


def status_block(client, run):
    response = client.get(reverse("pipelines-run-status", kwargs={"project_id": run.project.pk, "run_id": run.pk}))
    assert response.status_code == 200
    return response.content.decode()


def test_the_run_page_says_nothing_while_a_live_worker_runs_the_step(alice_client, aligning):
    worker = a_worker()
    a_task(aligning.fa_process, holder=worker.name)
    leased(aligning.fa_process, worker)
    assert 'id="run-waiting"' not in status_block(alice_client, aligning)


def test_the_run_page_says_when_the_worker_on_the_step_stopped_and_another_takes_over(alice_client, aligning):
    a_worker()
    dead = a_worker(seen_seconds_ago=BOUND - 10)
    Worker.objects.filter(pk=dead.pk).update(seen_at=ago(BOUND + 1))
    a_task(aligning.fa_process, holder=dead.name, locked_seconds_ago=10)
    # Its last beat, 10 s ago, renewed its lease for the stale time.
    Process.objects.filter(pk=aligning.fa_process.pk).update(leased_by=dead.name, lease_until=ago(10 - BOUND))
    page = status_block(alice_client, aligning)
    assert re.search(r"The worker doing this stopped; another takes over within (\d+) seconds\.", page)
    wait = int(re.search(r"within (\d+) seconds", page).group(1))
    assert BOUND - 12 <= wait <= BOUND
    run_page = alice_client.get(reverse("pipelines-run", kwargs={"project_id": aligning.project.pk, "run_id": aligning.pk}))
    assert "The worker doing this stopped; another takes over within" in run_page.content.decode()


def test_the_run_page_says_so_as_soon_as_the_worker_on_the_step_is_late(alice_client, aligning):
    a_worker()  # idle, to take it over
    late = a_worker(seen_seconds_ago=LATE)
    a_task(aligning.fa_process, holder=late.name, locked_seconds_ago=LATE)
    Process.objects.filter(pk=aligning.fa_process.pk).update(leased_by=late.name, lease_until=ago(LATE - BOUND))
    assert (f"The worker doing this has not answered for {LATE} seconds; if it stopped, another takes over within "
            f"{BOUND - LATE} seconds.") in status_block(alice_client, aligning)
    # One heartbeat missed is no news.
    Worker.objects.filter(pk=late.pk).update(seen_at=ago(settings.WORKER_HEARTBEAT_SECONDS + 1))
    assert 'id="run-waiting"' not in status_block(alice_client, aligning)


def test_the_run_page_promises_no_takeover_when_the_late_worker_is_the_only_one(alice_client, aligning):
    late = a_worker(seen_seconds_ago=LATE)
    a_task(aligning.fa_process, holder=late.name, locked_seconds_ago=LATE)
    Process.objects.filter(pk=aligning.fa_process.pk).update(leased_by=late.name, lease_until=ago(LATE - BOUND))
    assert (f"The worker doing this has not answered for {LATE} seconds; if it stopped, it waits for another worker "
            "to start.") in status_block(alice_client, aligning)


def test_the_run_page_promises_no_seconds_when_every_live_worker_is_busy(alice_client, aligning):
    busy = a_worker()
    a_task(a_process(status="uploading", attempts=1), holder=busy.name)  # a long upload of someone else's
    dead = a_worker(seen_seconds_ago=BOUND + 1)
    a_task(aligning.fa_process, holder=dead.name, locked_seconds_ago=10)
    Process.objects.filter(pk=aligning.fa_process.pk).update(leased_by=dead.name, lease_until=ago(10 - BOUND))
    page = status_block(alice_client, aligning)
    assert "The worker doing this stopped; another worker takes over as soon as one is free." in page
    assert "within" not in page


def test_the_run_page_says_when_no_worker_takes_up_a_step_due_for_a_minute(alice_client, aligning):
    a_worker(seen_seconds_ago=3600)
    task = a_task(aligning.fa_process, due_seconds_ago=10)
    assert 'id="run-waiting"' not in status_block(alice_client, aligning)  # a worker starting is a matter of seconds
    Task.objects.filter(pk=task.pk).update(run_at=ago(2 * BOUND + 5))
    assert ("Waiting for a worker to take this up: none is running at the moment. It goes on by itself when one "
            "starts; if it has not after a few minutes, tell your administrator.") in status_block(alice_client, aligning)


def test_the_run_page_sees_a_step_queued_under_the_tasks_name_before_issue_15(alice_client, aligning):
    a_worker()
    dead = a_worker(seen_seconds_ago=BOUND + 1)
    task = a_task(aligning.fa_process, holder=dead.name, locked_seconds_ago=10)
    Task.objects.filter(pk=task.pk).update(task_name="scripts.tasks.update_script")
    assert "The worker doing this stopped; another takes over within" in status_block(alice_client, aligning)


def test_the_run_page_hint_is_only_for_the_owner(client, bob, aligning):
    a_task(aligning.fa_process, due_seconds_ago=3 * BOUND)
    client.force_login(bob)
    response = client.get(reverse("pipelines-run-status", kwargs={"project_id": aligning.project.pk, "run_id": aligning.pk}))
    assert response.status_code == 404


def test_the_completed_task_admin_shows_when_the_queue_gave_up_instead_of_a_pid_check(client, admin_user):
    CompletedTask.objects.create(task_name="scripts.tasks.advance_process", task_params="[[], {}]", run_at=ago(60),
                                 attempts=25, failed_at=ago(60), last_error="boom", locked_by="host:1:abc")
    client.force_login(admin_user)
    page = client.get(reverse("admin:background_task_completedtask_changelist")).content.decode()
    assert "pid running" not in page.lower() and 'class="field-failed_at nowrap"' in page


@pytest.mark.django_db(transaction=True)  # the command runs in its own process, on this test's database
def test_queue_health_piped_into_a_reader_that_stops_early_says_nothing_on_stderr():
    """`manage.py queue_health | head -1`: the reader's end is closed before the command writes."""
    import subprocess
    import sys

    from tests.helpers import ROOT, database_url_of_this_test_run

    env = {**os.environ, "DATABASE_URL": database_url_of_this_test_run()}
    read, write = os.pipe()
    os.close(read)  # the reader is gone before anything is written: every write meets a broken pipe
    try:
        result = subprocess.run([sys.executable, "manage.py", "queue_health"], cwd=ROOT, env=env, stdout=write,
                                stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    assert result.stderr == ""
    assert result.returncode in (0, 1, 2)  # the health's own exit status, not Python's 120 for a failed flush
