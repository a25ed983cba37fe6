"""Benchmark: 200 projects started at once through forced alignment, with one and with four workers.

    .venv/bin/python -m tests.benchmarks.throughput [projects, default 200]

Runs on a throw-away PostgreSQL cluster (it starts one through tests.pgcluster
when DATABASE_URL is not PostgreSQL) against a fast FA-shaped test service
(tests/clamconfigs/fast_fa.py: the job waits without using the CPU, so the
service is not the bottleneck). For each worker count: fresh projects with one
recording and its transcript each, the workers started idle, then every
project's alignment started as fast as the web view would, until every run is
done. Figures:

* total: first "start" to the last result stored in a project;
* service busy: wall-clock time during which at least one job ran on the
  service (from the job's own start/end times), and the service's CPU time
  (waitress, CLAM's dispatchers and the jobs);
* worker peak memory: the largest peak resident size (VmHWM) of any worker.

Goals (issue 8): total within 1.2 x service busy time, worker peak under
200 MB, four workers at least 3 x one worker. Prints a table and writes it
to docs/performance.md. Not part of the test suite.
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.benchmarks.upload_memory import peak_kb
from tests.helpers import DATA, ROOT

STEM = "cards-001"


def _on_postgresql():
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


def union_seconds(intervals):
    """Length of the union of [start, end] intervals."""
    total, current_start, current_end = 0.0, None, None
    for start, end in sorted(intervals):
        if current_end is None or start > current_end:
            if current_end is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None:
        total += current_end - current_start
    return total


def cpu_seconds(pid):
    """CPU time of a process and its waited-for children (utime, stime, cutime, cstime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def make_projects(count, pipeline, owner, tag):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from upload.models import Project
    from upload.services import Upload

    wav, txt = (DATA / f"{STEM}.wav").read_bytes(), (DATA / f"{STEM}.txt").read_bytes()
    projects = []
    for number in range(count):
        project = Project.objects.create(owner=owner, name=f"{tag} {number}", pipeline=pipeline)
        upload = Upload(project)
        upload.add(SimpleUploadedFile(f"{STEM}.wav", wav))
        upload.add(SimpleUploadedFile(f"{STEM}.txt", txt))
        projects.append(project)
    return projects


def postmaster_pid():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT setting FROM pg_settings WHERE name = 'data_directory'")
        data = cursor.fetchone()[0]
    return int(Path(data, "postmaster.pid").read_text().split()[0])


def one_round(workers, projects, service, job_log, env, tmp):
    from django.db.models import Max

    from pipelines import services
    from pipelines.models import Run

    job_log.write_text("")
    postgres = postmaster_pid()
    service_cpu, postgres_cpu = cpu_seconds(service.process.pid), cpu_seconds(postgres)
    procs = [
        subprocess.Popen([sys.executable, "manage.py", "process_tasks", "--sleep", "0.1"], cwd=ROOT, env=env,
                         stdout=open(tmp / f"worker-{workers}-{n}.log", "w"), stderr=subprocess.STDOUT)
        for n in range(workers)
    ]
    try:
        time.sleep(3)  # workers idle and polling before the first click, as in production
        worker_cpu = sum(cpu_seconds(p.pid) for p in procs)
        started = time.time()
        runs = [services.start_alignment(p) for p in projects]
        ids = [r.pk for r in runs]
        deadline = time.monotonic() + 900
        while Run.objects.filter(pk__in=ids).exclude(stage__in=["done", "failed", "review", "cancelled"]).exists():
            if time.monotonic() > deadline:
                raise RuntimeError("runs did not finish within 900 s")
            time.sleep(0.2)
        peaks = [peak_kb(p.pid) / 1024 for p in procs]
        worker_cpu = sum(cpu_seconds(p.pid) for p in procs) - worker_cpu
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=60)
    time.sleep(1)  # PostgreSQL reaps the workers' backends, so their CPU time is counted
    finished = Run.objects.filter(pk__in=ids).aggregate(last=Max("fa_process__finished_at"))["last"].timestamp()
    stages = {s: Run.objects.filter(pk__in=ids, stage=s).count() for s in ("done", "failed")}
    intervals = [tuple(map(float, line.split())) for line in job_log.read_text().splitlines() if line.strip()]
    return {
        "workers": workers,
        "projects": len(projects),
        "done": stages["done"],
        "failed": stages["failed"],
        "total": finished - started,
        "busy": union_seconds(intervals),
        "jobs": len(intervals),
        "worker_cpu": worker_cpu,
        "service_cpu": cpu_seconds(service.process.pid) - service_cpu,
        "postgres_cpu": cpu_seconds(postgres) - postgres_cpu,
        "peak_mb": max(peaks),
    }


