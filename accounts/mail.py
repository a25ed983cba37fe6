"""The one helper that sends the application's own mails.

A mail named "x" is the templates emails/x-subject.txt and emails/x-body.txt
rendered with the same context (Django's password-reset mail uses the same
naming but is sent by Django's form).
"""

import logging

from django.core.mail import send_mail
from django.template.loader import render_to_string

log = logging.getLogger(__name__)


def send_templated_mail(name, to, context):
    """Send mail `name` to one address; return whether the mail server took it.

    A mail server that is down or refuses must not turn a sign-up into an
    error page: the user can ask for the mail again, the operator finds the
    reason in the log.
    """
    # A subject is one line; templates end with a newline.
    subject = " ".join(render_to_string(f"emails/{name}-subject.txt", context).split())
    body = render_to_string(f"emails/{name}-body.txt", context)
    try:
        send_mail(subject, body, None, [to])
    except OSError:  # smtplib's errors are OSErrors, as are refused connections
        log.exception("Could not send the %s mail", name)
        return False
    return True
