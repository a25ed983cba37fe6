"""Small helpers shared by tests: paths, ports, Equestria's own commands, driving the task queue."""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"  # recordings with their transcripts


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(tmp_path, **overrides):
    """The environment of a fresh install: no Equestria variables, var/ in tmp_path."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {"DATABASE_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "HTTPS", "EMAIL_HOST", "DJANGO_ALLOW_ASYNC_UNSAFE", "CLAM_PASSWORD_KEYS"}
        and not key.startswith("EQUESTRIA_")
    }
    env["EQUESTRIA_VAR_DIR"] = str(tmp_path / "var")
    env.update(overrides)
    return env


def manage(args, env, **kwargs):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


def database_url_of_this_test_run():
    """DATABASE_URL for a subprocess (a worker) that must use the test database of this run."""
    from django.db import connection

    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def work_until(run, stages, limit=120):
    """Run queued tasks in this process, as the worker would, until `run` reaches one of `stages`."""
    from background_task.tasks import tasks

    deadline = time.monotonic() + limit
    while True:
        run.refresh_from_db()
        if run.stage in stages:
            return run
        assert time.monotonic() < deadline, f"run stuck in {run.stage}"
        if not tasks.run_next_task():
            time.sleep(0.05)


def download_name(response):
    """The file name a browser saves a download as (Content-Disposition, RFC 6266 with RFC 5987 for non-ASCII:
    `filename*` wins over the ASCII `filename` next to it)."""
    extended = re.search(r"filename\*=utf-8''([^;\s]+)", response["Content-Disposition"], re.IGNORECASE)
    if extended:
        return urllib.parse.unquote(extended.group(1))
    message = EmailMessage()
    message["Content-Disposition"] = response["Content-Disposition"]
    return message.get_filename()
