"""The user model: Django's user, with an e-mail address that is required and unique."""

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower


class User(AbstractUser):
    email = models.EmailField("email address")

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
