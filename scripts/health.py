"""Queue health: what an operator watches, and what a run page tells a researcher who waits.

Workers say they are alive (scripts.workers); a task locked by a worker that stopped saying so is a
*stale lock*, not running work: it is free WORKER_STALE_SECONDS (the recovery bound) after its holder's
last beat. The thresholds, from the recovery bound B (30 s by default), are in
docs/operators/production.md, "Monitoring":

- stuck: a task due for more than 2 B that no worker takes although one is idle (holds no task) or
  none is alive; a task under a stale lock; an active process held by no live worker whose row has
  not changed for longer than any step should leave it (PROCESS_POLL_MAX_SECONDS or
  PROCESS_RETRY_MAX_SECONDS, whichever is longer) plus 2 B; an active process whose lease a live
  worker keeps without running a task for it (nobody else may take it while that worker lives);
- backlog: tasks due for more than 2 B while every live worker is busy: not stuck, the load is higher
  than the workers (a warning at most: one worker on a long upload makes the others' steps wait);
- critical: work waits (a task due, or a stale lock) and no worker is alive, or something is stuck
  for more than 4 B (its recovery is long overdue);
- late: a live worker not heard from for more than two heartbeats (plus a second): probably killed, but
  not yet taken for dead; its task is not counted as running;
- warning: any late worker, stale lock, stuck item, backlog, process retrying, task the queue gave up on
  in the last 24 h, a dead worker that a task lock or process lease still names, or no worker alive at
  all. A dead worker that holds nothing is listed without changing the status: once its work is taken
  over, a monitor alerting on the exit status has nothing left to alert on.
"""

import math
from datetime import timedelta

from background_task.models import CompletedTask, Task
from django.conf import settings
from django.db.models import Count, Max, Min
from django.utils import timezone

from scripts import workers
from scripts.models import Process, Worker

OK, WARNING, CRITICAL = "ok", "warning", "critical"
EXIT_STATUS = {OK: 0, WARNING: 1, CRITICAL: 2}  # Nagios' convention, which most monitors follow

# The task that carries a process on (scripts.tasks.advance_process, named here to avoid importing the
# task module, which imports the runner), and its name before issue 15, still run for older queued tasks.
PROCESS_TASKS = ("scripts.tasks.advance_process", "scripts.tasks.update_script")
# Reasons listed per service: a service that is down gives one or two; more would hide the others.
MAX_REASONS = 5


def recovery_bound():
    return settings.WORKER_STALE_SECONDS


def stuck_after():
    """Seconds a due task may wait for a worker before it counts as stuck (a minute by default)."""
    return 2 * recovery_bound()


def late_after():
    """Seconds of silence after which a worker missed two heartbeats (a second for the write's own delay)."""
    return 2 * settings.WORKER_HEARTBEAT_SECONDS + 1


def _is_late(worker, now):
    return (now - worker.seen_at).total_seconds() > late_after()


def _dead_in(worker, now):
    """Seconds until a silent worker is taken for dead and its task lock and lease run out."""
    return max(0, math.ceil((worker.seen_at + timedelta(seconds=recovery_bound()) - now).total_seconds()))


def critical_after():
    return 4 * recovery_bound()


def longest_step_pause():
    """The longest a process's row rests between two steps on purpose (a slow poll, a retry's wait)."""
    return max(settings.PROCESS_POLL_MAX_SECONDS, settings.PROCESS_RETRY_MAX_SECONDS)


def _seconds(delta):
    return max(0, int(delta.total_seconds()))


def _free_in(task, now):
    """Seconds until the queue lets any worker take a task whose holder stopped beating."""
    return max(0, math.ceil((task.locked_at + timedelta(seconds=settings.MAX_RUN_TIME) - now).total_seconds()))


