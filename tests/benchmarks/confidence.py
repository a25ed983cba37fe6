"""How well the bundled aligner's confidence separates right words from wrong ones (issue 17, item 2).

    .venv/bin/python -m tests.benchmarks.confidence        (or: make bench)

Material: tests/alignment_material.py's sentences (espeak-ng, several voices and
speeds, half under noise at 30 dB SNR), development and held-out sets. Each
recording is aligned with a transcript in which REPLACED of its words are
replaced by other words of the vocabulary (seeded): the replaced words are the
wrong ones, the rest right. Figures:

- AUC over the words aligned with a confidence: the probability that a wrong
  word gets a lower confidence than a right one (area under the ROC curve,
  ties counting half; goal ≥ 0.9);
- AUC over every transcript word, counting a word the aligner did not find (it
  says so in its report) as confidence 0 — what a researcher sorting by
  confidence and reading "not found" gets;
- how many wrong words were among the REPLACED + 1 least confident words of
  their file, and how many right words fall below LOW (false alarms).
"""

import sys
import time

import numpy as np

from tests import alignment_material
from tests.benchmarks.aligner_speed import write_section

DEV_COUNT = 24
HELD_OUT_COUNT = 24
REPLACED = 2
SEED = 17


# How the measure was chosen (measured once while building it, 2026-11-28; kept here so the section keeps it).
CHOICES = (
    "How it was chosen (development set only; the held-out voices were only measured): the phone loop on the "
    "phone pass's own decoder cost 0.016 s of CPU per second of audio (10 minutes of LibriVox speech, "
    "tests/benchmarks/long_recordings.py: CPU RTF 0.063 against 0.047 without confidence, over the goal of 0.05); "
    "on a decoder of its own at 50 frames a second, Gaussians every fourth frame and the best one per codebook "
    "(clamservices/confidence.py LOOP_OPTIONS) 0.0038, and the 10 minutes took CPU RTF 0.048 (0.047 without, "
    "measured side by side). The same words' AUC (aligned) with the cheap loop, dev / held-out: a word's mean "
    "phone GOP 0.909 / 0.903, its frame-weighted GOP 0.880 / 0.865, its worst phone's 0.886 / 0.886, the word "
    "pass's own score alone (aligner.confidence) 0.958 / 0.884; the mean phone GOP plus 20 × the word pass's "
    "score 0.969 / 0.926, taken. A file whose replaced words the aligner cannot place is refused as not matching "
    "its transcript (files aligned < 24); with right transcripts every file aligns (\"Alignment accuracy\")."
)


def auc(wrong, right):
    """P(a wrong word's confidence < a right one's), ties half: the Mann–Whitney U over len(wrong)·len(right)."""
    wrong, right = np.asarray(wrong, dtype=float), np.asarray(right, dtype=float)
    if not len(wrong) or not len(right):
        return float("nan")
    below = (wrong[:, None] < right[None, :]).sum() + 0.5 * (wrong[:, None] == right[None, :]).sum()
    return float(below) / (len(wrong) * len(right))


def with_wrong_words(words, rng, vocabulary):
    """(`words` with REPLACED of them replaced by other words, the replaced positions)."""
    positions = sorted(int(p) for p in rng.choice(len(words), size=min(REPLACED, len(words)), replace=False))
    changed = list(words)
    for p in positions:
        changed[p] = next(w for w in (vocabulary[int(i)] for i in rng.permutation(len(vocabulary)))
                          if w != words[p])
    return changed, positions


class LoopClock:
    """CPU seconds spent in the phone loop (clamservices.confidence.loop_scores): the cost of confidence."""

    def __init__(self):
        from clamservices import confidence

        self.seconds, self.module, self.original = 0.0, confidence, confidence.loop_scores
        confidence.loop_scores = self

    def __call__(self, *args):
        start = time.process_time()
        try:
            return self.original(*args)
        finally:
            self.seconds += time.process_time() - start


