"""Site-wide views that belong to no app."""

from django.middleware.csrf import REASON_NO_CSRF_COOKIE, REASON_NO_REFERER
from django.shortcuts import render


def csrf_failure(request, reason=""):
    """The page for a form refused by the CSRF check, in the site's layout.

    Django's own page has an inline stylesheet, which the Content-Security-Policy refuses, and
    speaks to developers; this one says what a researcher can do. The middleware has logged the reason.
    """
    context = {"no_cookie": reason == REASON_NO_CSRF_COOKIE, "no_referer": reason == REASON_NO_REFERER}
    return render(request, "403_csrf.html", context, status=403)
