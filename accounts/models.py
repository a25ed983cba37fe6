"""The user model: Django's user, with an e-mail address that is required, unique and confirmed."""

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower


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
    after that, as are new accounts that were never confirmed.
    """

    username = models.CharField(max_length=150)
    email = models.EmailField()
    password = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
