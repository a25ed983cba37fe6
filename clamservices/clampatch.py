"""Fixes for three races in CLAM 3.2, a cheaper job start and a quieter log, applied by clamservices.serve.

`Project.running()` reads the job's pid from `.pid`; when that process has
ended but CLAM's dispatcher has not yet written `.done`, it writes `.done`
itself with status 1 (failure) and removes `.pid`. A status request that
lands in that window (easy when a client polls every 50-100 ms) either gets
a 500 (both it and the dispatcher remove `.pid`) or reports a successful
job as failed. Here, an ended job counts as running until the dispatcher
writes `.done`; only if the dispatcher never does (it died) is the job marked
failed, as CLAM does. A zombie counts as ended: a job whose dispatcher was
killed with the service is nobody's child until init reaps it, and CLAM
would report it running meanwhile.

Second, the dispatcher creates `.done` and then writes the exit status into
it; `Project.exitstatus()` reading in between gets an empty file and fails
with a 500. Here it waits for the status to be written.

Third, `Project.updateindex()` (every project create, upload and start)
reads and rewrites the user's `.index` cache file without a lock: with
concurrent requests a reader sees a half-written file, takes it for corrupt
and unlinks it while another thread does the same, and the request fails
with a 500 (tests/benchmarks/throughput.py hit it with four workers). Here
the service's threads take turns, the file is replaced atomically, and a
cache that is unreadable (CLAM's dispatcher, another process, writes it in
place) or already gone is simply dropped, as CLAM intends: it is rebuilt on
the next project listing.

Fourth, CLAM starts every job as `sh -c ". activate && DISPATCHER ... 2> error.log"`
and never waits for that shell, which stays a zombie until the next job's
start reaps it. When the dispatcher is ours and the service's job server
answers, the job is forked by the job server straight away and watched by a
thread of this process (clamservices/dispatcher.py, `start_in_service`),
saving the shell and the dispatcher's Python (50-70 ms per job); otherwise
CLAM's shell runs as before, and a thread of this process waits for it.

Fifth, CLAM's authentication with both basic and digest (the bundled
services') wrote two debug lines to the service's log on every request.
"""

import contextlib
import datetime
import json
import os
import shlex
import subprocess
import threading
import time

# Well under the client's read timeout (Equestria's CLAM_READ_TIMEOUT, 5 s by default): after a restart
# of a service killed with its jobs, the first status request of each lost job waits this long. Both
# dispatchers write `.done` within a second of the job's end.
DISPATCHER_GRACE_SECONDS = 2.5


def _running(project, user):
    from clam.clamservice import Project

    base = Project.path(project, user)
    pidfile, donefile = base + ".pid", base + ".done"
    if not os.path.isfile(pidfile) or os.path.isfile(donefile):
        return False
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        # Removed or being rewritten by the dispatcher right now.
        return not os.path.isfile(donefile)
    if not _ended(pid):
        return True
    deadline = time.monotonic() + DISPATCHER_GRACE_SECONDS
    while time.monotonic() < deadline:
        if os.path.isfile(donefile):
            return False
        time.sleep(0.05)
    if not os.path.isfile(donefile):
        with open(donefile, "w") as f:
            f.write("1")
    try:
        os.unlink(pidfile)
    except FileNotFoundError:
        pass
    return False


