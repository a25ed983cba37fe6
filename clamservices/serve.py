"""Serve one bundled CLAM service with waitress on 127.0.0.1.

    python -m clamservices.serve forced_alignment --port 8001
    python -m clamservices.serve g2p --port 8002

CLAM's own `clamservice` command always binds every interface, hence this. The
settings module and the job wrappers are imported by name in CLAM's
dispatcher (a child process), so the project folder goes on PYTHONPATH, and
VIRTUAL_ENV makes CLAM run jobs inside this virtual environment.

Next to waitress runs the service's job server (clamservices/jobserver.py), which
has the job module imported once and forks a child per job; it is restarted
when it dies, at most JOB_SERVER_STARTS_PER_MINUTE times a minute.
CLAM_SERVICES_JOB_SERVER=0 turns it off (every job then starts a fresh Python).
"""

import argparse
import importlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from clamservices.credentials import service_credentials, var_dir

HOST = "127.0.0.1"
SERVICES = {
    "forced_alignment": ("clamservices.config.forced_alignment", 8001),
    "g2p": ("clamservices.config.g2p", 8002),
}
PROJECT_DIR = Path(__file__).resolve().parent.parent
# The job module each bundled service's job server preloads (its COMMAND runs it with -m).
JOB_MODULES = {"forced_alignment": "clamservices.fa_job", "g2p": "clamservices.g2p_job"}
JOB_SERVER_STARTS_PER_MINUTE = 3
SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes


def prepare_environment():
    """Environment that CLAM's dispatcher and the job wrappers inherit."""
    user, password = service_credentials()
    os.environ["CLAM_SERVICES_USER"] = user
    os.environ["CLAM_SERVICES_PASSWORD"] = password
    os.environ.setdefault("CLAM_SERVICES_ROOT", str(var_dir() / "clam"))
    paths = [str(PROJECT_DIR)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    if sys.prefix != sys.base_prefix:
        os.environ["VIRTUAL_ENV"] = sys.prefix
        os.environ["PATH"] = os.pathsep.join([str(Path(sys.prefix) / "bin"), os.environ.get("PATH", "")])


def make_app(service=None, settings_module=None):
    prepare_environment()
    import clam.clamservice

    from clamservices import clampatch

    clampatch.apply()
    settings = importlib.import_module(settings_module or SERVICES[service][0])
    # CLAM takes a projects folder without "anonymous" in it for one from before CLAM 0.7 and, on
    # start-up, moves every user's folder into "anonymous": its first restart would lose every project,
    # running jobs' included, and keep their inputs (researchers' recordings) where nothing deletes them.
    (Path(settings.ROOT) / "projects" / "anonymous").mkdir(parents=True, exist_ok=True)
    return clam.clamservice.run_wsgi(settings)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("service", choices=sorted(SERVICES) + ["custom"])
    parser.add_argument("--port", type=int, help="port on 127.0.0.1 (default: 8001 for FA, 8002 for G2P)")
    parser.add_argument("--settings", help="with 'custom': the CLAM settings module to serve (used by tests)")
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    if args.service == "custom" and not (args.settings and args.port):
        parser.error("'custom' needs --settings and --port")
    port = args.port or SERVICES[args.service][1]
    app = make_app(args.service, args.settings)
    os.environ.pop("CLAM_SERVICES_JOB_SOCKET", None)  # only ever this service's own job server
    if args.service in JOB_MODULES and os.environ.get("CLAM_SERVICES_JOB_SERVER", "1") != "0":
        start_job_server(JOB_MODULES[args.service], Path(os.environ["CLAM_SERVICES_ROOT"]) / args.service)
    print(f"[clamservices] {args.service} on http://{HOST}:{port}/", flush=True)
    serve(app, port, args.threads)


def job_socket_path(folder):
    folder.mkdir(parents=True, exist_ok=True)
    path = str(folder / "jobserver.sock")
    if len(path.encode()) > SOCKET_PATH_MAX:  # too long for a Unix socket: a private folder of its own
        path = os.path.join(tempfile.mkdtemp(prefix="equestria-jobs-"), "jobserver.sock")
    return path


def start_job_server(module, folder):
    """Keep a job server for `module` running (in a thread) and tell the dispatcher its socket."""
    path = job_socket_path(folder)
    os.environ["CLAM_SERVICES_JOB_SOCKET"] = path
    argv = [sys.executable, "-m", "clamservices.jobserver", module, path]

    def keep_running():
        # This thread must outlive the server it starts: the server dies with it (PR_SET_PDEATHSIG is tied
        # to the thread that forked it), hence the loop here rather than a thread per start.
        starts = []
        while True:
            now = time.monotonic()
            starts = [t for t in starts if now - t < 60] + [now]
            # A child of ours, in our process group: killing the service's group ends it and its jobs.
            server = subprocess.Popen(argv, cwd=PROJECT_DIR)
            server.wait()
            print(f"[clamservices] the job server stopped (exit status {server.returncode}); "
                  "jobs start without it until it is back", flush=True)
            if len(starts) >= JOB_SERVER_STARTS_PER_MINUTE:
                time.sleep(max(0.0, 60 - (time.monotonic() - starts[0])))

    threading.Thread(target=keep_running, name="job-server", daemon=True).start()


def serve(app, port, threads):
    """Serve a CLAM app with waitress on 127.0.0.1 (also used by tests/clamconfigs/latency_serve.py)."""
    import waitress

    waitress.serve(
        app,
        host=HOST,
        port=port,
        threads=threads,
        # Audio uploads can be large; waitress spools bodies to disk.
        max_request_body_size=int(os.environ.get("CLAM_SERVICES_MAX_UPLOAD_BYTES", str(4 * 1024**3))),
        ident="equestria-clam",
        _quiet=True,
    )


if __name__ == "__main__":
    main()
