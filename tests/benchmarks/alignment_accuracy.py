"""Accuracy of the bundled aligner against known word boundaries, side by side with aeneas-ng (issue 16).

    .venv/bin/python -m tests.benchmarks.alignment_accuracy        (or: make bench)

Material: tests/alignment_material.py (espeak-ng words joined with known gaps,
with and without noise), a development set and a held-out set (other voices,
speeds and seeds). The bundled aligner runs as the service runs it: WAV files
read by clamservices.audio.load_audio, transcripts split as fa_job does, one
Aligner for all files of a set. The peer, aeneas-ng, runs at word level in its
own virtual environment (var/bench-aeneas/, made here; not a dependency of the
application) with non-speech of 100 ms or more removed.

Word boundaries: every word's start and end. A boundary of a word that was not
aligned (file not aligned, or word not found) counts as outside every
tolerance; the mean and median error are over the aligned boundaries.

Real read speech (the LibriVox clips of tests/data) has no ground truth: its
word boundaries are compared with the bundled aligner's output saved in
tests/benchmarks/accuracy_reference.json (the aligner before issue 16's
changes); `--save-reference` rewrites that file.
"""

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests import alignment_material
from tests.benchmarks.aligner_speed import write_section
from tests.helpers import DATA, ROOT

DEV_COUNT = 24
HELD_OUT_COUNT = 24
TOLERANCES = (0.020, 0.050)
REAL_SAMPLES = ["austen-0870", "austen-0880", "austen-0890", "cards-001", "cards-002", "cards-003"]
REFERENCE = Path(__file__).with_name("accuracy_reference.json")
PEER_VENV = ROOT / "var" / "bench-aeneas"
PEER_PACKAGE = "aeneas-ng"
PEER_DEBIAN_PACKAGES = ("festival-dev", "libestools-dev", "libespeak-ng-dev", "ffmpeg")
# aeneas's word-level preset plus removal of non-speech of 100 ms or more (aeneas docs:
# "task_adjust_boundary_nonspeech_min" / "..._string=REMOVE"), one word per line (is_text_type=plain).
PEER_CONFIG = ("task_language=eng|is_text_type=plain|os_task_file_format=json|"
               "task_adjust_boundary_nonspeech_min=0.100|task_adjust_boundary_nonspeech_string=REMOVE")


# --- the bundled aligner ------------------------------------------------------------------------------

def align_bundled(wavs, phone_tier=None):
    """{wav: [(word, start, end)] or None when not aligned}, and the process's CPU seconds, as the service does it.

    `phone_tier`, a dict, gets {wav: (words with phones, words aligned)}.
    """
    from clamservices.aligner import Aligner, AlignmentError
    from clamservices.audio import load_audio
    from clamservices.fa_job import _words
    from clamservices.transcripts import words_of

    aligner = Aligner()
    results = {}
    start = time.process_time()
    for wav in wavs:
        words = words_of(Path(wav).with_suffix(".txt").read_text(encoding="utf-8"))
        split, unknown = _words(aligner, words, {})
        if unknown:
            results[wav] = None
            continue
        samples, _ = load_audio(str(wav))
        try:
            alignment = aligner.align(samples, split)
        except AlignmentError:
            results[wav] = None
            continue
        results[wav] = [(w.label, w.start, w.end) for w in alignment.words]
        if phone_tier is not None:
            phone_tier[wav] = (sum(any(w.start <= p.start < w.end for p in alignment.phones) for w in alignment.words),
                               len(alignment.words))
    return results, time.process_time() - start


# --- the peer -------------------------------------------------------------------------------------------

