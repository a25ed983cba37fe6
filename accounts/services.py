"""Sign-up with a confirmed e-mail address, and the limits on mails sent to typed addresses.

Nothing here tells a visitor whether an address has an account: sign-up with
a registered address answers like any other and mails the address's owner
instead; resend and password reset answer the same for unknown addresses.
"""

import hashlib
import logging
from datetime import timedelta

from axes.helpers import get_client_ip_address
from axes.utils import reset as reset_axes_attempts
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from accounts.mail import send_templated_mail
from accounts.models import ConfirmationMailRequest, DeclinedSignUp, User

log = logging.getLogger(__name__)

MAIL_WINDOW = timedelta(hours=1)


class UsernameTaken(Exception):
    """Another sign-up took the username between the form's check and the insert."""


class EmailConfirmationTokenGenerator(PasswordResetTokenGenerator):
    """Django's signed, expiring token (PASSWORD_RESET_TIMEOUT), for confirming an address.

    Confirming flips email_verified, which voids the link: it works once. A
    changed address voids it too.
    """

    key_salt = "accounts.services.EmailConfirmationTokenGenerator"

    def _make_hash_value(self, user, timestamp):
        return f"{user.pk}{user.email}{user.email_verified}{timestamp}"


confirmation_tokens = EmailConfirmationTokenGenerator()


def address_hash(address):
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()


def throttle_mail(model, address, client_ip, *, per_address, per_ip, min_interval=None, count_refused=False):
    """Record a request for a mail to `address` from `client_ip`; return why it must not go out, or "".

    The reasons: "interval" (one for this address less than `min_interval`
    ago), "address" (`per_address` this hour), "ip" (`per_ip` this hour from
    this client). Requests for addresses without an account count like any
    other, so the answer reveals nothing about accounts. Two processes may
    both let one request through at the same moment; a limit one over is
    harmless, a lock per request would not be.
    """
    digest = address_hash(address)
    now = timezone.now()
    model.objects.filter(created_at__lt=now - MAIL_WINDOW).delete()
    recent = model.objects.filter(created_at__gte=now - MAIL_WINDOW)
    for_address = recent.filter(address_hash=digest)
    if min_interval and for_address.filter(created_at__gte=now - min_interval).exists():
        reason = "interval"
    elif for_address.count() >= per_address:
        reason = "address"
    elif client_ip and recent.filter(client_ip=client_ip).count() >= per_ip:
        reason = "ip"
    else:
        reason = ""
    if not reason or count_refused:
        model.objects.create(address_hash=digest, client_ip=client_ip or None)
    return reason


def _throttle_confirmation_mail(address, request):
    return throttle_mail(
        ConfirmationMailRequest,
        address,
        get_client_ip_address(request),
        per_address=settings.CONFIRMATION_MAILS_PER_ADDRESS,
        per_ip=settings.CONFIRMATION_MAILS_PER_IP,
        min_interval=timedelta(seconds=settings.CONFIRMATION_MAIL_INTERVAL_SECONDS),
    )


def sign_up(form, request):
    """Create the account from a valid SignUpForm, unconfirmed, and mail it the confirmation link.

    For an address that already has an established account nothing is
    created and its owner gets a mail saying so, with a link to reset the
    password; the caller answers both cases alike, and a DeclinedSignUp makes
    what follows (the username taken, logging in) look alike too.

    An address is held only by an account its owner confirmed (or an
    administrator made): a sign-up still waiting for confirmation, declined
    or not, is replaced by a later one with the same address. So nobody can
    keep the owner of an address from signing up by signing up with it first;
    only the mailbox can confirm either.
    """
    forget_unconfirmed_sign_ups()
    address = form.cleaned_data["email"]
    try:
        with transaction.atomic():
            owner = User.objects.filter(email__iexact=address, pending_sign_up=False).first()
            DeclinedSignUp.objects.filter(email__iexact=address).delete()
            User.objects.filter(email__iexact=address, pending_sign_up=True).delete()
            if owner is None:
                user = form.save(commit=False)
                user.email_verified = False
                user.pending_sign_up = True
                user.save()
            else:
                DeclinedSignUp.objects.create(
                    username=form.cleaned_data["username"],
                    email=address,
                    password=make_password(form.cleaned_data["password1"]),
                )
    except IntegrityError:
        # A concurrent sign-up took the username, or has the same address and
        # replaced this one first.
        if User.objects.filter(username__iexact=form.cleaned_data["username"]).exists():
            raise UsernameTaken from None
        log.warning("Sign-up replaced by a concurrent one with the same address")
        return
    if owner is None:
        send_confirmation(user, request)
        return
    if _throttle_confirmation_mail(owner.email, request):
        log.warning("Sign-up mail to an existing account not sent: too many for this address or client")
        return
    send_templated_mail(
        "signup-existing",
        owner.email,
        {
            "user": owner,
            "login_url": request.build_absolute_uri(reverse("accounts-login")),
            "reset_url": request.build_absolute_uri(reverse("accounts-password-reset")),
        },
    )


