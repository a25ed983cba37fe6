"""Mails to a run's owner when the run needs their review and when it ends (done, done with problems, failed).

`notify` is called in the transaction that moves the run to the stage, by the worker; it records the event once
(pipelines.models.Notification) and queues `send_run_mail`, which sends it once: see Notification.

The review mail is queued RUN_REVIEW_MAIL_DELAY_SECONDS ahead and dropped ("not needed") when the run is no longer in
review by then: the folder client (--review accept) answers the review within seconds, and its researcher should not
be told that the run waits for them.
"""

import logging

from background_task import background
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from accounts.mail import send_templated_mail
from pipelines.models import Notification, Run

log = logging.getLogger(__name__)
EVENTS = set(Notification.Event.values)


def notify(run, event):
    """Record that `run` reached `event` (a stage) and queue its mail; nothing when it was recorded before."""
    if event not in EVENTS:
        return
    # get_or_create's insert is in a savepoint: a second step's unique violation leaves its transaction intact.
    notification, created = Notification.objects.get_or_create(run=run, event=event)
    if created:
        delay = settings.RUN_REVIEW_MAIL_DELAY_SECONDS if event == Notification.Event.REVIEW else 0
        send_run_mail(notification.pk, schedule=delay)


def run_url(run):
    return settings.EQUESTRIA_SITE_URL + reverse("pipelines-run", args=[run.project_id, run.pk])


@background(schedule=0)
def send_run_mail(notification_id):
    """Send the mail of one notification, once: the first task to claim it sends it, any other does nothing. A
    review mail whose run is no longer in review is not sent."""
    # Claimed first, by a condition on its own row only: of two tasks of one notification only one goes on. (A
    # condition on the run, through a join, is a subquery on PostgreSQL, which a second task waiting for the first's
    # row does not check again: it would settle a mail the first had claimed.)
    claimed = Notification.objects.filter(pk=notification_id, outcome=Notification.Outcome.QUEUED).update(
        outcome=Notification.Outcome.SENDING, sent_at=timezone.now())
    if not claimed:
        return
    notification = Notification.objects.select_related("run__project__owner").filter(pk=notification_id).first()
    if notification is None:  # the run was deleted meanwhile
        return
    run = notification.run
    if notification.event == Notification.Event.REVIEW and run.stage != Run.Stage.REVIEW:
        Notification.objects.filter(pk=notification_id).update(outcome=Notification.Outcome.NOT_NEEDED)
        return
    user = run.project.owner
    unsent = (Notification.Outcome.INACTIVE if not user.is_active else Notification.Outcome.NO_ADDRESS
              if not user.email else Notification.Outcome.OFF if not user.notify_runs else None)
    if unsent is not None:
        Notification.objects.filter(pk=notification_id).update(outcome=unsent)
        return
    name = "run-review" if notification.event == Notification.Event.REVIEW else "run-ended"
    context = {"user": user, "run": run, "project": run.project, "url": run_url(run),
               "stage": Run.Stage(notification.event).label, "event": notification.event,
               "settings_url": settings.EQUESTRIA_SITE_URL + reverse("accounts-settings")}
    try:
        sent = send_templated_mail(name, user.email, context)
    except Exception:  # never let a mail stop the queue: the run has ended (or waits) whatever became of it
        log.exception("Could not send the %s mail of run %s", name, run.pk)
        sent = False
    # Not tried again when it failed: a second attempt could mail twice when the server took the first one but
    # failed to say so.
    Notification.objects.filter(pk=notification_id).update(
        outcome=Notification.Outcome.SENT if sent else Notification.Outcome.FAILED)
