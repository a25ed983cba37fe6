"""A long two-speaker recording aligned with a TextGrid of utterance tiers against the same with a .txt (issue 17).

    .venv/bin/python -m tests.benchmarks.tiered_recording [--minutes 10]

The LibriVox and card clips of tests/data, cycled, take turns as "speaker A" and "speaker B" with
pauses of 1-3 s (about a hundred utterances in ten minutes); the TextGrid has an interval per clip on
its speaker's tier, the .txt the same words in order. Each job runs as the service runs it
(tests/fajob.py) under /usr/bin/time -v; prints CPU time, peak memory (the largest process of the
tree, as time -v reports it), wall time, words aligned, and how far each utterance's first word starts
from its clip's start. Not part of the test suite.
"""

import argparse
import json
import random
import re
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

from tests import dialogue
from tests.fajob import job_command, make_job
from tests.helpers import DATA, ROOT

CLIPS = ["austen-0870", "cards-001", "austen-0880", "cards-002", "austen-0890", "cards-003"]
RATE = 16000


def material(folder, minutes, seed=0):
    rng = random.Random(seed)
    clips = [(soundfile.read(DATA / f"{c}.wav", dtype="float32")[0], (DATA / f"{c}.txt").read_text().strip())
             for c in CLIPS]
    pieces, spans, position, number = [], [], 0, 0
    while position < minutes * 60 * RATE:
        samples, text = clips[number % len(clips)]
        pause = np.zeros(int(rng.uniform(1.0, 3.0) * RATE), dtype=np.float32)
        spans.append(("speaker A" if number % 2 == 0 else "speaker B", position / RATE,
                      (position + len(samples)) / RATE, text))
        pieces += [samples, pause]
        position += len(samples) + len(pause)
        number += 1
    audio = np.concatenate(pieces)
    audio += np.random.default_rng(seed).normal(0.0, 0.003, len(audio)).astype(np.float32)
    seconds = len(audio) / RATE
    soundfile.write(folder / "long.wav", np.clip(audio, -1, 1), RATE, subtype="PCM_16")
    tiers = {"speaker A": [], "speaker B": []}
    for tier, start, end, text in spans:
        tiers[tier].append((round(max(0.0, start - 0.3), 3), round(min(seconds, end + 0.3), 3), text))
    dialogue.write_textgrid(folder / "long.TextGrid", tiers, seconds)
    (folder / "long.txt").write_text("\n".join(text for *_, text in spans) + "\n", encoding="utf-8")
    return spans, seconds


def run(folder, files):
    job = make_job(folder, files)
    started = time.monotonic()
    result = subprocess.run(["/usr/bin/time", "-v", *job_command(job)], cwd=job, capture_output=True, text=True,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=3600)
    wall = time.monotonic() - started
    figures = dict(re.findall(r"^\s*([^:\n]+): (.+)$", result.stderr, re.MULTILINE))
    cpu = float(figures["User time (seconds)"]) + float(figures["System time (seconds)"])
    peak = int(figures["Maximum resident set size (kbytes)"]) / 1024
    report = json.loads((job / "output" / "report.json").read_text(encoding="utf-8"))["recordings"][0]
    return {"cpu": cpu, "peak_mb": peak, "wall": wall, "entry": report, "output": job / "output"}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=ROOT / "var") as scratch:
        scratch = Path(scratch)
        source = scratch / "source"
        source.mkdir()
        spans, seconds = material(source, args.minutes)
        print(f"{seconds / 60:.1f} min, {len(spans)} utterances, {sum(len(s[3].split()) for s in spans)} words")
        for name, transcript in (("txt", "long.txt"), ("TextGrid", "long.TextGrid")):
            figures = run(scratch / name, [source / "long.wav", source / transcript])
            entry = figures["entry"]
            print(f"{name:8} CPU {figures['cpu']:.1f} s, peak {figures['peak_mb']:.0f} MB, wall {figures['wall']:.1f} s, "
                  f"{entry['status']}, {entry['words_aligned']} of {entry['words']} words, "
                  f"{len(entry['warnings'])} warnings")
            for warning in entry["warnings"][:5]:
                print(f"         {warning[:160]}")
            from praatio import textgrid

            grid = textgrid.openTextgrid(str(figures["output"] / "long.TextGrid"), includeEmptyIntervals=False)
            offsets = []
            for tier in ("speaker A", "speaker B"):
                words = grid.getTier(f"{tier} - words" if name == "TextGrid" else "words").entries
                for _, start, end, _ in (s for s in spans if s[0] == tier):
                    inside = [w for w in words if start - 0.3 <= w.start and w.end <= end + 0.3]
                    if inside:
                        offsets.append(abs(inside[0].start - start))
            print(f"         first word of a clip vs the clip's start (its own leading silence included): "
                  f"median {np.median(offsets):.3f} s, max {max(offsets):.3f} s over {len(offsets)} clips")

if __name__ == "__main__":
    main()
