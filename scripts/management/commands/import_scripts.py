"""Re-import CLAM scripts from their servers (all, or those named)."""

from django.core.management.base import BaseCommand, CommandError

from scripts.importer import import_script
from scripts.models import Script


class Command(BaseCommand):
    help = "Import the profiles, templates and parameters of CLAM scripts from their servers."

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="*", help="script names (default: all)")

    def handle(self, *args, names, **options):
        scripts = Script.objects.all()
        if names:
            scripts = scripts.filter(name__in=names)
            missing = set(names) - set(scripts.values_list("name", flat=True))
            if missing:
                raise CommandError(f"no script named {', '.join(sorted(missing))}")
        failed = 0
        for script in scripts:
            error = import_script(script)
            if error:
                failed += 1
                self.stderr.write(f"{script.name}: import failed: {error}")
            else:
                self.stdout.write(f"{script.name}: imported {script.parameters.filter(input_template=None).count()} parameters")
        if failed:
            raise CommandError(f"{failed} script(s) could not be imported")
