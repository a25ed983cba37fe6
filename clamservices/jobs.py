"""What both job wrappers share: CLAM's data file, status reports, a log file, failing clearly."""

import os
import sys
from pathlib import Path

import clam.common.status

from clamservices.clamdata import ClamData


class JobFailed(Exception):
    """Ends the job with exit status 1 and this message in the status and the log."""


class Job:
    def __init__(self, datafile, statusfile, outputdir, log_name):
        self.data = ClamData(datafile)
        self.statusfile = statusfile
        self.outputdir = Path(outputdir)
        self.completion = 0
        self.log = open(self.outputdir / log_name, "a", encoding="utf-8")

    def param(self, name, default):
        value = self.data.get(name, default)
        return default if value is None else value

    def inputs(self, *templates):
        """[(Path, filename)] of the input files of these templates."""
        return [(Path(str(f)), os.path.basename(str(f))) for t in templates for f in self.data.inputfiles(t)]

    def report(self, message, completion=None):
        """Write a status line; without `completion` the last figure stands, so progress never jumps back to 0."""
        if completion is not None:
            self.completion = completion
        clam.common.status.write(self.statusfile, message, self.completion)
        if message != getattr(self, "_last_logged", None):  # progress within a step repeats its message
            self._last_logged = message
            self.log.write(message + "\n")
            self.log.flush()

    def run(self, body):
        """Run `body(self)`; a JobFailed becomes a clear status message and exit status 1."""
        try:
            body(self)
        except JobFailed as exc:
            message = f"Failed: {exc}"
            self.report(message, 100)
            # CLAM puts stderr in output/error.log, where clients find the reason.
            print(message, file=sys.stderr)
            return 1
        finally:
            self.log.close()
        return 0


def main(body, log_name):
    if len(sys.argv) != 4:
        print("usage: DATAFILE STATUSFILE OUTPUTDIRECTORY", file=sys.stderr)
        return 2
    return Job(*sys.argv[1:4], log_name=log_name).run(body)
