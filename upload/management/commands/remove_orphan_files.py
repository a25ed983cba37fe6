"""Remove files that crashes left behind: temporary uploads, half-written and unreferenced media files.

Workers run the same cleanup every hour (upload.cleanup.remove_orphans); run this from cron where
no worker runs, or by hand with --dry-run to see what it would remove. It refuses to remove media
files no record refers to when they are so many that the database may be the wrong one (exit status
1); --force removes them all the same.
"""

import argparse

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from upload.checks import human_size
from upload.cleanup import remove_orphans


def _non_negative_hours(value):
    try:
        hours = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number of hours, not {value!r}") from None
    if hours < 0:
        raise argparse.ArgumentTypeError(f"0 or more hours, not {value}")
    return hours


class Command(BaseCommand):
    help = (
        "Remove temporary upload files, half-written media files and media files no record refers to, "
        "once older than CLEANUP_ORPHAN_AGE_HOURS; safe while the site runs."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Say what would be removed; remove nothing.")
        parser.add_argument(
            "--age-hours", type=_non_negative_hours, default=None,
            help="Remove only what is older than this many hours (default: CLEANUP_ORPHAN_AGE_HOURS, "
                 f"now {settings.CLEANUP_ORPHAN_AGE_HOURS}). 0 removes everything orphaned, in-flight "
                 "uploads included: only when the web server and workers are stopped.",
        )
        parser.add_argument(
            "--force", action="store_true",
            help="Remove unreferenced media files even when more than half of the project files (and more than "
                 "100) look unreferenced, or the database has no projects at all: only once you are sure this is "
                 "the database that goes with MEDIA_ROOT.",
        )

    def handle(self, *args, dry_run=False, age_hours=None, force=False, verbosity=1, **options):
        report = remove_orphans(dry_run=dry_run, age_hours=age_hours, force=force)
        verb = "would be removed" if dry_run else "removed"
        for kind in report.kinds:
            if verbosity >= 2:
                for path in kind.paths:
                    self.stdout.write(f"  {path}")
            size = f" ({human_size(kind.bytes)})" if kind.bytes else ""
            self.stdout.write(f"{kind.label}: {kind.files} {verb}{size}")
        if dry_run:
            self.stdout.write(f"Dry run: nothing was removed; {human_size(report.total_bytes)} would be freed.")
            if report.refused:
                self.stderr.write(f"Without --force a real run would not remove the unreferenced files: {report.refused}")
        else:
            self.stdout.write(f"{human_size(report.total_bytes)} freed.")
            if report.refused:
                raise CommandError(report.refused)
