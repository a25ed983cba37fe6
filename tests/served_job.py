"""A job module for tests of the job server (tests/test_job_server.py): `python -m tests.served_job WHAT FILE`.

WHAT: "facts" writes what the job sees of its process to FILE (JSON); "sleep" sleeps up to a minute;
"crash" dies of SIGSEGV; "pool-METHOD" squares numbers in a multiprocessing pool (start method METHOD)
into FILE; "fail" exits 5.
"""

import json
import multiprocessing
import os
import signal
import sys
import time


def _square(number):
    return number * number


def main(what, path):
    if what == "facts":
        sockets = []
        for fd in os.listdir("/proc/self/fd"):
            try:
                if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                    sockets.append(int(fd))
            except FileNotFoundError:  # the listing's own descriptor, closed by now
                pass
        facts = {
            "pid": os.getpid(), "ppid": os.getppid(), "cwd": os.getcwd(), "argv": sys.argv,
            "marker": os.environ.get("SERVED_JOB_MARKER"), "name": __name__,
            "sockets": sockets, "pgrp": os.getpgrp(),
            "sigterm_default": signal.getsignal(signal.SIGTERM) == signal.SIG_DFL,
            "sigchld_default": signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL,
            "sigint_python": signal.getsignal(signal.SIGINT) is signal.default_int_handler,
            "blocked": sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])),
        }
        print("a line for error.log", file=sys.stderr)
        with open(path, "w") as f:
            json.dump(facts, f)
    elif what == "sleep":
        with open(path, "w") as f:
            f.write(str(os.getpid()))
        time.sleep(60)
    elif what == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif what.startswith("pool-"):  # pool-fork, pool-spawn, pool-forkserver
        with multiprocessing.get_context(what[5:]).Pool(2) as pool:
            squares = pool.map(_square, range(10))
        with open(path, "w") as f:
            json.dump(squares, f)
    elif what == "fail":
        return 5
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