def _link_expiry():
    return timezone.now() - timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT)


def forget_unconfirmed_sign_ups():
    """Delete sign-ups whose confirmation link has expired unused: declined ones and unconfirmed accounts.

    Both go at the same age, so their usernames come free at the same time.
    Only accounts made on the sign-up page and never confirmed
    (pending_sign_up): an account an administrator made, or one confirmed
    once, stays even if it is marked unconfirmed later.
    """
    cutoff = _link_expiry()
    DeclinedSignUp.objects.filter(created_at__lt=cutoff).delete()
    User.objects.filter(pending_sign_up=True, email_verified=False, date_joined__lt=cutoff).delete()


def recent_declined_sign_ups():
    return DeclinedSignUp.objects.filter(created_at__gte=_link_expiry())


def username_held_by_declined_sign_up(username):
    return recent_declined_sign_ups().filter(username__iexact=username).exists()


def send_confirmation(user, request):
    """Mail `user` a link that confirms its address, within the limits; return "" or why not."""
    reason = _throttle_confirmation_mail(user.email, request)
    if reason:
        log.warning("Confirmation mail not sent: too many for this address or client (%s)", reason)
        return reason
    _mail_confirmation_link(user, request)
    return ""


def resend_confirmation(address, request):
    """Send a new link if `address` belongs to an unconfirmed account; return "" or why nothing may be sent.

    Every request counts toward the limits, whether or not the address has
    an account, so the answer is the same for both.
    """
    reason = _throttle_confirmation_mail(address, request)
    if reason:
        return reason
    user = User.objects.filter(email__iexact=address.strip(), email_verified=False, is_active=True).first()
    if user is not None:
        _mail_confirmation_link(user, request)
    return ""


def _mail_confirmation_link(user, request):
    path = reverse(
        "accounts-confirm-email",
        kwargs={"uidb64": urlsafe_base64_encode(force_bytes(user.pk)), "token": confirmation_tokens.make_token(user)},
    )
    send_templated_mail(
        "confirm-email",
        user.email,
        {"user": user, "confirm_url": request.build_absolute_uri(path), "valid_days": _link_days()},
    )


def user_for_confirmation(uidb64, token):
    """The unconfirmed account a confirmation link is for, or None if the link is wrong, used or expired."""
    try:
        user = User.objects.get(pk=force_str(urlsafe_base64_decode(uidb64)))
    except (TypeError, ValueError, OverflowError, User.DoesNotExist):
        return None
    if user.email_verified or not confirmation_tokens.check_token(user, token):
        return None
    return user


def confirm_email(user):
    user.email_verified = True
    user.save(update_fields=["email_verified"])


def _link_days():
    return max(1, settings.PASSWORD_RESET_TIMEOUT // (24 * 3600))


def lift_lockout(user):
    """Forget the failed logins of `user`'s account, from every client: a new password was just set.

    The lock-out page offers a password reset as the way out, and the
    failures were guesses at the old password. django-axes counts every
    spelling of an account under its username (backends.lockout_username),
    so this lifts the lock for all of them.
    """
    reset_axes_attempts(username=user.get_username())
