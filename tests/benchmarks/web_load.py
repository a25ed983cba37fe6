"""Load test: logged-in users browsing project lists and project pages, against gunicorn on 127.0.0.1.

    .venv/bin/python -m tests.benchmarks.web_load [seconds per row, default 15]

A fresh SQLite database with 50 users, 500 projects and 5,000 files; gunicorn
with 4 workers; for 1, 4, 8, 16 and 50 concurrent users (threads, each
logged in with its own session, no pause between requests), each alternates
between the project list and one of their project pages for a bounded time.
Prints requests per second, latency percentiles and errors per row, and
writes them to docs/performance.md. Not part of the test suite.
"""

import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from tests.benchmarks.aligner_speed import write_section
from tests.helpers import ROOT, free_port

USERS, PROJECTS_PER_USER, FILES_PER_PROJECT = 50, 10, 10
LEVELS = [1, 4, 8, 16, 50]  # concurrent users per row
WORKERS = 4
PASSWORD = "load test password 1"
SETUP = f"""
from accounts.models import User
from tests.factories import make_fa_pipeline
from upload.models import Project, ProjectFile
pipeline = make_fa_pipeline()
for u in range({USERS}):
    user = User.objects.create_user(f"user{{u}}", f"user{{u}}@example.org", "{PASSWORD}")
    for p in range({PROJECTS_PER_USER}):
        project = Project.objects.create(owner=user, name=f"project {{p}}", pipeline=pipeline)
        ProjectFile.objects.bulk_create(
            ProjectFile(project=project, name=f"rec{{i}}.{{'wav' if i % 2 else 'txt'}}", file=f"x/{{project.pk}}/{{i}}",
                        size=1000, template_id="audio" if i % 2 else "transcript",
                        kind="audio" if i % 2 else "transcript", duration=3.0 if i % 2 else None,
                        sample_rate=16000 if i % 2 else None, channels=1)
            for i in range({FILES_PER_PROJECT}))
print(Project.objects.count(), ProjectFile.objects.count())
"""


def user_session(base, number, stop, latencies, errors):
    session = requests.Session()
    try:
        session.get(base + "/accounts/login/", timeout=30)
        response = session.post(base + "/accounts/login/", {"username": f"user{number}", "password": PASSWORD,
                                "csrfmiddlewaretoken": session.cookies["csrftoken"]}, timeout=30)
        page = session.get(base + "/projects/", timeout=30).text
        projects = sorted(set(__import__("re").findall(r'href="(/projects/[0-9a-f-]+/)"', page)))
        assert projects, "no projects listed"
    except Exception as exc:
        errors.append(f"login: {exc}")
        return
    rng = random.Random(number)
    while not stop.is_set():
        url = base + ("/projects/" if rng.random() < 0.5 else rng.choice(projects))
        start = time.perf_counter()
        try:
            response = session.get(url, timeout=30)
            if response.status_code != 200:
                errors.append(f"{response.status_code} {url}")
        except requests.RequestException as exc:
            errors.append(str(exc))
            continue
        latencies.append(time.perf_counter() - start)


def measure(base, users, seconds):
    stop, latencies, errors = threading.Event(), [], []
    threads = [threading.Thread(target=user_session, args=(base, n, stop, latencies, errors)) for n in range(users)]
    for t in threads:
        t.start()
    time.sleep(2)  # logins done; count only browsing
    del latencies[:]
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    return users, latencies, errors


def main():
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "EQUESTRIA_VAR_DIR": tmp}
        env.pop("DATABASE_URL", None)
        manage = [sys.executable, "manage.py"]
        subprocess.run(manage + ["migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        subprocess.run(manage + ["collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        counts = subprocess.run(manage + ["shell", "-c", SETUP], cwd=ROOT, env=env, check=True,
                                capture_output=True, text=True).stdout.strip().splitlines()[-1].split()
        port = free_port()
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "equestria.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", str(WORKERS), "--log-level", "warning"],
            cwd=ROOT, env=env,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    requests.get(base + "/", timeout=10)
                    break
                except requests.RequestException:
                    time.sleep(0.5)
            results = [measure(base, users, seconds) for users in LEVELS]
        finally:
            server.terminate()
            server.wait(timeout=30)

    lines = [
        "## Web latency under load",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} by `tests/benchmarks/web_load.py`: gunicorn ({WORKERS} workers) on "
        f"127.0.0.1, SQLite with {counts[0]} projects and {counts[1]} files of {USERS} users. N logged-in users "
        f"(one thread and session each, no pause between requests) alternate between the project list and their "
        f"project pages for {seconds} s per row; the load generator runs on the same {os.cpu_count()}-core machine. "
        "Goal: p95 < 100 ms under a bounded load.",
        "",
        "| concurrent users | requests | errors | requests/s | p50 (ms) | p95 (ms) | p99 (ms) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    errors = []
    for users, latencies, errs in results:
        q = statistics.quantiles(latencies, n=100)
        errors += errs
        lines.append(f"| {users} | {len(latencies)} | {len(errs)} | {len(latencies) / seconds:.0f} | {q[49] * 1000:.0f} "
                     f"| {q[94] * 1000:.0f} | {q[98] * 1000:.0f} |")
    best = max(results, key=lambda r: len(r[1]))
    within = [users for users, latencies, _ in results if statistics.quantiles(latencies, n=100)[94] < 0.1]
    lines += [
        "",
        f"p95 stays under 100 ms up to {max(within) if within else 0} users sending requests back to back. "
        f"Throughput levels off at about {len(best[1]) / seconds:.0f} requests/s, this machine's ceiling with the "
        "load generator on the same cores; beyond it every extra user only lengthens the queue (latency ≈ users / "
        "throughput, Little's law), so a lower p95 at 16 or 50 such users needs more cores or less CPU per page, "
        "not a different setting.",
    ]
    table = "\n".join(lines) + "\n"
    print(table)
    if errors:
        print("first errors:", errors[:5])
    write_section(table)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
