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

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
SAMPLES = ["austen-0870", "austen-0880", "austen-0890", "cards-001", "cards-002", "cards-003"]
REPORT = ROOT / "docs" / "performance.md"


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
    else:
        main()
