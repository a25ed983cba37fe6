"""Register the bundled CLAM services as Scripts, import them, and create the English pipeline and those of
EQUESTRIA_BUNDLED_LANGUAGES (pipelines/bundled.py).

Run by `make run` once the services answer; safe to run again (it changes
nothing an administrator set, except the bundled Scripts' address and credentials).
"""

import os
import time

from django.core.management.base import BaseCommand, CommandError

from pipelines.bundled import settings_problem, setup
from scripts.models import Pipeline


class Command(BaseCommand):
    help = "Register the bundled CLAM services and their pipelines (English, and EQUESTRIA_BUNDLED_LANGUAGES)."

    def add_arguments(self, parser):
        parser.add_argument("--wait", type=float, default=60, help="seconds to wait for the services to answer")

    def handle(self, *args, wait, **options):
        fa_url = f"http://127.0.0.1:{os.environ.get('CLAM_FA_PORT', '8001')}/"
        g2p_url = f"http://127.0.0.1:{os.environ.get('CLAM_G2P_PORT', '8002')}/"
        if problem := settings_problem():  # waiting for the services would not help
            raise CommandError(problem)
        deadline = time.monotonic() + wait
        while True:
            problems = setup(fa_url, g2p_url)
            if not problems:
                others = [f"“{p.name}”" for p in Pipeline.objects.filter(approximate=True, fa_script__name__startswith="Bundled ")]
                also = f" (and {', '.join(others)}, approximate)" if others else ""
                self.stdout.write(f"Bundled CLAM services registered; pipeline “English” ready{also}.")
                return
            if time.monotonic() > deadline:
                raise CommandError("; ".join(problems))
            time.sleep(0.5)