def queue_health(now=None):
    now = now or timezone.now()
    live = list(workers.live_workers(now))
    live_names = {w.name for w in live}
    waiting = Task.objects.unlocked(now).filter(failed_at__isnull=True)
    locked = list(Task.objects.filter(locked_by__isnull=False, failed_at__isnull=True).order_by("locked_at"))
    stale = [t for t in locked if t.locked_by not in live_names]
    running = [t for t in locked if t.locked_by in live_names]
    late_names = {w.name for w in live if _is_late(w, now)}
    idle = live_names - {t.locked_by for t in running}
    active = Process.objects.exclude(status__in=Process.FINISHED)
    oldest = active.aggregate(oldest=Min("created_at"))["oldest"]
    since = now - timedelta(hours=24)
    health = {
        "status": OK,
        "problems": [],
        "problems_critical": 0,
        "recovery_bound_seconds": recovery_bound(),
        "workers": {"live": _live(live, running, now), "dead": _dead(now)},
        "tasks_queued": waiting.count(),
        "tasks_due": waiting.filter(run_at__lte=now).count(),
        # A late worker's task probably does not run any more: not counted as running normally.
        "tasks_running": len([t for t in running if t.locked_by not in late_names]),
        "tasks_on_late_workers": len([t for t in running if t.locked_by in late_names]),
        # The queue deletes a task it gives up on, keeping a copy among the completed ones.
        "tasks_failed": Task.objects.filter(failed_at__isnull=False).count()
        + CompletedTask.objects.filter(failed_at__gte=since).count(),
        "stale_locks": [
            {"task_id": t.pk, "task_name": t.task_name, "holder": t.locked_by,
             "locked_seconds_ago": _seconds(now - t.locked_at), "free_in_seconds": _free_in(t, now)}
            for t in stale
        ],
        "retrying_by_service": _retrying(active),
        "oldest_stuck": _oldest_stuck(waiting, stale, active, live, running, idle, now),
        "backlog": _backlog(waiting, live_names, idle, now),
        "processes_by_status": dict(Process.objects.values_list("status").annotate(n=Count("id")).order_by()),
        "oldest_active_process_seconds": int((now - oldest).total_seconds()) if oldest else None,
        "failures_last_24h_by_script": dict(
            Process.objects.filter(status=Process.Status.FAILED, finished_at__gte=since)
            .values_list("script__name").annotate(n=Count("id")).order_by()
        ),
    }
    _judge(health)
    return health


def _held(names):
    """The task each named worker has locked and the active process whose lease it has (or None)."""
    tasks = dict(Task.objects.filter(locked_by__in=names).values_list("locked_by", "pk"))
    leases = dict(
        Process.objects.filter(leased_by__in=names).exclude(status__in=Process.FINISHED).values_list("leased_by", "pk")
    )
    return {name: (tasks.get(name), str(leases[name]) if name in leases else None) for name in names}


def _carries(task, process_id):
    """Whether the task carries that process on (its parameters are the process's id)."""
    return task is not None and process_id in task.task_params


def _live(live, running, now):
    held = _held([w.name for w in live])
    task_of = {t.locked_by: t for t in running}
    rows = []
    for w in live:
        task_id, process_id = held[w.name]
        rows.append({
            "name": w.name, "hostname": w.hostname, "pid": w.pid, "seen_seconds_ago": _seconds(now - w.seen_at),
            "task_id": task_id, "process_id": process_id,
            # A lease its worker keeps (its heartbeat renews it) with no task of its own for the process.
            "lease_left_over": process_id is not None and not _carries(task_of.get(w.name), process_id),
            "late": _is_late(w, now),
            "dead_in_seconds": _dead_in(w, now) if _is_late(w, now) else None,
        })
    return rows


def _dead(now):
    # Workers that stop normally remove their row: these were killed, or their machine failed. What
    # the rows of tasks and processes still name a dead worker as holding waits to be taken over.
    dead = list(Worker.objects.filter(seen_at__lt=workers.stale_before(now)).order_by("-seen_at"))
    held = _held([w.name for w in dead])
    return [{"name": w.name, "hostname": w.hostname, "pid": w.pid, "seen_seconds_ago": _seconds(now - w.seen_at),
             "task_id": held[w.name][0], "process_id": held[w.name][1]}
            for w in dead]


def _retrying(active):
    """Active processes whose step failed and waits for its next attempt (or runs it), per CLAM service.

    `detail` holds the reason of a transient failure until a step goes through; a step attempted
    again without one was interrupted by its worker's death.
    """
    by_service = {}
    rows = active.filter(attempts__gte=1).exclude(detail="", attempts=1).values_list("script__name", "detail")
    for script, detail in rows.order_by("created_at"):
        entry = by_service.setdefault(script, {"processes": 0, "reasons": []})
        entry["processes"] += 1
        reason = detail.strip().splitlines()[0][:300] if detail.strip() else "the worker on it stopped during the step"
        if reason not in entry["reasons"] and len(entry["reasons"]) < MAX_REASONS:
            entry["reasons"].append(reason)
    return by_service


def _idle_since(idle, now):
    """When the first of the idle workers became free: the end of its last task, or its start.

    A finished task's copy keeps its lock time, which the heartbeat renewed until the task ended.
    """
    ended = dict(
        CompletedTask.objects.filter(locked_by__in=idle).values_list("locked_by").annotate(last=Max("locked_at")).order_by()
    )
    started = Worker.objects.filter(name__in=idle).values_list("name", "started_at")
    return min((max(at, ended.get(name) or at) for name, at in started), default=now)


