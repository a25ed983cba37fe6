"""Benchmark: the results zip of a run of many hour-long results, streamed against built first.

    .venv/bin/python -m tests.benchmarks.results_zip [results, default 50]

Starts Equestria's web server (as `make run` does) on 127.0.0.1 with a fresh database and a finished run of
`results` hour-long TextGrids (one generated as tests/benchmarks/editor_open.py does, about 10 000 words and
40 000 phones, repeated under other names), and downloads its "Download all" zip (every format) as a browser does.
Reported: the seconds to the first byte and to the last, and the rise of the web process's peak resident memory
(VmHWM; a small run's zip is downloaded first, so that what any first download loads is not counted). The way
before (pipelines/results.py until the zip was streamed: the whole zip into a temporary file, then sent) is kept
here only as the baseline, run in a Django process of its own on the same run: its first byte could leave only
once it was done. Goals: the first byte in under 1 s whatever the run's size, memory rise < 50 MB. Prints a table
and writes it to docs/performance.md.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import requests

from tests.benchmarks.aligner_speed import write_section
from tests.benchmarks.editor_open import write_textgrid
from tests.helpers import ROOT, free_port

SETUP = """
from accounts.models import User
from pipelines.models import Run
from tests.factories import make_fa_pipeline, make_project
from tests.test_outcomes import entry, fa_process, finish, report
user = User.objects.create_user("bench", "bench@example.org", "bench password 123")
pipeline = make_fa_pipeline()
with open(f"{FOLDER}/hour.TextGrid", encoding="utf-8") as f:
    grid = f.read()
for label, count in (("warm", 1), ("bench", COUNT)):
    project = make_project(user, label, pipeline=pipeline)
    stems = [f"interview-{n:03}" for n in range(1, count + 1)]
    outputs = {f"{stem}.TextGrid": grid for stem in stems}
    outputs["report.json"] = report(*(entry(f"{stem}.wav") for stem in stems))
    process = fa_process(project, stems, outputs)
    run = Run.objects.create(project=project, pipeline=project.pipeline, stage=Run.Stage.ALIGNING, fa_process=process)
    finish(process)
    print("zip", label, project.pk, run.pk)
"""

BASELINE = """
import re, time
from pathlib import Path
from pipelines.models import Run
from tests.benchmarks.results_zip import built_first
def peak():
    return int(re.search(r"VmHWM:\\s+(\\d+)", Path("/proc/self/status").read_text()).group(1))