def run_set(which, count):
    """{"right": [...], "wrong": [...], "wrong_missing": n, "right_missing": n, "ranked": (hits, of), "files": n,
    "aligned": n, "no_confidence": n, "cpu": s, "audio": s} for one set."""
    from clamservices.aligner import Aligner, AlignmentError
    from clamservices.confidence import LOW
    from clamservices.transcripts import words_of

    aligner = Aligner()
    vocabulary = alignment_material.vocabulary()
    rng = np.random.default_rng([SEED, len(which)])
    out = {"right": [], "wrong": [], "right_phones": [], "wrong_phones": [], "wrong_missing": 0, "right_missing": 0, "hits": 0, "ranked": 0, "files": 0,
           "aligned": 0, "no_confidence": 0, "false_alarms": 0, "cpu": 0.0, "audio": 0.0}
    for recording in alignment_material.material(which, count):
        out["files"] += 1
        truth = [w for w, _, _ in recording.words]
        transcript, positions = with_wrong_words(truth, rng, vocabulary)
        samples = (recording.samples * 32767).astype(np.int16)
        start = time.process_time()
        try:
            alignment = aligner.align(samples, words_of(" ".join(transcript)))
        except AlignmentError:
            continue
        finally:
            out["cpu"] += time.process_time() - start
            out["audio"] += len(samples) / alignment_material.RATE
        out["aligned"] += 1
        # Words come back in transcript order, without the ones not found.
        found = iter(alignment.words)
        current = next(found, None)
        values = []
        for index, word in enumerate(transcript):
            wrong = index in positions
            if current is None or current.label != word:
                out["wrong_missing" if wrong else "right_missing"] += 1
                continue
            aligned, current = current, next(found, None)
            if aligned.confidence is None:
                out["no_confidence"] += 1
                continue
            values.append((index, aligned.confidence))
            out["wrong" if wrong else "right"].append(aligned.confidence)
            out["false_alarms"] += not wrong and aligned.confidence < LOW
            out["wrong_phones" if wrong else "right_phones"] += [
                p.confidence for p in alignment.phones
                if aligned.start <= (p.start + p.end) / 2 < aligned.end and p.confidence is not None]
        lowest = {i for i, _ in sorted(values, key=lambda iv: iv[1])[: REPLACED + 1]}
        for p in positions:
            if any(i == p for i, _ in values):
                out["ranked"] += 1
                out["hits"] += p in lowest
    return out


def _auc_all(s):
    """AUC with words not found counted as confidence 0."""
    return auc(s["wrong"] + [0.0] * s["wrong_missing"], s["right"] + [0.0] * s["right_missing"])


def main():
    if alignment_material.tools_missing():
        sys.exit(f"missing programs: {', '.join(alignment_material.tools_missing())} (run bin/ensure-system-packages)")
    from clamservices.confidence import LOW

    loop = LoopClock()
    sets = {which: run_set(which, count) for which, count in (("dev", DEV_COUNT), ("held-out", HELD_OUT_COUNT))}
    audio = sum(s["audio"] for s in sets.values())
    lines = [
        "## Confidence per word (bundled aligner, issue 17)",
        "",
        (f"Measured {time.strftime('%Y-%m-%d')} by `make bench` (tests/benchmarks/confidence.py) on "
        "tests/alignment_material.py's sentences (8–20 common words, espeak-ng, half under noise at 30 dB SNR; "
        f"development voices {', '.join(alignment_material.DEV_VOICES)}, held-out voices "
        f"{', '.join(alignment_material.HELD_OUT_VOICES)}), each aligned with a transcript in which {REPLACED} "
        "words are replaced by other words (the wrong words; the others are right). AUC: the probability that a "
        "wrong word gets a lower confidence than a right one (area under the ROC curve; goal ≥ 0.9), over the "
        "words aligned with a confidence, over every transcript word with words not found counted as 0, and over "
         "the phones of wrong words against those of right ones. "
        "Confidence: clamservices/confidence.py (a GOP score against a free phone loop, mapped by a logistic); "
        f"words to check: confidence < {LOW:g}."),
        "",
        ("| set | files aligned | right / wrong words with a confidence | wrong words not found | AUC (aligned) | "
         f"AUC (every word) | AUC (phones) | wrong words among their file's {REPLACED + 1} lowest | right words < {LOW:g} | "
         "CPU s / audio s |"),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for which, s in sets.items():
        lines.append(
            f"| {which} | {s['aligned']} / {s['files']} | {len(s['right'])} / {len(s['wrong'])} | "
            f"{s['wrong_missing']} of {s['wrong_missing'] + len(s['wrong'])} | {auc(s['wrong'], s['right']):.3f} | "
            f"{_auc_all(s):.3f} | {auc(s['wrong_phones'], s['right_phones']):.3f} | {s['hits']} of {s['ranked']} | "
            f"{s['false_alarms']} of {len(s['right'])} | {s['cpu'] / max(s['audio'], 1e-9):.3f} |")
    lines += ["", (f"The phone loop, the cost of confidence, took {loop.seconds / audio:.4f} s of CPU per second of "
                   "audio of the figures above (in the CPU column)."), "",
              "Right words not found: " + "; ".join(f"{w} {s['right_missing']}" for w, s in sets.items())
              + ". Words aligned without a confidence (their phone pass failed): "
              + "; ".join(f"{w} {s['no_confidence']}" for w, s in sets.items()) + "."]
    lines += ["", CHOICES]
    table = "\n".join(lines) + "\n"
    print(table)
    if "--no-write" not in sys.argv:
        write_section(table)


if __name__ == "__main__":
    main()