def peer_python():
    """The peer venv's python, made (with its Debian build dependencies) when missing; raises RuntimeError saying why not."""
    python = PEER_VENV / "bin" / "python"
    if python.exists() and subprocess.run([str(python), "-c", "import aeneas.globalfunctions"],
                                          capture_output=True).returncode == 0:
        return python
    missing = [p for p in PEER_DEBIAN_PACKAGES
               if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]
    if missing:
        # The way bin/ensure-system-packages does it: as root, or through sudo.
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        if sudo and not shutil.which("sudo"):
            raise RuntimeError(f"the peer needs the Debian packages {' '.join(missing)}; install them as root")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", *missing], check=True, env=env,
                       stdout=subprocess.DEVNULL)
    if not python.exists():
        subprocess.run(["python3", "-m", "venv", str(PEER_VENV)], check=True)
    # aeneas's setup.py imports numpy to build its C extensions, so numpy first, then no build isolation.
    pip = [str(python), "-m", "pip", "install", "-q"]
    steps = [pip + ["--upgrade", "pip", "setuptools", "wheel", "numpy"], pip + ["--no-build-isolation", PEER_PACKAGE]]
    for step in steps:
        out = subprocess.run(step, capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(f"{' '.join(step[3:])} failed: {out.stderr.strip()[-800:]}")
    return python


def align_peer(python, wavs, folder):
    """{wav: [(word, start, end)] or None}, and the CPU seconds of the peer's processes."""
    results = {}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for wav in wavs:
        wav = Path(wav)
        lines = Path(folder) / f"{wav.stem}.lines.txt"
        lines.write_text("\n".join(wav.with_suffix(".txt").read_text(encoding="utf-8").split()) + "\n")
        out = Path(folder) / f"{wav.stem}.aeneas.json"
        run = subprocess.run([str(python), "-m", "aeneas.tools.execute_task", str(wav), str(lines), PEER_CONFIG,
                              str(out), "--presets-word"], capture_output=True, text=True, timeout=600)
        if run.returncode or not out.exists():
            results[wav] = None
            continue
        fragments = json.loads(out.read_text())["fragments"]
        results[wav] = [(f["lines"][0], float(f["begin"]), float(f["end"])) for f in fragments if f["lines"]]
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return results, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


# --- scoring --------------------------------------------------------------------------------------------

def matched(truth, found):
    """[(true time, found time or None, gap class)] of every word boundary; found words matched in order by label."""
    pairs, position = [], 0
    boundaries = truth.boundaries()
    for i, (word, _, _) in enumerate(truth.words):
        hit = None
        for j in range(position, len(found or ())):
            if found[j][0].lower() == word:
                hit, position = found[j], j + 1
                break
        for k, time_found in ((2 * i, hit and hit[1]), (2 * i + 1, hit and hit[2])):
            pairs.append((boundaries[k][0], time_found if hit else None, boundaries[k][1]))
    return pairs


def summary(pairs):
    """Mean and median absolute error (ms, aligned boundaries) and shares within each tolerance (all boundaries)."""
    errors = [abs(f - t) for t, f, _ in pairs if f is not None]
    row = {"boundaries": len(pairs), "aligned": len(errors),
           "mean_ms": 1000 * statistics.fmean(errors) if errors else float("nan"),
           "median_ms": 1000 * statistics.median(errors) if errors else float("nan")}
    for tolerance in TOLERANCES:
        row[f"within_{int(tolerance * 1000)}"] = sum(e <= tolerance for e in errors) / len(pairs) if pairs else 0.0
    return row


def score(recordings, results):
    """{"all": summary, "gap 0 ms": …, "clean": …, "noisy": …}, plus files aligned / files."""
    pairs = {r.name: matched(r, results.get(r.name)) for r in recordings}
    groups = {"all": [p for r in recordings for p in pairs[r.name]]}
    for gap in (*alignment_material.GAPS_MS, "edge"):
        label = f"next to {gap} ms" if gap != "edge" else "first/last word"
        groups[label] = [p for r in recordings for p in pairs[r.name] if p[2] == gap]
    for noisy in (False, True):
        groups["noisy" if noisy else "clean"] = [p for r in recordings if r.noisy == noisy for p in pairs[r.name]]
    aligned = sum(results.get(r.name) is not None for r in recordings)
    return {name: summary(group) for name, group in groups.items()}, aligned


# --- real speech ---------------------------------------------------------------------------------------

def real_speech():
    """{stem: [(word, start, end)]} of the LibriVox/sample clips by the bundled aligner."""
    results, _ = align_bundled([DATA / f"{stem}.wav" for stem in REAL_SAMPLES])
    return {Path(wav).stem: found for wav, found in results.items()}


def real_speech_change(now):
    """Median and largest |change| (ms) of word boundaries against the saved reference, and words compared."""
    reference = json.loads(REFERENCE.read_text())
    changes = []
    for stem, words in reference.items():
        for (_, a0, a1), (_, b0, b1) in zip(words, now.get(stem) or []):
            changes += [abs(a0 - b0), abs(a1 - b1)]
    return (1000 * statistics.median(changes), 1000 * max(changes), len(changes)) if changes else None


# --- the report -------------------------------------------------------------------------------------------

def _pct(x):
    return f"{100 * x:.1f} %"


def run_set(which, count, folder, peer, phone_tiers):
    recordings = alignment_material.material(which, count)
    wavs = {r.name: r.write(folder) for r in recordings}
    audio_seconds = sum(len(r.samples) for r in recordings) / alignment_material.RATE
    tier = {}
    found, cpu = align_bundled(list(wavs.values()), tier)
    rows = {"bundled": (*score(recordings, {Path(w).stem: v for w, v in found.items()}), cpu / audio_seconds)}
    phone_tiers[which] = [sum(x[k] for x in tier.values()) for k in (0, 1)]
    if peer is not None:
        found, cpu = align_peer(peer, list(wavs.values()), folder)
        rows["aeneas-ng"] = (*score(recordings, {Path(w).stem: v for w, v in found.items()}), cpu / audio_seconds)
    return recordings, rows


def main():
    if alignment_material.tools_missing():
        sys.exit(f"missing programs: {', '.join(alignment_material.tools_missing())} (run bin/ensure-system-packages)")
    peer_note = ""
    try:
        peer = peer_python()
    except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
        peer, peer_note = None, f"aeneas-ng could not be set up: {exc}"
    sets, phone_tiers = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for which, count in (("dev", DEV_COUNT), ("held-out", HELD_OUT_COUNT)):
            folder = Path(tmp) / which
            folder.mkdir()
            sets[which] = run_set(which, count, folder, peer, phone_tiers)
    real = real_speech()
    change = real_speech_change(real) if REFERENCE.exists() else None

    lines = [
        "## Alignment accuracy (bundled aligner and aeneas-ng, issue 16)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} by `make bench` (tests/benchmarks/alignment_accuracy.py) on "
        "material with known word boundaries (tests/alignment_material.py): sentences of 8–20 common words, "
        "each word synthesised separately by espeak-ng, trimmed to its speech and joined with gaps of 0, 50, "
        "150 or 400 ms, half of the files under white noise at 30 dB SNR. Development set: voices "
        f"{', '.join(alignment_material.DEV_VOICES)}; held-out set (never tuned on): "
        f"{', '.join(alignment_material.HELD_OUT_VOICES)}, other speeds and seeds. A boundary of a word or file "
        "not aligned counts as outside every tolerance; mean and median error are over the aligned "
        "boundaries. CPU is per second of audio. Goals: ≥ 80 % of word boundaries within 20 ms, ≥ 95 % within "
        "50 ms, every file aligned, ahead of aeneas-ng on every column.",
        "",
        "| set | aligner | files aligned | within 20 ms | within 50 ms | mean error (ms) | median (ms) | CPU s / audio s |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for which, (recordings, rows) in sets.items():
        for name, (groups, aligned, cpu) in rows.items():
            g = groups["all"]
            lines.append(f"| {which} | {name} | {aligned} / {len(recordings)} | {_pct(g['within_20'])} | "
                         f"{_pct(g['within_50'])} | {g['mean_ms']:.1f} | {g['median_ms']:.1f} | {cpu:.3f} |")
    lines += ["", "By the gap next to the boundary and by noise (word boundaries within 20 / 50 ms, mean error):", "",
              "| set | aligner | " + " | ".join(k for k in sets["dev"][1]["bundled"][0] if k != "all") + " |",
              "|---|---|" + "---:|" * (len(sets["dev"][1]["bundled"][0]) - 1)]
    for which, (_, rows) in sets.items():
        for name, (groups, _, _) in rows.items():
            cells = [f"{_pct(g['within_20'])} / {_pct(g['within_50'])}, {g['mean_ms']:.0f} ms"
                     for k, g in groups.items() if k != "all"]
            lines.append(f"| {which} | {name} | " + " | ".join(cells) + " |")
    lines += ["", "Phone boundaries: espeak-ng gives no phone timings (see tests/alignment_material.py), so there is "
              "no phone ground truth; the phone tier's first and last phone of each word share the word's edges, "
              "so word-edge figures hold for those phone boundaries too. Words of the bundled aligner with phones: "
              + "; ".join(f"{which} {a} of {b}" for which, (a, b) in phone_tiers.items()) + "."]
    if change:
        lines += ["", f"Real read speech (the {len(REAL_SAMPLES)} clips of tests/data, no ground truth): word boundaries "
                  f"against the saved reference (the aligner before issue 16): median change {change[0]:.0f} ms, "
                  f"largest {change[1]:.0f} ms over {change[2]} boundaries."]
    if peer_note:
        lines += ["", peer_note]
    else:
        version = subprocess.run([str(peer), "-c", "import aeneas; print(aeneas.__version__)"], capture_output=True,
                                 text=True).stdout.strip()
        lines += ["", f"aeneas-ng {version} (in var/bench-aeneas/) ran one process per file, as its command line "
                  f"does: `python -m aeneas.tools.execute_task audio words \"{PEER_CONFIG}\" out.json --presets-word` "
                  "with one word per line; its CPU includes starting that process."]
    table = "\n".join(lines) + "\n"
    print(table)
    write_section(table)


if __name__ == "__main__":
    if sys.argv[1:] == ["--save-reference"]:
        REFERENCE.write_text(json.dumps(real_speech(), indent=1) + "\n")
    else:
        main()
