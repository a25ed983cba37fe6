"""Signals of the scripts app; `pipelines` listens to decide what happens next."""

from django.dispatch import Signal

# Sent (sender=Process class, process=...) once a process is done, failed or cancelled.
process_finished = Signal()
