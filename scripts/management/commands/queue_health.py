"""Print the health of the work queue, for operators and monitoring (see docs/operators/production.md)."""

import json

from django.core.management.base import BaseCommand

from scripts.health import queue_health


class Command(BaseCommand):
    help = "Queued, running and failed tasks, processes by status, oldest running process, failures per script."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="machine-readable output")

    def handle(self, *args, **options):
        health = queue_health()
        if options["json"]:
            self.stdout.write(json.dumps(health, indent=2))
            return
        self.stdout.write(f"tasks queued:   {health['tasks_queued']} ({health['tasks_due']} due now)")
        self.stdout.write(f"tasks running:  {health['tasks_running']}")
        self.stdout.write(f"tasks failed:   {health['tasks_failed']}")
        by_status = ", ".join(f"{k} {v}" for k, v in sorted(health["processes_by_status"].items())) or "none"
        self.stdout.write(f"processes:      {by_status}")
        oldest = health["oldest_active_process_seconds"]
        self.stdout.write(f"oldest active:  {'none' if oldest is None else f'{oldest} s'}")
        failures = ", ".join(f"{k}: {v}" for k, v in sorted(health["failures_last_24h_by_script"].items())) or "none"
        self.stdout.write(f"failed in 24 h: {failures}")
