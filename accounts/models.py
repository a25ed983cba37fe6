"""The user model: Django's user, with an e-mail address that is required, unique and confirmed."""

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower


def identified_by(identifier):
    """The filter for what a typed login name means: an e-mail address if it has an @, else a username.

    Any letter case, spaces around ignored. Used for accounts and for declined
    sign-ups alike, so both are found by the same spellings.
    """
    identifier = identifier.strip()
    return Q(email__iexact=identifier) if "@" in identifier else Q(username__iexact=identifier)


class User(AbstractUser):
    email = models.EmailField("email address")
    # True by default: only self-service sign-up creates an account whose
    # address nobody has vouched for yet (administrators, ensure_admin and
    # createsuperuser are trusted).
    email_verified = models.BooleanField(
        "e-mail address confirmed",
        default=True,
        help_text="Off for a new sign-up until the link in the confirmation mail is followed; "
        "until then the account cannot log in.",
    )
    # Set only by the sign-up page, cleared for good once the address is
    # confirmed: only such an account is deleted when its link expires, or
    # replaced by a later sign-up with its address. An account an
    # administrator made and later marked unconfirmed is never either.
    pending_sign_up = models.BooleanField(
        "sign-up awaiting confirmation",
        default=False,
        editable=False,
        help_text="Made on the sign-up page and not confirmed yet; deleted when the confirmation link expires.",
    )
    notify_runs = models.BooleanField(
        "e-mail me about my runs",
        default=True,
        help_text="A mail when a run needs your review of pronunciations, and when it ends (done, done with "
        "problems, failed), with a link to the run.",
    )

    class Meta:
        constraints = [
            # Case-insensitive, because "Alice" and "alice" are one person to
            # a reader and one mailbox to most mail servers.
            models.UniqueConstraint(
                Lower("username"),
                name="accounts_user_username_ci_unique",
                violation_error_message="A user with that username already exists.",
            ),
            models.UniqueConstraint(
                Lower("email"),
                name="accounts_user_email_ci_unique",
                violation_error_message="A user with that e-mail address already exists.",
            ),
        ]

    def __str__(self):
        return self.username

    def save(self, *args, **kwargs):
        if self.email_verified and self.pending_sign_up:
            # Confirmed by the link, a password reset or an administrator:
            # from now on an established account, even if unticked later.
            self.pending_sign_up = False
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "pending_sign_up"}
        super().save(*args, **kwargs)


class MailRequest(models.Model):
    """One request for a mail to an address typed into a public form, kept an hour to limit how many are sent.

    In the database, not the cache, so the limit holds across several web
    processes. The address is stored as a hash (the form is open to anyone,
    so it may be someone else's address); rows older than the window are
    deleted as new requests come in.
    """

    address_hash = models.CharField(max_length=64, db_index=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        abstract = True


class PasswordResetRequest(MailRequest):
    """A request for a password-reset mail."""


class ConfirmationMailRequest(MailRequest):
    """A mail sent at sign-up (a confirmation link, or a note to an address that has an account) or a resend."""


class DeclinedSignUp(models.Model):
    """A sign-up with an address that already has an account, which created nothing.

    For as long as a confirmation link would work, its username stays taken
    and logging in with its username or address and its password says
    "confirm your address first", as for a new account waiting for
    confirmation: neither tells whether the address has an account. Deleted
    after that, as are new accounts that were never confirmed, or earlier if
    a later sign-up with the same address replaces it (as it would replace an
    unconfirmed account).
    """

    username = models.CharField(max_length=150)
    email = models.EmailField()
    password = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
