"""A light job dispatcher for the bundled CLAM services (standard library only).

CLAM's own dispatcher (`clam.clamdispatcher`) starts a Python that imports
CLAM and the service's settings for every job: about 0.45 s per job here
(docs/performance.md, "CLAM layer"), as much as loading the acoustic model.
This one keeps its protocol. The service calls it as
`dispatcher settingsmodule projectdir command...` through a shell that sends
our stderr (and so the job's) to `output/error.log`, having written our pid
to `.pid`; then:

- `.pid` holds the job's own pid while it runs;
- `.abort` (the service writes it when a running project is deleted) stops
  the job: SIGTERM, SIGKILL after ABORT_GRACE_SECONDS, then `.aborted`;
- a job running longer than CLAM_SERVICES_MAX_JOB_SECONDS is stopped the
  same way and fails with a message in error.log;
- `.done` gets the exit status when the job has ended (0 success, else
  1-127, as CLAM only tells zero from non-zero), then `.pid` is removed;
- `tmp/` is emptied and the user's project index cache (`../.index`), which
  no longer matches, is removed; CLAM rebuilds it on the next listing.
"""

import os
import shutil
import signal
import subprocess
import sys
import time

ABORT_GRACE_SECONDS = 10.0


def _write(path, text):
    # Whole or not at all: the service may read the file at any moment.
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w") as f:
        f.write(text)
    os.replace(temporary, path)


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _stop(job):
    job.send_signal(signal.SIGTERM)
    try:
        job.wait(timeout=ABORT_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        job.kill()
        job.wait()


def run(projectdir, command, max_seconds):
    """Run the job to its end (or abort/time-out); returns the status for `.done`."""
    job = subprocess.Popen(command, cwd=projectdir)
    _write(projectdir + ".pid", str(job.pid))
    started = time.monotonic()
    while True:
        elapsed = time.monotonic() - started
        try:
            code = job.wait(timeout=0.05 if elapsed < 2 else 0.2)
            return 0 if code == 0 else max(1, min(code, 127))
        except subprocess.TimeoutExpired:
            pass
        if os.path.exists(projectdir + ".abort"):
            _stop(job)
            _remove(projectdir + ".abort")
            _write(projectdir + ".aborted", "")
            return 1
        if max_seconds and elapsed > max_seconds:
            _stop(job)
            print(f"The job was stopped after running longer than {max_seconds} s.", file=sys.stderr)
            return 3


def main(argv):
    if len(argv) < 4:
        print("usage: dispatcher SETTINGSMODULE PROJECTDIR COMMAND...", file=sys.stderr)
        return 1
    projectdir = argv[2].rstrip("/") + "/"
    max_seconds = int(os.environ.get("CLAM_SERVICES_MAX_JOB_SECONDS", "7200"))
    try:
        status = run(projectdir, argv[3:], max_seconds)
    except OSError as exc:  # the job could not be started at all
        print(f"The job could not be started: {exc}", file=sys.stderr)
        status = 1
    _write(projectdir + ".done", str(status))
    _remove(projectdir + ".pid")
    _remove(os.path.join(os.path.dirname(projectdir.rstrip("/")), ".index"))
    tmp = projectdir + "tmp"
    if os.path.isdir(tmp):
        for name in os.listdir(tmp):
            path = os.path.join(tmp, name)
            shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else _remove(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