def _backlog(waiting, live_names, idle, now):
    """Tasks due for more than the grace while every live worker runs a task: the load, not a fault."""
    if not live_names or idle:
        return None
    due = waiting.filter(run_at__lte=now)
    oldest = due.aggregate(oldest=Min("run_at"))["oldest"]
    if oldest is None or now - oldest <= timedelta(seconds=stuck_after()):
        return None
    return {"tasks": due.count(), "busy_workers": len(live_names), "oldest_seconds": _seconds(now - oldest)}


def _oldest_stuck(waiting, stale, active, live, running, idle, now):
    """The item that has waited longest for work that should have happened (see the module's docstring)."""
    candidates = []
    live_names = {w.name for w in live}
    grace = timedelta(seconds=stuck_after())
    due = waiting.filter(run_at__lte=now - grace).order_by("run_at").first()
    if due is not None and not live_names:
        candidates.append(("task", due.pk, now - due.run_at, f"{due.task_name} is due and no worker is alive"))
    elif due is not None and idle:
        # Busy workers are no fault: only the time an idle worker left it counts.
        since = max(due.run_at, _idle_since(idle, now))
        if now - since > grace:
            candidates.append(("task", due.pk, now - since,
                               f"{due.task_name} is due and {len(idle)} of the {len(live_names)} live worker(s) "
                               "are idle but did not take it"))
    for task in stale[:1]:  # oldest lock first
        free = _free_in(task, now)
        when = f"free in {free} s" if free else "free now, but no worker took it yet"
        candidates.append(("task", task.pk, now - task.locked_at,
                           f"{task.task_name} is locked by {task.locked_by}, a worker that stopped ({when})"))
    pause = timedelta(seconds=longest_step_pause() + stuck_after())
    resting = active.filter(updated_at__lt=now - pause).exclude(leased_by__in=live_names, lease_until__gt=now)
    process = resting.select_related("script").order_by("updated_at").first()
    if process is not None:
        candidates.append(("process", str(process.pk), now - process.updated_at - timedelta(seconds=longest_step_pause()),
                           f"a process of {process.script.name} ({process.status}) unchanged for "
                           f"{_seconds(now - process.updated_at)} s; no step should leave it longer than "
                           f"{longest_step_pause():.0f} s"))
    task_of = {t.locked_by: t for t in running}
    kept = active.filter(leased_by__in=live_names, lease_until__gt=now, updated_at__lt=now - grace)
    for process in kept.select_related("script").order_by("updated_at"):
        if not _carries(task_of.get(process.leased_by), str(process.pk)):
            candidates.append(("process", str(process.pk), now - process.updated_at,
                               f"a process of {process.script.name} ({process.status}) is held by the live worker "
                               f"{process.leased_by}, which runs no task for it: no other worker may take it while "
                               "that one lives"))
            break  # the oldest
    if not candidates:
        return None
    kind, pk, waited, why = max(candidates, key=lambda c: c[2])
    return {"kind": kind, "id": pk, "seconds": _seconds(waited), "why": why}


