"""Template filters of the accounts pages."""

import math
from datetime import timedelta

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()


@register.filter
def duration(delta):
    """A timedelta in words, as "15 minutes" or "1 hour, 30 minutes" (django-axes gives its lock-out length)."""
    if not isinstance(delta, timedelta):
        return ""
    # Whole minutes, rounded up, so "in about" never promises less than the wait.
    minutes = max(1, math.ceil(delta.total_seconds() / 60))
    now = timezone.now()
    return timesince(now - timedelta(minutes=minutes), now)
