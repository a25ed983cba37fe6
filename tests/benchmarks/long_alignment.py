"""Benchmark of long recordings in the bundled aligner (issue 16): CPU, real-time factors, chunked vs one piece.

    .venv/bin/python -m tests.benchmarks.long_alignment [MINUTES ...]     (default: 10 30 60)

For each length, a recording of different espeak-ng sentences (tests/long_speech.py)
is aligned, words and phones, in three ways, each in a fresh process:

- in one process (`Aligner.align`, pieces one after the other): CPU time and CPU real-time factor;
- as the forced-alignment job does it, with its pool of processes (clamservices.fa_job, one
  process per core): wall-clock real-time factor, CPU of the whole process tree;
- up to ONE_PIECE_MINUTES, in one piece (word pass only, as before issue 16) to compare the
  word boundaries: median and 90th percentile of |chunked − one piece| over every boundary.

`measure(minutes)` returns one row, for other benchmarks (tests/benchmarks/long_recordings.py)
to call. Prints a table and writes it to docs/performance.md. Not part of the test suite.
"""

import difflib
import json
import resource
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

from tests.benchmarks.aligner_speed import ROOT, write_section

ONE_PIECE_MINUTES = 10
HEADING = "## Long recordings: pieces and processes (bundled aligner)"


def _cpu():
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _material(minutes, folder):
    from tests.long_speech import RATE, recording

    import soundfile

    samples, sentences, _ = recording(minutes * 60, seed=minutes)
    wav, txt = Path(folder) / f"long-{minutes}.wav", Path(folder) / f"long-{minutes}.txt"
    soundfile.write(wav, samples, RATE)
    txt.write_text(" ".join(sentences))
    return wav, txt


class _Job:
    """What clamservices.fa_job needs of a CLAM job, for running its parallel path outside CLAM."""

    def __init__(self, outputdir):
        self.outputdir = Path(outputdir)
        self.data = types.SimpleNamespace(project=self.outputdir)  # converted audio goes to project/tmp/
        (self.outputdir / "tmp").mkdir(exist_ok=True)
        self.completion = 0
        self.messages = []

    def report(self, message, completion=None):
        if completion is not None:
            self.completion = completion
        self.messages.append((message, self.completion))


def run(mode, wav, txt):
    """In a child process: align `wav` one way; prints a JSON line."""
    from clamservices import fa_job, pool
    from clamservices.aligner import PHONE_CHUNK_SECONDS, PIECE_SECONDS, Aligner
    from clamservices.audio import load_audio
    from clamservices.report import Report
    from clamservices.transcripts import words_of

    samples, duration = load_audio(wav)
    words = words_of(Path(txt).read_text())
    aligner = Aligner()
    start_cpu, start = _cpu(), time.perf_counter()
    out = {"audio": duration}
    if mode == "one-process":
        alignment = aligner.align(samples, words)
        out["aligned"] = len(alignment.words)
        out["cpu"], out["wall"] = _cpu() - start_cpu, time.perf_counter() - start
        # the word pass alone, to compare with one piece
        out["words"] = [(w.label, w.start, w.end) for w in aligner.align(samples, words, phones=False).words] \
            if duration < (ONE_PIECE_MINUTES + 1) * 60 else []  # the material runs a little over its minutes
    elif mode == "one-piece":
        out["words"] = [(w.label, w.start, w.end)
                        for w in aligner.align(samples, words, phones=False, piece_seconds=1e9).words]
    else:
        del samples
        with tempfile.TemporaryDirectory() as folder:
            job = _Job(folder)
            report = Report(Path(folder) / "report.json")
            options = {"phones": True, "text_format": "long", "silence_label": "", "chunk_seconds": PHONE_CHUNK_SECONDS,
                       "max_seconds": 7200, "piece_seconds": PIECE_SECONDS}
            fa_job._align_in_parallel(job, report, aligner, [("long", Path(wav), Path(txt))], options, set(),
                                      pool.size())
            out["aligned"] = report.entries[0].get("words_aligned", 0)
            out["progress"] = [c for _, c in job.messages]
    out.setdefault("cpu", _cpu() - start_cpu)
    out.setdefault("wall", time.perf_counter() - start)
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def _child(mode, wav, txt):
    done = subprocess.run([sys.executable, "-m", "tests.benchmarks.long_alignment", "--run", mode, str(wav), str(txt)],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def boundary_differences(ours, theirs):
    """|start − start| and |end − end| of the words both alignments found (matched by label, in order)."""
    matcher = difflib.SequenceMatcher(a=[w[0] for w in ours], b=[w[0] for w in theirs], autojunk=False)
    return np.array([abs(ours[i + n][k] - theirs[j + n][k]) for i, j, size in matcher.get_matching_blocks()
                     for n in range(size) for k in (1, 2)])


def measure(minutes):
    """One row: {"minutes", "audio", "cpu", "cpu_rtf", "wall_rtf", "pool_cpu", "median_ms", "p90_ms", ...}."""
    with tempfile.TemporaryDirectory() as folder:
        wav, txt = _material(minutes, folder)
        alone = _child("one-process", wav, txt)
        pooled = _child("pool", wav, txt)
        row = {"minutes": minutes, "audio": alone["audio"], "cpu": alone["cpu"], "cpu_rtf": alone["cpu"] / alone["audio"],
               "pool_cpu": pooled["cpu"], "wall": pooled["wall"], "wall_rtf": pooled["wall"] / alone["audio"],
               "aligned": alone["aligned"], "pool_aligned": pooled["aligned"],
               "progress_monotonic": pooled["progress"] == sorted(pooled["progress"])}
        if alone["words"]:
            whole = _child("one-piece", wav, txt)
            differences = boundary_differences(alone["words"], whole["words"])
            row["one_piece_cpu"] = whole["cpu"]
            row["one_piece_words"] = len(whole["words"])
            row["median_ms"] = 1000 * float(np.median(differences))
            row["p90_ms"] = 1000 * float(np.percentile(differences, 90))
    return row


def table(rows):
    lines = [
        HEADING,
        "",
        f"Measured {time.strftime('%Y-%m-%d')} by `tests/benchmarks/long_alignment.py`: recordings of different "
        "espeak-ng sentences, words and phones. CPU = time of one process aligning the pieces one after the "
        "other; wall = the job's pool of processes (one per core), as the service runs it; boundaries = word "
        "boundaries of the piecewise alignment against one piece (word pass only), where one piece finishes.",
        "",
        "| audio | CPU (s) | CPU RTF | pool wall (s) | wall RTF | pool CPU (s) | one piece CPU (s) | "
        "boundary diff median / p90 (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        diff = f"{r['median_ms']:.0f} / {r['p90_ms']:.0f}" if "median_ms" in r else "–"
        one = f"{r['one_piece_cpu']:.0f}" if "one_piece_cpu" in r else "–"
        lines.append(f"| {r['minutes']} min | {r['cpu']:.0f} | {r['cpu_rtf']:.3f} | {r['wall']:.0f} | "
                     f"{r['wall_rtf']:.3f} | {r['pool_cpu']:.0f} | {one} | {diff} |")
    return "\n".join(lines) + "\n"


def main(minutes):
    rows = []
    for m in minutes:
        rows.append(measure(m))
        print(json.dumps(rows[-1]), flush=True)
    text = table(rows)
    print(text)
    write_section(text)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--run":
        run(*sys.argv[2:])
    else:
        main([int(m) for m in sys.argv[1:]] or [10, 30, 60])