built_first(Run.objects.get(pk=WARM)).close()
before = peak()
start = time.perf_counter()
handle = built_first(Run.objects.get(pk=RUN))
elapsed = time.perf_counter() - start
size = handle.seek(0, 2)
print("baseline", elapsed, before, peak(), size)
"""


def built_first(run):
    """The zip as pipelines.results.results_zip made it before it was streamed (every format, chosen="all"), in an
    open temporary file: the baseline only."""
    from pipelines import exports, outcomes
    from pipelines.results import (ALL_INTERVALS, ZIP_FOLDERS, _free_name, _renamed_note, latest_versions,
                                   read_alignment, recordings, zip_names)

    process = run.result_process
    latest = {name: version.path for name, version in latest_versions(run, sorted(process.outputs)).items()}
    present = [name for name in sorted(process.outputs) if os.path.isfile(latest[name])]
    in_zip = zip_names(present)
    taken = {name.lower() for name in in_zip.values()} | {label.lower() for label in ZIP_FOLDERS.values()}
    handle = tempfile.TemporaryFile()
    with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, arcname in in_zip.items():
            archive.write(latest[name], arcname=arcname)
        renamed = {name: arcname for name, arcname in in_zip.items() if name != arcname}
        grids = [name for name in present if name.lower().endswith(".textgrid")]
        named = recordings(run)
        with tempfile.TemporaryFile() as combined:
            for name in grids:
                alignment = read_alignment(run, latest[name], name, named)
                for key in ZIP_FOLDERS:
                    archive.writestr(f"{ZIP_FOLDERS[key]}/{exports.export_name(name, key)}",
                                     exports.write(alignment, key))
                combined.write(exports.to_csv([alignment], header=combined.tell() == 0))
            combined.seek(0)
            with archive.open(_free_name(ALL_INTERVALS, taken), "w", force_zip64=True) as entry:
                shutil.copyfileobj(combined, entry)
        archive.writestr(_free_name("report.csv", taken), outcomes.report_csv(list(run.outcomes.all()), in_zip))
        if renamed:
            archive.writestr(_free_name("renamed-files.txt", taken), _renamed_note(renamed))
    handle.seek(0)
    return handle


def peak_kb(pid):
    return int(re.search(r"VmHWM:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))


def download(session, url, into, pid):
    """(seconds to the first byte, seconds to the last, bytes, [(seconds, the server's peak memory in kB)] about
    every second) of the zip at `url`, written to `into`."""
    start = time.perf_counter()
    first, peaks = None, []
    with session.get(url, stream=True, timeout=600) as response, open(into, "wb") as out:
        response.raise_for_status()
        for chunk in response.iter_content(1 << 16):
            now = time.perf_counter() - start
            if first is None:
                first = now
            if not peaks or now - peaks[-1][0] >= 1:
                peaks.append((now, peak_kb(pid)))
            out.write(chunk)
    return first, time.perf_counter() - start, into.stat().st_size, peaks


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        words, phones = write_textgrid(tmp / "hour.TextGrid", 3600)
        grid_mb = (tmp / "hour.TextGrid").stat().st_size / 2**20
        env = {**os.environ, "EQUESTRIA_VAR_DIR": str(tmp / "var")}
        env.pop("DATABASE_URL", None)
        manage = [sys.executable, "manage.py"]
        subprocess.run(manage + ["migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        subprocess.run(manage + ["collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        made = subprocess.run(manage + ["shell", "-c", f"FOLDER = {str(tmp)!r}\nCOUNT = {count}\n" + SETUP], cwd=ROOT,
                              env=env, capture_output=True, text=True, check=False)
        if made.returncode:
            print(made.stderr)
            return 1
        runs = {line.split()[1]: line.split()[2:] for line in made.stdout.splitlines() if line.startswith("zip ")}
        port = free_port()
        server = subprocess.Popen(manage + ["runserver", f"127.0.0.1:{port}", "--noreload"], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            session = requests.Session()
            for _ in range(100):
                try:
                    session.get(base + "/accounts/login/", timeout=2)
                    break
                except requests.ConnectionError:
                    time.sleep(0.2)
            session.post(base + "/accounts/login/", {"username": "bench", "password": "bench password 123",
                                                     "csrfmiddlewaretoken": session.cookies["csrftoken"]})

            def url(label):
                project, run = runs[label]
                return f"{base}/projects/{project}/runs/{run}/results.zip"

            download(session, url("warm"), tmp / "warm.zip", server.pid)
            before = peak_kb(server.pid)
            first, last, size, peaks = download(session, url("bench"), tmp / "bench.zip", server.pid)
            after = peak_kb(server.pid)
            # The peak a fifth of the way through: the same at the end when the memory does not grow with the run.
            early = next(kb for seconds, kb in peaks if seconds >= last / 5)
        finally:
            server.terminate()
            server.wait(timeout=10)
        with zipfile.ZipFile(tmp / "bench.zip") as archive:
            members = len(archive.namelist())
            whole = archive.testzip() is None and members == 4 * count + 3  # TextGrid + 3 formats each, report.json,
            # report.csv, all-intervals.csv
        (tmp / "bench.zip").unlink()
        baseline = subprocess.run(
            manage + ["shell", "-c", f"WARM = {runs['warm'][1]!r}\nRUN = {runs['bench'][1]!r}\n" + BASELINE],
            cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        if baseline.returncode:
            print(baseline.stderr)
            return 1
        _, old_time, old_before, old_after, old_size = baseline.stdout.split()[-5:]
        old_time, old_rise = float(old_time), (int(old_after) - int(old_before)) / 1024

    rise, early_rise = (after - before) / 1024, (early - before) / 1024
    met = first < 1 and rise < 50 and whole
    table = "\n".join([
        "## Results zip (Download all)",
        "",
        (f"Measured {time.strftime('%Y-%m-%d')} by `tests/benchmarks/results_zip.py`: the “Download all” zip (every "
         f"format) of a run of {count} hour-long TextGrids ({words} words, {phones} phones, {grid_mb:.1f} MB each), "
         "downloaded from Django's development server (`make run`). Streamed: the zip is made while it is sent "
         "(pipelines/results.py). Built first: the way before, kept in the benchmark only as the baseline, run on "
         "the same run in a process of its own: nothing could be sent before it was done, so its first byte is its "
         "time. Memory: the rise of the process's peak resident memory (VmHWM) over a one-result zip downloaded "
         "first. Goals: first byte < 1 s whatever the run's size, memory rise < 50 MB."),
        "",
        ("| way | first byte (s) | last byte (s) | zip (MB) | peak memory rise a fifth of the way (MB) "
         "| peak memory rise at the end (MB) | opens, every member |"),
        "|---|---:|---:|---:|---:|---:|---|",
        (f"| streamed | {first:.2f} | {last:.1f} | {size / 2**20:.0f} | {early_rise:.1f} | {rise:.1f} "
         f"| {'yes' if whole else 'NO'} |"),
        (f"| built first (before) | {old_time:.1f} | {old_time:.1f} + sending | {int(old_size) / 2**20:.0f} | — "
         f"| {old_rise:.1f} | — |"),
        "",
        (f"Goals {'met' if met else 'NOT met'}. The streamed zip's last byte came at {last / old_time:.2f} × the "
         "old way's build time (which is still before its first byte); the streamed zip reads each result twice "
         "when CSV is among its formats (all-intervals.csv, the last member, reads them again rather than keeping "
         "every interval of the run on the disk or in memory), and the two are measured one after the other on a "
         "shared machine. The peak memory rise is one step at the start (the same a fifth of the way and at the "
         "end), not a growth with the run."),
        "",
    ])
    print(table)
    write_section(table)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
