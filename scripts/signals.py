"""Signals of the scripts app; `pipelines` listens to decide what happens next."""

from django.dispatch import Signal

# Sent (sender=Process class, process=...) once a process is done, failed or cancelled.
process_finished = Signal()

# Sent (sender=None) by an idle worker at its first idle moment and then about hourly: housekeeping
# of apps that the worker's own app may not import (upload removes what crashes left behind).
worker_idle_hourly = Signal()
