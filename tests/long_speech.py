"""Long recordings of varied speech with their transcripts, for the long-audio tests and benchmark.

espeak-ng reads seeded pseudo-sentences (so no sentence repeats, unlike a
concatenation of the samples in tests/data) at a few speeds, joined by pauses of
0.15–0.9 s; a light seeded noise keeps the pauses from being digital silence.
Nothing is committed: the same seed gives the same recording on every run.
"""

import io
import subprocess

import numpy as np
import soundfile
import soxr

from tests.messy_corpus import RATE, trim_zeros

SUBJECTS = ["the farmer", "my neighbour", "a young teacher", "the old captain", "our doctor", "the baker",
            "his sister", "a quiet student", "the mayor", "her uncle", "the driver", "a tired nurse"]
VERBS = ["painted", "carried", "found", "wanted", "remembered", "opened", "cleaned", "watched", "followed",
         "bought", "described", "repaired"]
OBJECTS = ["a green boat", "the heavy table", "seven letters", "the broken window", "a small garden",
           "the silver key", "an empty basket", "the morning paper", "a wooden chair", "the long road",
           "two yellow apples", "the kitchen door"]
ENDINGS = ["before dinner", "near the river", "after the storm", "in the village", "on a cold evening",
           "without a word", "during the summer", "at the station", "behind the church", "for many years",
           "with great care", "under the bridge"]
SPEEDS = (140, 160, 175)
NOISE = 0.01  # −40 dBFS, a quiet room: cleaner pauses make PocketSphinx put them into words


def speak(text, speed):
    """espeak-ng's US English reading of `text`, float32 at 16 kHz; the same on every run (sox would dither)."""
    wav = subprocess.run(["espeak-ng", "-v", "en-us", "-s", str(speed), "--stdout", text], check=True,
                         capture_output=True).stdout
    audio, rate = soundfile.read(io.BytesIO(wav), dtype="float32")
    return soxr.resample(audio, rate, RATE, quality="HQ").astype(np.float32)


def sentences(count, seed=0):
    """`count` different pseudo-sentences, the same for the same seed."""
    rng = np.random.default_rng(seed)
    seen, result = set(), []
    while len(result) < count:
        parts = (rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS), rng.choice(ENDINGS))
        if parts not in seen or len(seen) > 1500:
            seen.add(parts)
            result.append(" ".join(parts))
    return result


def recording(seconds, seed=0):
    """(int16 samples at 16 kHz of at least `seconds` of speech, [sentence text per sentence], [(start s, end s)])."""
    rng = np.random.default_rng(seed)
    pieces, texts, spans, length = [], [], [], 0
    texts_wanted = sentences(int(seconds / 1.5) + 10, seed)  # a sentence lasts 2 s or more
    for number, text in enumerate(texts_wanted):
        if length >= seconds * RATE:
            break
        speech = trim_zeros(speak(text, speed=SPEEDS[number % len(SPEEDS)]))
        pause = np.zeros(int(rng.uniform(0.15, 0.9) * RATE), dtype=np.float32)
        spans.append((length / RATE, (length + len(speech)) / RATE))
        pieces += [speech, pause]
        texts.append(text)
        length += len(speech) + len(pause)
    audio = np.concatenate(pieces)
    audio += np.random.default_rng(seed + 1).normal(0.0, NOISE, len(audio)).astype(np.float32)
    return (np.clip(audio, -1, 1) * 32767).astype(np.int16), texts, spans
