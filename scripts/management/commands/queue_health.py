"""Print the health of the work queue, for operators and monitoring (see docs/operators/production.md).

Exits 0 when all is well, 1 on a warning, 2 when critical (Nagios' convention), in both output modes.
"""

import json
import os
import sys

from django.core.management.base import BaseCommand

from scripts.health import EXIT_STATUS, queue_health


class Command(BaseCommand):
    help = ("Workers alive and dead, tasks queued, running and failed, stale locks, processes retrying per "
            "service, the oldest stuck item; exit status 0 ok, 1 warning, 2 critical.")

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="machine-readable output")

    def handle(self, *args, **options):
        health = queue_health()
        try:
            if options["json"]:
                self.stdout.write(json.dumps(health, indent=2))
            else:
                self._print(health)
            self.stdout.flush()
        except BrokenPipeError:
            # `queue_health | head`: the reader has what it wanted. Python would say so on stderr at exit,
            # flushing into the closed pipe again, unless stdout goes elsewhere (as its docs advise).
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        if EXIT_STATUS[health["status"]]:
            raise SystemExit(EXIT_STATUS[health["status"]])

    def _print(self, health):
        write = self.stdout.write
        write(f"status:         {health['status'].upper()}")
        for problem in health["problems"]:
            write(f"  - {problem}")
        write(f"recovery bound: a dead worker's step is taken over within {health['recovery_bound_seconds']} s")
        live, dead = health["workers"]["live"], health["workers"]["dead"]
        write(f"live workers:   {len(live)}")
        for w in live:
            late = (f"LATE: not heard from for {w['seen_seconds_ago']} s, taken for dead in {w['dead_in_seconds']} s; "
                    if w["late"] else "")
            write(f"  {w['name']} (pid {w['pid']} on {w['hostname']}), seen {w['seen_seconds_ago']} s ago: {late}{_doing(w)}")
        write(f"dead workers:   {len(dead)}")
        for w in dead:
            held = ", ".join(f"{kind} {w[f'{kind}_id']}" for kind in ("task", "process") if w[f"{kind}_id"])
            write(f"  {w['name']} (pid {w['pid']} on {w['hostname']}), last seen {w['seen_seconds_ago']} s ago: "
                  + (f"still holds {held}" if held else "holds nothing"))
        write(f"tasks queued:   {health['tasks_queued']} ({health['tasks_due']} due now)")
        on_late = health["tasks_on_late_workers"]
        write(f"tasks running:  {health['tasks_running']}" + (f" (and {on_late} on late workers)" if on_late else ""))
        backlog = health["backlog"]
        write("backlog:        " + ("none" if backlog is None else f"{backlog['tasks']} task(s) wait for a free worker, "
                                    f"the oldest for {backlog['oldest_seconds']} s"))
        write(f"tasks failed:   {health['tasks_failed']}")
        write(f"stale locks:    {len(health['stale_locks'])}")
        for lock in health["stale_locks"]:
            write(f"  task {lock['task_id']} ({lock['task_name']}) held by {lock['holder']} since "
                  f"{lock['locked_seconds_ago']} s, free in {lock['free_in_seconds']} s")
        retrying = health["retrying_by_service"]
        write(f"retrying:       {'none' if not retrying else ''}".rstrip())
        for script, entry in sorted(retrying.items()):
            write(f"  {script}: {entry['processes']} process(es): {'; '.join(entry['reasons'])}")
        stuck = health["oldest_stuck"]
        write("oldest stuck:   " + ("none" if stuck is None else f"{stuck['kind']} {stuck['id']}, {stuck['seconds']} s: {stuck['why']}"))
        by_status = ", ".join(f"{k} {v}" for k, v in sorted(health["processes_by_status"].items())) or "none"
        write(f"processes:      {by_status}")
        oldest = health["oldest_active_process_seconds"]
        write(f"oldest active:  {'none' if oldest is None else f'{oldest} s'}")
        failures = ", ".join(f"{k}: {v}" for k, v in sorted(health["failures_last_24h_by_script"].items())) or "none"
        write(f"failed in 24 h: {failures}")


def _doing(worker):
    """What a live worker does, as its rows tell; a lease kept without a task is said to be one."""
    task, process = worker["task_id"], worker["process_id"]
    if process and worker["lease_left_over"]:
        left = f"holds the lease of process {process} without running a task for it (left over)"
        return f"task {task}; also {left}" if task else f"no task; {left}"
    if task:
        return f"task {task}, process {process}" if process else f"task {task}"
    return "idle"
