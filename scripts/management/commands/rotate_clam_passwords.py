"""Re-encrypt every stored CLAM password with the first key of CLAM_PASSWORD_KEYS."""

from django.core.management.base import BaseCommand

from scripts.crypto import PasswordUnreadable, rotate
from scripts.models import Script


class Command(BaseCommand):
    help = "Re-encrypt stored CLAM passwords with the newest key, so older keys can be removed."

    def handle(self, *args, **options):
        for script in Script.objects.exclude(password_encrypted=""):
            try:
                script.password_encrypted = rotate(script.password_encrypted)
            except PasswordUnreadable:
                self.stderr.write(f"{script.name}: cannot be decrypted with any key; enter its password again")
                continue
            script.save(update_fields=["password_encrypted"])
            self.stdout.write(f"{script.name}: re-encrypted")
