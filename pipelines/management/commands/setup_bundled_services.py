"""Register the bundled CLAM services as Scripts, import them, and create the English pipeline.

Run by `make run` once the services answer; safe to run again (it changes
nothing an administrator set, except the bundled Scripts' address and credentials).
"""

import os
import time

from django.core.management.base import BaseCommand, CommandError

from pipelines.bundled import setup


class Command(BaseCommand):
    help = "Register the bundled CLAM services and the English pipeline."

    def add_arguments(self, parser):
        parser.add_argument("--wait", type=float, default=60, help="seconds to wait for the services to answer")

    def handle(self, *args, wait, **options):
        fa_url = f"http://127.0.0.1:{os.environ.get('CLAM_FA_PORT', '8001')}/"
        g2p_url = f"http://127.0.0.1:{os.environ.get('CLAM_G2P_PORT', '8002')}/"
        deadline = time.monotonic() + wait
        while True:
            problems = setup(fa_url, g2p_url)
            if not problems:
                self.stdout.write("Bundled CLAM services registered; pipeline “English” ready.")
                return
            if time.monotonic() > deadline:
                raise CommandError("; ".join(problems))
            time.sleep(0.5)
