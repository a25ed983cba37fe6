"""A minimal CLAM job dispatcher for tests/clamconfigs/fast_fa.py (stdlib only).

CLAM's own dispatcher imports CLAM and the service settings in a fresh
interpreter for every job (about 0.4 s of CPU here) and polls its job with
sleeps of 50 ms and more. For a throughput benchmark whose service must not
be the bottleneck that cost would dominate a 2-core machine, so this one does
the same protocol in a few lines: CLAM's calling convention
(`settingsmodule projectdir command...`, stderr redirected by the shell), the
job's pid in `.pid` while it runs, its exit code in `.done` when it ends.
"""

import os
import subprocess
import sys


def main(argv):
    projectdir = argv[2].rstrip("/") + "/"
    job = subprocess.Popen(argv[3:], cwd=projectdir)
    with open(projectdir + ".pid", "w") as f:
        f.write(str(job.pid))
    code = job.wait()
    with open(projectdir + ".done", "w") as f:
        f.write(str(min(max(code, 0), 127) if code >= 0 else 1))
    try:
        os.unlink(projectdir + ".pid")
    except FileNotFoundError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
