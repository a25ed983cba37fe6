"""Benchmark of the bundled aligner: real-time factor and peak memory.

    .venv/bin/python -m tests.benchmarks.aligner_speed        (or: make bench)

Aligns the sample recordings one by one, then concatenations of them of about
1, 5 and 10 minutes as single files, each in a fresh process (so that peak
memory is that alignment's own), with the phone pass in chunks (the service's
default) and, up to 5 minutes, in one piece for comparison. Prints a table
and writes it to docs/performance.md. Not part of the test suite.
"""

import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

from tests.helpers import DATA, ROOT

SAMPLES = ["austen-0870", "austen-0880", "austen-0890", "cards-001", "cards-002", "cards-003"]
REPORT = ROOT / "docs" / "performance.md"
# Equestria's first poll and shortest wait between polls (scripts/runner.py, which needs Django to import).
POLL_MIN_SECONDS = 0.02


def align_once(wav, txt, chunk_seconds):
    """Run in a child process: align one file, print seconds and peak RSS."""
    sys.path.insert(0, str(ROOT))
    from clamservices.aligner import Aligner
    from clamservices.audio import load_audio
    from clamservices.transcripts import words_of

    aligner = Aligner()
    start = time.perf_counter()
    samples, duration = load_audio(wav)
    alignment = aligner.align(samples, words_of(Path(txt).read_text()), chunk_seconds=chunk_seconds)
    elapsed = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": elapsed, "audio": duration, "peak_mb": peak_mb, "words": len(alignment.words)}))


def measure(wav, txt, chunk_seconds):
    out = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.aligner_speed", "--one", str(wav), str(txt), str(chunk_seconds)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def concatenation(minutes, folder):
    """One long recording made of the samples, with short pauses, and its transcript."""
    pause = np.zeros(8000, dtype=np.float32)
    pieces, words, seconds = [], [], 0.0
    while seconds < minutes * 60:
        for stem in SAMPLES:
            audio, rate = soundfile.read(DATA / f"{stem}.wav", dtype="float32")
            pieces += [audio, pause]
            words.append((DATA / f"{stem}.txt").read_text().strip())
            seconds += len(audio) / rate + 0.5
    wav, txt = folder / f"long-{minutes}.wav", folder / f"long-{minutes}.txt"
    soundfile.write(wav, np.concatenate(pieces), 16000)
    txt.write_text(" ".join(words))
    return wav, txt


def main():
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for stem in SAMPLES:
            rows.append((stem, "chunked (20 s)", measure(DATA / f"{stem}.wav", DATA / f"{stem}.txt", 20.0)))
        for minutes in (1, 5, 10):
            wav, txt = concatenation(minutes, tmp)
            rows.append((f"{minutes} min concatenation", "chunked (20 s)", measure(wav, txt, 20.0)))
            if minutes <= 5:
                rows.append((f"{minutes} min concatenation", "one piece", measure(wav, txt, 10_000.0)))

    lines = [
        "## Aligner speed (bundled forced-alignment service)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, by `make bench` (tests/benchmarks/aligner_speed.py). Each row is one "
        "alignment (word pass + phone pass) in a fresh process; real-time factor = audio seconds per second "
        "of processing (higher is faster); memory is the process's peak resident size.",
        "",
        "| audio | phone pass | audio (s) | time (s) | real-time factor | peak memory (MB) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, mode, r in rows:
        lines.append(
            f"| {name} | {mode} | {r['audio']:.1f} | {r['seconds']:.2f} | {r['audio'] / r['seconds']:.1f} | {r['peak_mb']:.0f} |"
        )
    table = "\n".join(lines) + "\n"
    print(table)
    write_section(table)
    overhead = clam_layer({name: r for name, mode, r in rows if name in SAMPLES})
    print(overhead)
    write_section(overhead)


def timed_job(service, stem):
    """One job on the bundled FA service, polled as Equestria polls (scripts/runner.py); seconds.

    With CLAM's own client (create, upload, start, status), which does more per request than Equestria's.
    """
    import requests

    from tests.clamservers import PASSWORD, USER

    client = service.client()
    project = f"bench{time.monotonic_ns()}"
    start = time.perf_counter()
    client.create(project)
    data = client.get(project)
    client.addinputfile(project, data.inputtemplate("audio"), str(DATA / f"{stem}.wav"))
    client.addinputfile(project, data.inputtemplate("transcript"), str(DATA / f"{stem}.txt"))
    data = client.start(project)
    started = time.perf_counter()
    while data.status != 2:
        # The first poll soon after the start, then after a twentieth of the time the job has run.
        time.sleep(max(POLL_MIN_SECONDS, (time.perf_counter() - started) / 20))
        data = client.get(project)
    for output in data.output:
        requests.get(f"{service.url}{project}/output/{output.filename}", auth=(USER, PASSWORD), timeout=60)
    client.delete(project)
    assert not data.errors, data.errormsg
    return time.perf_counter() - start


def startup(code):
    """Seconds for a fresh interpreter to run `code` (what every CLAM job pays before it aligns)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def light_dispatch():
    """Seconds for the bundled services' dispatcher to run a job that does nothing."""
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-S", str(ROOT / "clamservices" / "dispatcher.py"), "settings", f"{folder}/",
                        "true"], check=True)
        return time.perf_counter() - start