def _judge(health):
    """Set the status and say what to do about each problem."""
    critical, warning = [], []
    live = health["workers"]["live"]
    waiting = health["tasks_due"] + len(health["stale_locks"])
    if not live and waiting:
        critical.append(f"No worker is alive and {waiting} task(s) wait for one: start the workers "
                        "(manage.py process_tasks).")
    elif not live:
        warning.append("No worker is alive: new runs will wait until one starts (manage.py process_tasks).")
    stuck = health["oldest_stuck"]
    stale_ids = {lock["task_id"] for lock in health["stale_locks"]}
    # A stale lock still within its recovery has a sentence of its own below.
    if stuck and not (stuck["kind"] == "task" and stuck["id"] in stale_ids and stuck["seconds"] <= critical_after()):
        text = f"Stuck for {stuck['seconds']} s: {stuck['why']} ({stuck['kind']} {stuck['id']})."
        (critical if stuck["seconds"] > critical_after() else warning).append(text)
    for worker in live:
        if worker["late"]:
            warning.append(f"Worker {worker['name']} (pid {worker['pid']} on {worker['hostname']}) not heard from for "
                           f"{worker['seen_seconds_ago']} s; taken for dead (and its work taken over) in "
                           f"{worker['dead_in_seconds']} s.")
    for lock in health["stale_locks"]:
        free = lock["free_in_seconds"]
        if not live:  # nobody to take it over: its lock running out changes nothing
            when = f"free in {free} s, but waits for a worker to start" if free else "free now, but waits for a worker to start"
        else:
            when = f"taken over within {free} s" if free else "free to take over now"
        warning.append(f"Task {lock['task_id']} ({lock['task_name']}) is locked by {lock['holder']}, which stopped: {when}.")
    backlog = health["backlog"]
    if backlog:
        warning.append(f"{backlog['tasks']} task(s) wait for a free worker; all {backlog['busy_workers']} live "
                       f"worker(s) are busy (the oldest has waited {backlog['oldest_seconds']} s): more workers "
                       "(manage.py process_tasks) would shorten the wait.")
    for script, retrying in sorted(health["retrying_by_service"].items()):
        warning.append(f"{retrying['processes']} process(es) of {script} retrying: {'; '.join(retrying['reasons'])}. "
                       "Check that the service runs and answers.")
    if health["tasks_failed"]:
        warning.append(f"{health['tasks_failed']} task(s) given up by the queue in the last 24 h: see "
                       "Background tasks → Completed tasks in the admin for their errors.")
    # A dead worker that holds nothing any more is listed (workers.dead) but is no problem: its work is over.
    for worker in health["workers"]["dead"]:
        if worker["task_id"] or worker["process_id"]:
            warning.append(f"Worker {worker['name']} (pid {worker['pid']} on {worker['hostname']}) stopped without "
                           f"handing over its work {worker['seen_seconds_ago']} s ago (killed, out of memory, or its "
                           "machine failed): see its log for why.")
    health["problems"] = critical + warning
    health["problems_critical"] = len(critical)  # the first ones of `problems`
    health["status"] = CRITICAL if critical else WARNING if warning else OK


def waiting_hint(process, now=None):
    """A sentence for the researcher when a process's next step waits for a worker that will not come soon
    ('' otherwise): its worker stopped (or has not answered for two heartbeats) and the step waits to be
    taken over, or no worker runs at all."""
    if process is None or process.finished:
        return ""
    now = now or timezone.now()
    live = {w.name: w for w in workers.live_workers(now)}
    tasks = list(Task.objects.filter(task_name__in=PROCESS_TASKS, task_params__contains=str(process.pk), failed_at__isnull=True))
    free_in = [_free_in(t, now) for t in tasks if t.locked_by and t.locked_by not in live]
    leased = bool(process.leased_by and process.lease_until and process.lease_until > now)
    if leased and process.leased_by not in live:
        free_in.append(math.ceil((process.lease_until - now).total_seconds()))
    if not free_in:
        holders = {t.locked_by for t in tasks if t.locked_by in live} | ({process.leased_by} & set(live) if leased else set())
        late = [live[name] for name in holders if _is_late(live[name], now)]
        if late:
            return _late_hint(late[0], process, tasks, live, now)
    if free_in and live:
        busy = set(Task.objects.filter(locked_by__in=live).values_list("locked_by", flat=True))
        if busy >= set(live):
            # Each live worker is on a step of its own, which may be a long upload: no promise of seconds.
            return "The worker doing this stopped; another worker takes over as soon as one is free."
        return f"The worker doing this stopped; another takes over within {_in_seconds(max(free_in))}."
    if live:
        return ""
    overdue = now - timedelta(seconds=stuck_after())
    if free_in or any(t.run_at <= overdue and (not t.locked_by or t.locked_by not in live) for t in tasks):
        return ("Waiting for a worker to take this up: none is running at the moment. "
                "It goes on by itself when one starts; if it has not after a few minutes, tell your administrator.")
    return ""


def _in_seconds(seconds):
    return "a few seconds" if seconds <= 5 else f"{seconds} seconds"


def _late_hint(worker, process, tasks, live, now):
    """The hint while the step's worker is silent but not yet taken for dead: it may only be slow to beat."""
    said = f"The worker doing this has not answered for {_seconds(now - worker.seen_at)} seconds; if it stopped, "
    others = set(live) - {worker.name}
    if not others:
        return said + "it waits for another worker to start."
    busy = set(Task.objects.filter(locked_by__in=others).values_list("locked_by", flat=True))
    if busy >= others:
        return said + "another worker takes over as soon as one is free."
    free = [_free_in(t, now) for t in tasks if t.locked_by == worker.name]
    if process.leased_by == worker.name:
        free.append(math.ceil((process.lease_until - now).total_seconds()))
    return said + f"another takes over within {_in_seconds(max([_dead_in(worker, now), *free]))}."
