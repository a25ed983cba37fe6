"""Benchmark of long recordings (issue 16): memory and time of the bundled FA job at 10, 30, 60 and 120 minutes.

    .venv/bin/python -m tests.benchmarks.long_recordings             (or: make bench)
    .venv/bin/python -m tests.benchmarks.long_recordings --minutes 10 30 --material speech

Two materials, generated once into var/bench-cache/long-recordings/:
- "LibriVox speech": the LibriVox clips of tests/data joined with pauses of
  0.2-2.5 s, written as 44.1 kHz stereo (what a recorder gives, so the
  conversion to 16 kHz mono is part of the job);
- "espeak-ng speech": sentences of words from the CMU dictionary read by
  espeak-ng in several voices and speeds, 22.05 kHz mono.

Each recording is aligned by the job script (clamservices/fa_job.py) in its
own process in a CLAM project folder, the way the service's dispatcher starts
it (tests/fajob.py). Every 0.1 s the PSS of the job's whole process tree (the
job and any processes it starts) is summed; its peak is the memory figure. CPU
is user + system time of the tree (the job's rusage, which includes the
children it waited for). A run longer than LIMIT_FACTOR × the audio's duration
is stopped ("stopped after N s"). Prints one table and rewrites its section of
docs/performance.md. Not part of the test suite.
"""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import soundfile
import soxr

from tests.benchmarks.aligner_speed import write_section
from tests.fajob import job_command, make_job
from tests.helpers import DATA, ROOT

CACHE = ROOT / "var" / "bench-cache" / "long-recordings"
MINUTES = (10, 30, 60, 120)
LIMIT_FACTOR = 0.5  # stop a run after this share of the audio's duration (today's aligner would take hours)
SAMPLE_SECONDS = 0.1
LIBRIVOX = ["austen-0870", "austen-0880", "austen-0890"]
VOICES = ["en-us", "en-gb", "en-us+f3", "en-gb-scotland", "en-us+m4"]
SPEEDS = [140, 165, 190]
GOALS = {"memory_mb": 300, "cpu_rtf": 0.05, "wall_rtf_60": 0.03}
MATERIALS = {"speech": "LibriVox speech", "espeak": "espeak-ng speech"}


# --- material -------------------------------------------------------------------------------------

def _write_recording(path, rate, channels, pieces, minutes, seed):
    """Write `pieces` ([(float32 mono samples at `rate`, text)]) cycled, with varied pauses, until `minutes`.

    Streams to the file a piece at a time, so that a 2-hour recording needs no memory of its length.
    """
    rng = random.Random(seed)
    texts, frames, total = [], 0, int(minutes * 60 * rate)
    partial = path.with_suffix(".partial")
    with soundfile.SoundFile(partial, "w", rate, channels, subtype="PCM_16", format="WAV") as out:
        while frames < total:
            for samples, text in pieces:
                pause = np.zeros(int(rng.uniform(0.2, 2.5) * rate), dtype=np.float32)
                block = np.concatenate([samples, pause])[: total - frames]
                out.write(np.stack([block, block * 0.8], axis=1) if channels == 2 else block)
                frames += len(block)
                if len(block) == len(samples) + len(pause):
                    texts.append(text)
                if frames >= total:
                    break
    os.replace(partial, path)
    path.with_suffix(".txt").write_text("\n".join(texts) + "\n", encoding="utf-8")


def _librivox_pieces(rate):
    pieces = []
    for stem in LIBRIVOX:
        samples, original = soundfile.read(DATA / f"{stem}.wav", dtype="float32")
        pieces.append((soxr.resample(samples, original, rate), (DATA / f"{stem}.txt").read_text().strip()))
    return pieces


def _cmu_words(count, seed):
    """Plain dictionary words (letters only, one pronunciation, 3-8 letters), chosen at random."""
    from clamservices.lexicon import CMUDICT

    names = [line.split(" ", 1)[0] for line in Path(CMUDICT).read_text(encoding="utf-8").splitlines() if line]
    alternates = {n.split("(")[0] for n in names if "(" in n}
    plain = sorted({n for n in names if n.isalpha() and n.islower() and 3 <= len(n) <= 8} - alternates)
    return random.Random(seed).sample(plain, count)


def _espeak_pieces(rate, count=60, seed=16):
    rng = random.Random(seed)
    words = _cmu_words(count * 12, seed)
    pieces = []
    for number in range(count):
        sentence = " ".join(words[number * 12 : number * 12 + rng.randint(6, 12)])
        voice, speed = VOICES[number % len(VOICES)], SPEEDS[number % len(SPEEDS)]
        wav = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", sentence],
                             check=True, capture_output=True).stdout
        with tempfile.NamedTemporaryFile(suffix=".wav") as f:
            f.write(wav)
            f.flush()
            samples, original = soundfile.read(f.name, dtype="float32")
        pieces.append((soxr.resample(samples, original, rate) if original != rate else samples, sentence))
    return pieces


def material(kind, minutes):
    """(wav, txt) of `minutes` of `kind` ("speech" or "espeak"), made once into the cache."""
    CACHE.mkdir(parents=True, exist_ok=True)
    wav = CACHE / f"{kind}-{minutes}min.wav"
    if not wav.exists() or not wav.with_suffix(".txt").exists():
        if kind == "speech":
            _write_recording(wav, 44100, 2, _librivox_pieces(44100), minutes, seed=minutes)
        else:
            _write_recording(wav, 22050, 1, _espeak_pieces(22050), minutes, seed=minutes)
    return wav, wav.with_suffix(".txt")


