"""Create the first administrator account if there is none.

Used by the run command on every start, so it must do nothing when an
administrator exists. Credentials come from EQUESTRIA_ADMIN_USERNAME,
EQUESTRIA_ADMIN_EMAIL and EQUESTRIA_ADMIN_PASSWORD; without a password one is
generated and printed this one time.
"""

import os
import secrets

from django.core.management.base import BaseCommand

from accounts.models import User


class Command(BaseCommand):
    help = "Create an administrator account unless a superuser exists."

    def handle(self, *args, **options):
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("An administrator account exists; leaving it alone.")
            return
        username = os.environ.get("EQUESTRIA_ADMIN_USERNAME", "admin")
        email = os.environ.get("EQUESTRIA_ADMIN_EMAIL", "admin@localhost")
        password = os.environ.get("EQUESTRIA_ADMIN_PASSWORD")
        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email=email, password=password)
        self.stdout.write(self.style.SUCCESS(f"Created administrator {username!r} <{email}>."))
        if generated:
            self.stdout.write(
                self.style.WARNING(
                    f"  Its password is: {password}\n"
                    "  It is shown only this once; change it with "
                    f"'manage.py changepassword {username}'."
                )
            )
