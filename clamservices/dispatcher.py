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
- `tmp/` is emptied.

When CLAM_SERVICES_JOB_SOCKET names the socket of the service's job server
(clamservices/jobserver.py, started by clamservices.serve), the job is forked
from that server, which has the job's modules imported already, with this
process's stdin/stdout/stderr and environment; `.pid` holds the forked
child's pid and abort and time limit signal it as above. A job server that is
not there or does not answer means the job is started here, as before; one
that dies during the job loses it (error.log says so, without the line that
says the job ended, so Equestria starts the job again as a lost one).

When the job server answers, the service does not even start this as a process: CLAM's
start goes to `start_in_service` (clamservices/clampatch.py), which asks the job server from
the service's own process and watches the job there in a thread, as `main` would.

Like CLAM's, it says in error.log that it started and, before `.done`, that
the job ended (lines beginning "[CLAM Dispatcher]"): a service killed together
with its jobs leaves the first without the second, which is how Equestria
tells a job lost with its service from one that failed (scripts/runner.py,
`_job_lost`): CLAM reports both as done with errors.

Unlike CLAM's, it leaves the user's project index (`../.index`, a cache for
CLAM's own project listing page) alone: that page may show a finished job as
running until the project is deleted, which Equestria does at the end of every
job. Removing the cache instead would make CLAM rescan every project folder on
the next project creation.
"""

import os
import signal
import socket
import sys
import threading
import time

ABORT_GRACE_SECONDS = 10.0
CHECK_SECONDS = 0.2
# How long the job server may take to answer with the job's pid before the job is started here instead.
JOB_SERVER_SECONDS = 10.0
# The same, when the service's own process asks (start_in_service): a request of CLAM's waits meanwhile.
JOB_SERVER_START_SECONDS = 2.0
# How long start_in_service's watcher waits for CLAM to write `.pid` once the job has ended.
PID_FILE_SECONDS = 2.0
LOST_MESSAGE = ("The service's job server stopped while this job was running, so the job was lost; "
                "it can be started again.")


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


def _stop(job, ended):
    job.send_signal(signal.SIGTERM)
    if not ended.wait(ABORT_GRACE_SECONDS):
        job.kill()
        ended.wait()


class ServedJob:
    """A job forked by the service's job server (clamservices/jobserver.py), with Popen's methods used here."""

    def __init__(self, pid, connection):
        self.pid, self.connection = pid, connection
        self.returncode = None
        self.lost = False

    def wait(self):
        try:
            reply = self.connection.recv(64)
        except OSError:
            reply = b""
        if reply.startswith(b"status "):
            self.returncode = int(reply[7:])
        else:  # the job server is gone, and its children with it
            self.lost = True
            self.kill()
            self.returncode = -signal.SIGKILL
        self.connection.close()
        return self.returncode

    def send_signal(self, sig):
        if self.returncode is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self):
        self.send_signal(signal.SIGKILL)


def served_job(projectdir, command, fds=(0, 1, 2), timeout=JOB_SERVER_SECONDS):
    """The job started by the job server named in CLAM_SERVICES_JOB_SOCKET, or None: then start it here.

    `fds` become the job's stdin, stdout and stderr; the job gets this process's environment.
    """
    path = os.environ.get("CLAM_SERVICES_JOB_SOCKET")
    if not path:
        return None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    connection.settimeout(timeout)
    try:
        connection.connect(path)
        # NUL-separated (no argument or variable holds one) rather than JSON: importing json (and so re)
        # would add about 20 ms to every job.
        fields = [str(len(command)), *command, projectdir, *(f"{k}={v}" for k, v in os.environ.items())]
        socket.send_fds(connection, ["\0".join(fields).encode("utf-8", "surrogateescape")], list(fds))
        reply = connection.recv(64)
    except OSError:  # not running, or not answering: closing makes it drop a job it started
        connection.close()
        return None
    if not reply.startswith(b"pid "):
        connection.close()
        return None
    connection.settimeout(None)
    return ServedJob(int(reply[4:]), connection)


def start_in_service(projectdir, command, errorlog):
    """In the service's own process: the job forked by its job server, watched by a thread here; None if not.

    Does what a dispatcher process would (error.log's lines, abort, time limit, `.done`, `tmp/`) without
    starting one: with CLAM's shell, that costs 50-70 ms per job, and CLAM never waits for the shell, which
    stayed a zombie until the next job. None (nothing started, error.log left to the caller) when the job
    server is off, not answering within JOB_SERVER_START_SECONDS, or refuses the command.
    """
    if not os.environ.get("CLAM_SERVICES_JOB_SOCKET"):
        return None
    log = open(errorlog, "w", encoding="utf-8", errors="backslashreplace")
    try:
        print("[CLAM Dispatcher] Started", file=log, flush=True)
        with open(os.devnull, "rb") as stdin:
            job = served_job(projectdir, command, (stdin.fileno(), 1, log.fileno()), JOB_SERVER_START_SECONDS)
    except OSError:
        job = None
    if job is None:
        log.close()
        return None
    threading.Thread(target=_watch_in_service, args=(job, projectdir, log), name="job-watch", daemon=True).start()
    return job


def _watch_in_service(job, projectdir, log):
    try:
        status = supervise(job, projectdir, max_job_seconds(), log)
        # CLAM writes `.pid` once start_in_service has returned: never remove it before it is there.
        deadline = time.monotonic() + PID_FILE_SECONDS
        while not os.path.exists(projectdir + ".pid") and time.monotonic() < deadline:
            time.sleep(0.005)
        finish(projectdir, status, log)
    except OSError:  # the project was deleted under the job (CLAM waits for `.done` before it deletes one)
        pass
    finally:
        log.close()


def run(projectdir, command, max_seconds):
    """Run the job to its end (or abort/time-out); returns the status for `.done`, None if the job was lost."""
    job = served_job(projectdir, command)
    if job is None:
        import subprocess  # only here: a job from the job server does without its import time

        job = subprocess.Popen(command, cwd=projectdir)
    _write(projectdir + ".pid", str(job.pid))
    return supervise(job, projectdir, max_seconds, sys.stderr)


def supervise(job, projectdir, max_seconds, log):
    """Wait for the job's end, stopping it on `.abort` or after `max_seconds`; the status for `.done`, None if lost."""
    # A thread blocks in wait(), so the end of the job is seen at once and nothing polls it;
    # this thread only looks for `.abort` and the time limit, a few times a second.
    ended = threading.Event()
    threading.Thread(target=lambda: (job.wait(), ended.set()), daemon=True).start()
    started = time.monotonic()
    while not ended.wait(CHECK_SECONDS):
        if os.path.exists(projectdir + ".abort"):
            _stop(job, ended)
            _remove(projectdir + ".abort")
            _write(projectdir + ".aborted", "")
            return 1
        if max_seconds and time.monotonic() - started > max_seconds:
            _stop(job, ended)
            print(f"The job was stopped after running longer than {max_seconds} s.", file=log)
            return 3
    if getattr(job, "lost", False):
        return None
    return 0 if job.returncode == 0 else max(1, min(job.returncode, 127))


def finish(projectdir, status, log):
    """Say in error.log how the job ended, write `.done`, remove `.pid` and empty `tmp/`."""
    if status is None:
        # Without the line that says the job ended, Equestria takes it for a job lost with its service and
        # starts it again (scripts/runner.py, _job_lost); CLAM sees a failure.
        print(LOST_MESSAGE, file=log, flush=True)
        status = 1
    else:
        print(f"[CLAM Dispatcher] Job ended with exit status {status}", file=log, flush=True)
    _write(projectdir + ".done", str(status))
    _remove(projectdir + ".pid")
    tmp = projectdir + "tmp"
    if os.path.isdir(tmp):
        for name in os.listdir(tmp):
            path = os.path.join(tmp, name)
            if os.path.isdir(path):
                import shutil  # here: importing it costs about 10 ms, and most jobs leave no folder in tmp/

                shutil.rmtree(path, ignore_errors=True)
            else:
                _remove(path)


def main(argv):
    if len(argv) < 4:
        print("usage: dispatcher SETTINGSMODULE PROJECTDIR COMMAND...", file=sys.stderr)
        return 1
    projectdir = argv[2].rstrip("/") + "/"
    print("[CLAM Dispatcher] Started", file=sys.stderr, flush=True)
    try:
        status = run(projectdir, argv[3:], max_job_seconds())
    except OSError as exc:  # the job could not be started at all
        print(f"The job could not be started: {exc}", file=sys.stderr)
        status = 1
    finish(projectdir, status, sys.stderr)
    return 0


def max_job_seconds():
    return int(os.environ.get("CLAM_SERVICES_MAX_JOB_SECONDS", "7200"))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
