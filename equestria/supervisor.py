"""The local run command: prepare the database, then run the bundled CLAM
services, the web server and the background worker on 127.0.0.1 until Ctrl-C.

Started by `make run` (bin/run) after the dependencies are installed. Each
child runs in its own session so that Ctrl-C reaches only this supervisor,
which then stops the children in order: the worker with SIGTSTP (it finishes
its current task, see django-background-tasks), the web server with SIGINT.
If any child dies, the others are stopped too and the exit status says so.
"""

import os
import signal
import subprocess
import sys
import time

HOST = "127.0.0.1"
STOP_GRACE_SECONDS = 15


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
    """(name, argv, stop signal) of every long-running process."""
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
        for name, argv, stop_signal in self.specs:
            proc = subprocess.Popen(argv, start_new_session=True)
            self.children.append((name, proc, stop_signal))
            print(f"[equestria] started {name} (pid {proc.pid})", flush=True)

    def request_stop(self, signum, frame):
        self.stopping = True

    def wait(self):
        """Block until asked to stop or until a child exits; return the exit status."""
        while not self.stopping:
            for name, proc, _ in self.children:
                if proc.poll() is not None:
                    print(f"[equestria] {name} exited with status {proc.returncode}; stopping", flush=True)
                    return proc.returncode or 1
            time.sleep(0.2)
        return 0

    def stop(self):
        for name, proc, stop_signal in reversed(self.children):
            if proc.poll() is None:
                print(f"[equestria] stopping {name}", flush=True)
                proc.send_signal(stop_signal)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name, proc, _ in self.children:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"[equestria] {name} did not stop in time; killing it", flush=True)
                proc.kill()
                proc.wait()


def main():
    port = int(os.environ.get("PORT", "8000"))
    prepare()
    supervisor = Supervisor(services(port))
    signal.signal(signal.SIGINT, supervisor.request_stop)
    signal.signal(signal.SIGTERM, supervisor.request_stop)
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