REGIMES = [
    # (name, job seconds, one job at a time, seconds added to every answer)
    ("service-bound", "0.2", True, None),  # the service is the bottleneck: is it ever left idle?
    ("worker-bound", "0.5", False, None),  # all jobs at once on loopback: the workers set the pace
    ("worker-bound, remote", "0.5", False, 0.03),  # the same with the service across a network
]


def main(argv):
    count = int(argv[0]) if argv else 200
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ.update({"EQUESTRIA_VAR_DIR": str(tmp / "var"), "DJANGO_SETTINGS_MODULE": "equestria.settings"})
        import django

        django.setup()
        from django.core.management import call_command

        from accounts.models import User
        from scripts.models import Pipeline
        from tests.clamservers import (
            register_script,
            start_bundled_service,
            stop_service,
        )

        call_command("migrate", verbosity=0)
        owner = User.objects.create_user("bench", "bench@example.org", "bench password 1")
        rows = []
        for name, job_seconds, serial, latency in REGIMES:
            folder = tmp / name.replace(", ", "-")
            folder.mkdir()
            job_log = folder / "jobs.log"
            extra = {"FAST_FA_SECONDS": job_seconds, "FAST_FA_LOG": str(job_log)}
            if serial:
                extra["FAST_FA_SERIAL"] = str(folder / "one-job-at-a-time.lock")
            service = start_bundled_service("custom", folder, settings="tests.clamconfigs.fast_fa", env=extra,
                                            latency=latency)
            try:
                script = register_script(service, f"fast FA {name}")
                pipeline = Pipeline.objects.create(name=f"Fast {name}", language="en-us", fa_script=script)
                for workers in (1, 4):
                    projects = make_projects(count, pipeline, owner, f"{name} {workers}")
                    row = one_round(workers, projects, service, job_log, {**os.environ}, folder)
                    row.update(regime=name, job_seconds=job_seconds, latency=latency)
                    rows.append(row)
                    print(row, flush=True)
            finally:
                stop_service(service)

    table = report(rows, count)
    print(table)
    from tests.benchmarks.aligner_speed import write_section

    write_section(table)
    return 0 if all(r["failed"] == 0 and r["done"] == r["projects"] for r in rows) else 1


def report(rows, count):
    by = {(r["regime"], r["workers"]): r for r in rows}
    cores = os.cpu_count()
    lines = [
        "## Throughput (200 projects, one and four workers)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} by `tests/benchmarks/throughput.py` on PostgreSQL 15 (throw-away "
        f"cluster on 127.0.0.1), {cores} cores: {count} projects (one recording + transcript each) started at once "
        "through forced alignment on a fast FA-shaped test service (tests/clamconfigs/fast_fa.py; its job waits "
        "without using the CPU). *Service-bound*: the service runs one job at a time, so its busy time is the sum "
        "of the jobs. *Worker-bound*: all jobs run at once, so the workers set the pace; *remote*: the same with "
        "every answer of the service 30 ms late, as from a CLAM server on another machine "
        "(tests/clamconfigs/latency_serve.py). Workers are `process_tasks --sleep 0.1`, all on this machine with "
        "the service and PostgreSQL. *Busy*: wall-clock time with at least one job running. CPU columns: seconds "
        "of CPU per project.",
        "",
        "| regime | job (s) | workers | runs done | total (s) | service busy (s) | total / busy | projects/s "
        "| worker CPU | service CPU | PostgreSQL CPU | worker peak (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        n = r["projects"]
        lines.append(
            f"| {r['regime']} | {r['job_seconds']} | {r['workers']} | {r['done']}/{n} | {r['total']:.1f} "
            f"| {r['busy']:.1f} | {r['total'] / r['busy']:.2f} | {n / r['total']:.1f} "
            f"| {r['worker_cpu'] / n:.3f} | {r['service_cpu'] / n:.3f} | {r['postgres_cpu'] / n:.3f} "
            f"| {r['peak_mb']:.0f} |"
        )
    lines.append("")
    for regime in ("worker-bound", "worker-bound, remote"):
        one, four = by[regime, 1], by[regime, 4]
        cpu = (one["worker_cpu"] + one["service_cpu"] + one["postgres_cpu"]) / one["projects"]
        busy_cores = one["projects"] * cpu / one["total"]
        ceiling = one["total"] / (one["projects"] * cpu / cores)
        lines.append(
            f"- {regime}: four workers / one worker = **{one['total'] / four['total']:.2f}×**. With one worker, "
            f"worker, service and PostgreSQL use {cpu * 1000:.0f} ms of CPU per project and keep {busy_cores:.1f} "
            f"of {cores} cores busy, so on this machine no number of workers can be more than {ceiling:.1f}× "
            "faster than one."
        )
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    if not _on_postgresql():
        sys.exit(subprocess.run([sys.executable, "-m", "tests.pgcluster", "--", sys.executable, "-m",
                                 "tests.benchmarks.throughput", *sys.argv[1:]], cwd=ROOT).returncode)
    sys.exit(main(sys.argv[1:]))