# --- measuring ------------------------------------------------------------------------------------

def _tree_sum(root, measure):
    """Sum of `measure(process)` over `root` and its descendants; processes that end meanwhile count 0."""
    total = 0
    try:
        processes = [root] + root.children(recursive=True)
    except psutil.Error:
        return 0
    for process in processes:
        try:
            total += measure(process)
        except psutil.Error:
            pass
    return total


def _tree_pss(root):
    """PSS (bytes) of `root` and its descendants."""
    return _tree_sum(root, lambda process: process.memory_full_info().pss)


def _tree_cpu(root):
    """CPU seconds (user + system, with reaped children's) of `root` and its descendants."""
    def seconds(process):
        times = process.cpu_times()
        return times.user + times.system + times.children_user + times.children_system

    return _tree_sum(root, seconds)


def run(wav, txt, limit_seconds):
    """Run the FA job on one recording as the service does; its figures."""
    with tempfile.TemporaryDirectory(prefix="long-recording-") as folder:
        job = make_job(Path(folder) / "project", [wav, txt], max_minutes=240)
        errors = open(Path(folder) / "stderr", "w+")
        start = time.perf_counter()
        process = subprocess.Popen(job_command(job), cwd=job, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                   stdout=subprocess.DEVNULL, stderr=errors, start_new_session=True)
        watched = psutil.Process(process.pid)
        peak = cpu_seen = 0.0
        stopped = False
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, _tree_pss(watched))
            cpu_seen = max(cpu_seen, _tree_cpu(watched))
            if time.perf_counter() - start > limit_seconds:
                stopped = True
                os.killpg(process.pid, signal.SIGKILL)
                _, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(SAMPLE_SECONDS)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        message = errors.read()
        errors.close()
        cpu = max(usage.ru_utime + usage.ru_stime, cpu_seen)
        report = job / "output" / "report.json"
        entry = json.loads(report.read_text())["recordings"][0] if report.exists() and not stopped else None
    if not stopped and process.returncode:
        print(message[-2000:], file=sys.stderr)
    return {"peak_mb": peak / 1024**2, "cpu": cpu, "wall": wall, "stopped": stopped, "entry": entry}


# --- report ---------------------------------------------------------------------------------------

def row(name, minutes, seconds, r):
    if r["stopped"]:
        note = f"stopped after {r['wall']:.0f} s (limit {LIMIT_FACTOR} × the audio)"
        words = "—"
    elif r["entry"] is None or r["entry"]["status"] == "not_aligned":
        note = "not aligned: " + (r["entry"]["reason"] if r["entry"] else "the job failed")
        words = "—"
    else:
        note = ""
        words = f"{r['entry']['words_aligned']} / {r['entry']['words']}"
    more = ">" if r["stopped"] else ""
    return (f"| {name} | {minutes} | {r['peak_mb']:.0f} | {more}{r['cpu']:.0f} | {more}{r['cpu'] / seconds:.3f} | "
            f"{more}{r['wall']:.0f} | {more}{r['wall'] / seconds:.3f} | {words} | {note} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=int, nargs="+", default=list(MINUTES))
    parser.add_argument("--material", choices=sorted(MATERIALS), nargs="+", default=list(MATERIALS))
    parser.add_argument("--no-write", action="store_true", help="print the table only, leave docs/ alone")
    args = parser.parse_args(argv)
    rows = []
    for kind in args.material:
        for minutes in args.minutes:
            wav, txt = material(kind, minutes)
            seconds = soundfile.info(str(wav)).duration
            print(f"{MATERIALS[kind]}, {minutes} min ...", flush=True)
            result = run(wav, txt, LIMIT_FACTOR * seconds)
            rows.append(row(MATERIALS[kind], minutes, seconds, result))
            print(rows[-1], flush=True)
    table = section(rows)
    print(table)
    if not args.no_write:
        write_section(table)


def section(rows, note=""):
    """This benchmark's section of docs/performance.md around the table rows (`note`: a paragraph after it)."""
    lines = [
        "## Long recordings (bundled forced alignment, issue 16)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} by `tests/benchmarks/long_recordings.py` on {os.cpu_count()} cores: "
        "one recording per job, the job script run in its own process in a CLAM project folder as the service "
        "runs it. LibriVox speech: the clips of tests/data joined with pauses of 0.2–2.5 s, 44.1 kHz stereo; "
        "espeak-ng speech: sentences of CMU-dictionary words in several voices and speeds, 22.05 kHz mono. "
        "Peak memory: the largest sum of PSS over the job's process tree, sampled every 0.1 s. CPU: user + system "
        "time of the tree; real-time factor (RTF) = seconds of processing per second of audio (lower is faster). "
        f"A run is stopped after {LIMIT_FACTOR} × the audio's duration.",
        "",
        f"Goals: peak memory < {GOALS['memory_mb']} MB at every length; CPU RTF ≤ {GOALS['cpu_rtf']}; "
        f"wall RTF ≤ {GOALS['wall_rtf_60']} at 60 minutes (two cores).",
        "",
        "| material | audio (min) | peak memory (MB) | CPU (s) | CPU RTF | wall (s) | wall RTF | words aligned | note |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
        *rows,
        "",
    ]
    if note:
        lines += [note, ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