def _ended(pid):
    """Whether the process has ended: gone, or a zombie.

    A job whose dispatcher died with the service becomes the child of the machine's init, which may
    take its time to reap it (or never do, in a container without one); meanwhile kill(pid, 0) still
    succeeds, and CLAM would report the lost job as running.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            # "pid (command) state …": the command may itself hold ") ".
            return f.read().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _exitstatus(project, user):
    from clam.clamservice import Project

    path = Project.path(project, user) + ".done"
    deadline = time.monotonic() + DISPATCHER_GRACE_SECONDS
    while True:
        with open(path) as f:
            text = f.read(1024).strip()
        if text or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    try:
        return int(text)
    except ValueError:
        return 1


_index_lock = threading.Lock()


def _updateindex(user, project, size, status):
    import clam.clamservice

    folder = os.path.join(clam.clamservice.settings.ROOT, "projects", user)
    indexfile = os.path.join(folder, ".index")
    with _index_lock:
        try:
            with open(indexfile, encoding="utf-8") as f:
                data = json.load(f)
            entries = data["projects"]
        except FileNotFoundError:
            return  # as CLAM: only an existing index is updated
        except (ValueError, KeyError, TypeError):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(indexfile)
            return
        try:
            modified = datetime.datetime.fromtimestamp(os.stat(os.path.join(folder, project)).st_mtime)
        except FileNotFoundError:
            return  # deleted meanwhile
        entry = [project, modified.strftime("%Y-%m-%d %H:%M:%S"), size, status]
        for i, old in enumerate(entries):
            if old[0] == project:
                if old[2] == size and old[3] == status:
                    return
                entries[i] = entry
                break
        else:
            entries.append(entry)
        temporary = f"{indexfile}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False)
        os.replace(temporary, indexfile)


class _Subprocess:
    """The `subprocess` module as clam.clamservice sees it: its job starts go through `_start_job`."""

    def __getattr__(self, name):
        return getattr(subprocess, name)

    @staticmethod
    def Popen(args, *rest, **kwargs):  # noqa: N802 - subprocess's name
        # Project.start's is the only call with a shell and no pipes (archives and actions read the output).
        if kwargs.get("shell") and "stdout" not in kwargs and isinstance(args, str):
            return _start_job(args, *rest, **kwargs)
        return subprocess.Popen(args, *rest, **kwargs)


def _start_job(cmd, *rest, **kwargs):
    from clamservices import dispatcher

    parts = _our_dispatch(cmd)
    if parts and os.environ.get("CLAM_SERVICES_JOB_SOCKET"):
        job = dispatcher.start_in_service(*parts)
        if job is not None:
            return job
        # The job server did not take it: the dispatcher need not wait for it again.
        kwargs["env"] = {k: v for k, v in os.environ.items() if k != "CLAM_SERVICES_JOB_SOCKET"}
    process = subprocess.Popen(cmd, *rest, **kwargs)
    threading.Thread(target=process.wait, name="job-shell-reaper", daemon=True).start()
    return process


def _our_dispatch(cmd):
    """(projectdir, command, errorlog) of CLAM's job-start command when it runs our dispatcher, else None.

    CLAM builds it as `[. VENV/bin/activate && ]DISPATCHER SETTINGSMODULE PROJECTDIR COMMAND... 2> ERRORLOG`.
    """
    import clam.clamservice

    from clamservices import dispatcher

    venv = os.environ.get("VIRTUAL_ENV")
    prefix = f". {venv}/bin/activate && " if venv else ""
    ours = shlex.split(clam.clamservice.settings.DISPATCHER)
    if not cmd.startswith(prefix) or os.path.realpath(ours[-1]) != os.path.realpath(dispatcher.__file__):
        return None
    try:
        words = shlex.split(cmd[len(prefix):])
    except ValueError:
        return None
    if words[:len(ours)] != ours or len(words) < len(ours) + 5 or words[-2] != "2>":
        return None
    _, projectdir, *command = words[len(ours):-2]
    return projectdir.rstrip("/") + "/", command, words[-1]


def _quiet_multi_auth():
    """CLAM's MultiAuth (basic and digest authentication at once), debug lines only in CLAM's debug mode.

    CLAM makes it without its `debug` function, and then it prints two lines to the service's log on
    every request ("Handling Multiple Authenticators for 127.0.0.1"): thousands per job, polls included.
    """
    import clam.common.auth
    import clam.common.util

    class MultiAuth(clam.common.auth.MultiAuth):
        def __init__(self, main_auth, *args, **kwargs):
            kwargs.setdefault("debug", clam.common.util.printdebug)
            super().__init__(main_auth, *args, **kwargs)

    return MultiAuth


def _without_input_file_list(print_=print):
    """The `print` of clam.common.data, without Profile.generate's leftover debug print of every job's input
    files (a Python list of tuples with object addresses, on the service's stderr, which `make run` shows: an
    operator read it as an error). Every other line it prints is kept."""

    def quiet(*args, **kwargs):
        if len(args) == 1 and isinstance(args[0], list):
            return
        print_(*args, **kwargs)

    return quiet


def apply():
    import clam.clamservice
    import clam.common.auth
    import clam.common.data
    from clam.clamservice import Project

    clam.clamservice.subprocess = _Subprocess()
    clam.common.auth.MultiAuth = _quiet_multi_auth()
    clam.common.data.print = _without_input_file_list()

    Project.running = staticmethod(_running)
    Project.exitstatus = staticmethod(_exitstatus)
    Project.updateindex = staticmethod(_updateindex)