def clam_layer(alone, repeats=3):
    """Each sample as a job on the real service against the alignment alone (rows above, same run)."""
    import statistics

    from tests.clamservers import start_bundled_service, stop_service

    def jobs_on_service(env):
        with tempfile.TemporaryDirectory() as tmp:
            service = start_bundled_service("forced_alignment", Path(tmp), env=env)
            try:
                time.sleep(2)  # the job server's start (clamservices/jobserver.py), not a job's
                return {stem: statistics.median(timed_job(service, stem) for _ in range(repeats)) for stem in alone}
            finally:
                stop_service(service)

    jobs = jobs_on_service({})
    fresh = jobs_on_service({"CLAM_SERVICES_JOB_SERVER": "0"})  # every job a fresh Python, as before issue 16
    lines = [
        "## CLAM layer around the aligner",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} by `tests/benchmarks/aligner_speed.py`, median of {repeats}: each "
        "sample as a job on the bundled FA service (create, upload, start, poll as Equestria does: after 20 ms, "
        "then after a twentieth of the job's time so far, download, delete) "
        "against the alignment alone (table above, same run). The difference is what one request costs around "
        "the aligner: HTTP, the dispatcher, the job process start and loading the acoustic model. The service "
        "forks each job from its job server, which has the job's modules imported (clamservices/jobserver.py), "
        "asked from the service's own process; "
        "the last column is the same with the job server turned off (CLAM_SERVICES_JOB_SERVER=0: a fresh "
        "Python per job).",
        "",
        "| audio | audio (s) | alignment alone (s) | CLAM job (s) | overhead (s) | overhead, fresh Python per job (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for stem, r in alone.items():
        lines.append(f"| {stem} | {r['audio']:.1f} | {r['seconds']:.2f} | {jobs[stem]:.2f} | "
                     f"{jobs[stem] - r['seconds']:+.2f} | {fresh[stem] - r['seconds']:+.2f} |")
    extra = [jobs[s] - alone[s]["seconds"] for s in alone]
    extra_fresh = [fresh[s] - alone[s]["seconds"] for s in alone]
    model = statistics.median(startup("from clamservices.aligner import Aligner; Aligner()") for _ in range(repeats))
    job = statistics.median(startup("import clamservices.fa_job\nfrom clamservices.aligner import Aligner\nAligner()")
                            for _ in range(repeats))
    bare = statistics.median(startup("pass") for _ in range(repeats))
    numpy = statistics.median(startup("import numpy") for _ in range(repeats))
    ours = statistics.median(light_dispatch() for _ in range(repeats))
    clams = statistics.median(startup("import clam.clamdispatcher, clamservices.config.forced_alignment")
                              for _ in range(repeats))
    lines += [
        "",
        f"Median overhead per request: **{statistics.median(extra):.2f} s** with the job server, "
        f"{statistics.median(extra_fresh):.2f} s without. Without it, a fresh Python loading the "
        f"aligner and its acoustic model (only the job's words, no language model) takes {model:.2f} s, one "
        f"importing the whole job script and making the aligner {job:.2f} s (a bare Python start {bare:.2f} s, "
        f"importing numpy alone {numpy:.2f} s), and the services' light dispatcher "
        f"(clamservices/dispatcher.py) {ours:.2f} s; CLAM's own dispatcher, which it replaces, would take "
        f"{clams:.2f} s just to start (all measured alone in this run). The rest is HTTP, polling and CLAM's "
        "bookkeeping.",
        "",
    ]
    return "\n".join(lines)


def write_section(table):
    """Replace this benchmark's section of docs/performance.md, keeping the others."""
    heading = table.splitlines()[0]
    text = REPORT.read_text() if REPORT.exists() else "# Performance\n\n"
    if heading in text:
        before, rest = text.split(heading, 1)
        after = rest.split("\n## ", 1)
        text = before + table + ("\n## " + after[1] if len(after) > 1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + table
    REPORT.write_text(text)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--one":
        align_once(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    elif len(sys.argv) == 2 and sys.argv[1] == "--clam-layer":
        # Only the CLAM-layer figure (the sample rows it compares with are measured first).
        sys.exit(print(clam_layer({s: measure(DATA / f"{s}.wav", DATA / f"{s}.txt", 20.0) for s in SAMPLES})))
    else:
        main()
