"""A fix for a race in CLAM 3.2's status check, applied by clamservices.serve.

`Project.running()` reads the job's pid from `.pid`; when that process has
ended but CLAM's dispatcher has not yet written `.done`, it writes `.done`
itself with status 1 (failure) and removes `.pid`. A status request that
lands in that window (easy when a client polls every 50-100 ms) either gets
a 500 (both it and the dispatcher remove `.pid`) or reports a successful
job as failed. Here, an ended job counts as running until the dispatcher
writes `.done`; only if the dispatcher never does (it died) is the job marked
failed, as CLAM does.
"""

import os
import time

DISPATCHER_GRACE_SECONDS = 5.0


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
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        pass
    except PermissionError:
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


def apply():
    from clam.clamservice import Project

    Project.running = staticmethod(_running)
