"""`manage.py process_tasks`: django-background-tasks' worker, without its pause after every task.

The library's worker sleeps a random 0–0.1 s after each task it runs (its
"fast" setting; SIGUSR2 makes it 0.5–1.5 s). A CLAM process is a chain of
short tasks, so with 200 projects that pause was most of a worker's time
(tests/benchmarks/throughput.py). This command replaces the library's (this
app comes first in INSTALLED_APPS) and goes straight to the next task while
there is one; it still sleeps `--sleep` seconds when the queue is empty, and
SIGTSTP still stops it after the current task. SIGUSR1/SIGUSR2 keep their
meaning: SIGUSR2 brings the library's slow pause back.
"""

from background_task.management.commands import process_tasks
from background_task.utils import SignalManager
from django.utils import autoreload


class NoPauseSignalManager(SignalManager):
    time_to_wait = (0.0, 0.0)

    def speed_up(self, signum, frame):
        self.time_to_wait = (0.0, 0.0)


class Command(process_tasks.Command):
    def handle(self, *args, **options):
        # As the library's handle(), with our signal manager.
        self.sig_manager = NoPauseSignalManager()
        if options.get("dev"):
            autoreload.run_with_reloader(self.run, *args, **options)
        else:
            self.run(*args, **options)
