"""The local run command: prepare the database, then run the bundled CLAM
services, the web server and the background worker on 127.0.0.1 until Ctrl-C.

Started by `make run` (bin/run) after the dependencies are installed. Each
child runs in its own session so that Ctrl-C reaches only this supervisor,
which then stops the children in order: the worker with SIGTSTP (it finishes
its current task, see django-background-tasks), the others with their stop
signal sent to their whole process group, so that a CLAM service's running
jobs stop with it. Whatever is left of a group after the grace period is
killed.

A child that dies on its own is started again (a killed worker's steps are
then taken over by its restart); one that keeps dying at once stops
everything, and the exit status says so.
"""

import os
import signal
import subprocess
import sys
import time
from collections import deque

HOST = "127.0.0.1"
STOP_GRACE_SECONDS = 15
# A child that dies more often than this is broken (a port in use, a bad setting), not unlucky:
# restarting it again would only fill the terminal.
MAX_RESTARTS = 5
RESTART_WINDOW_SECONDS = 60


def manage(*args):
    return [sys.executable, "manage.py", *args]


def prepare():
    for step in (
        manage("migrate", "--noinput"),
        manage("collectstatic", "--noinput", "--verbosity", "0"),
        manage("ensure_admin"),
    ):
        subprocess.run(step, check=True)


def services(port):
    """(name, argv, stop signal) of every long-running process.

    The stop signal goes to the child's whole process group, except SIGTSTP: it would suspend
    anything else in the group instead of stopping it, so it goes to the child alone.
    """
    clam = [sys.executable, "-m", "clamservices.serve"]
    return [
        ("forced alignment service", [*clam, "forced_alignment", "--port", os.environ.get("CLAM_FA_PORT", "8001")], signal.SIGTERM),
        ("G2P service", [*clam, "g2p", "--port", os.environ.get("CLAM_G2P_PORT", "8002")], signal.SIGTERM),
        ("web", manage("runserver", f"{HOST}:{port}", "--noreload"), signal.SIGINT),
        # A short idle sleep: a process's next poll is due within a fraction of a second.
        ("worker", manage("process_tasks", "--sleep", "0.1"), signal.SIGTSTP),
    ]


class Supervisor:
    def __init__(self, specs):
        self.specs = specs
        self.children = []
        self.stopping = False

    def start(self):
        for spec in self.specs:
            self.children.append(self._spawn(spec))

    def _spawn(self, spec):
        name, argv, stop_signal = spec
        # Its own session: the terminal's Ctrl-C reaches only this supervisor, which stops each
        # child once, and the child's group holds everything it starts (CLAM's job processes).
        proc = subprocess.Popen(argv, start_new_session=True)
        print(f"[equestria] started {name} (pid {proc.pid})", flush=True)
        return {"spec": spec, "proc": proc, "restarts": deque()}

    def request_stop(self, signum, frame):
        self.stopping = True

    def wait(self):
        """Block until asked to stop or until a child keeps dying; return the exit status."""
        while not self.stopping:
            for child in self.children:
                proc = child["proc"]
                if proc.poll() is None or self.stopping:
                    continue
                name = child["spec"][0]
                now = time.monotonic()
                restarts = child["restarts"]
                while restarts and now - restarts[0] > RESTART_WINDOW_SECONDS:
                    restarts.popleft()
                if len(restarts) >= MAX_RESTARTS:
                    print(
                        f"[equestria] {name} exited with status {proc.returncode}, "
                        f"{len(restarts) + 1} times within {RESTART_WINDOW_SECONDS} s; stopping everything "
                        f"(its messages above say why)",
                        flush=True,
                    )
                    return proc.returncode or 1
                print(f"[equestria] {name} exited with status {proc.returncode}; starting it again", flush=True)
                # What the dead child started (a CLAM service's jobs) is not watched by anyone any more.
                self._end_group(proc.pid, grace=2)
                restarts.append(now)
                child.update(self._spawn(child["spec"]), restarts=restarts)
            time.sleep(0.2)
        return 0

    def stop(self):
        for child in reversed(self.children):
            name, _, stop_signal = child["spec"]
            proc = child["proc"]
            if proc.poll() is None:
                print(f"[equestria] stopping {name}", flush=True)
                self._signal(proc.pid, stop_signal, group=stop_signal != signal.SIGTSTP)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in self.children:
            proc = child["proc"]
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"[equestria] {child['spec'][0]} did not stop in time; killing it", flush=True)
                self._signal(proc.pid, signal.SIGKILL, group=True)
                proc.wait()
        for child in self.children:
            self._end_group(child["proc"].pid, grace=max(0.1, deadline - time.monotonic()))

    @staticmethod
    def _signal(pgid, signum, group):
        try:
            if group:
                os.killpg(pgid, signum)
            else:
                os.kill(pgid, signum)
        except ProcessLookupError:
            pass

    @classmethod
    def _end_group(cls, pgid, grace):
        """SIGTERM whatever is left in a finished child's process group, SIGKILL it after `grace` s."""
        cls._signal(pgid, signal.SIGTERM, group=True)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        cls._signal(pgid, signal.SIGKILL, group=True)


def main():
    port = int(os.environ.get("PORT", "8000"))
    # The worker's mails link to the site: on another port than 8000 they must say so (the children
    # inherit this environment). An operator's own address wins.
    os.environ.setdefault("EQUESTRIA_SITE_URL", f"http://{HOST}:{port}")
    prepare()
    supervisor = Supervisor(services(port))
    signal.signal(signal.SIGINT, supervisor.request_stop)
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    # The children have their own sessions: a closed terminal hangs up only this supervisor.
    signal.signal(signal.SIGHUP, supervisor.request_stop)
    supervisor.start()
    # Needs the CLAM services up: it waits for them, then imports them.
    subprocess.run(manage("setup_bundled_services", "--wait", "90"), check=False)
    print(f"[equestria] running at http://{HOST}:{port}/ — press Ctrl-C to stop", flush=True)
    print(
        f"[equestria] bundled CLAM services: http://{HOST}:{os.environ.get('CLAM_FA_PORT', '8001')}/ (forced alignment), "
        f"http://{HOST}:{os.environ.get('CLAM_G2P_PORT', '8002')}/ (G2P); user and password: see docs/operators/clam-services.md",
        flush=True,
    )
    status = supervisor.wait()
    supervisor.stop()
    print("[equestria] stopped", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
