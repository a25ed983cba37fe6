"""Word boundaries next to pauses, moved to the edges of the pause in the signal's energy.

PocketSphinx places boundaries on a 10 ms grid, and next to short pauses it
often gives the pause to a word: measured on generated speech with known
boundaries (tests/benchmarks/alignment_accuracy.py), a word end next to a
150 ms pause came 110–160 ms late (or the next start as early), and next to
400 ms pauses a few by the whole pause. The signal itself says where a pause
is: a stretch of 5 ms frames much quieter than the speech around it.

`refine_boundaries` looks at each boundary between two aligned words (and at
the first word's start and the last word's end): when a pause of at least
MIN_PAUSE_SECONDS lies at, or within MAX_DISTANCE_SECONDS of, the boundary,
the earlier word ends where the pause starts and the later one starts where it
ends. Without such a pause nothing moves. A boundary never moves past a
neighbour (each word keeps at least MIN_PHONE_SECONDS per phone), and a word's
phones move with its edges: its first phone starts and its last phone ends
with it, the inner phone boundaries stay in order inside the word.

Only a window of about a second around each boundary is read (`samples[a:b]`),
so this works on a file-backed recording of any length.

Measured on the benchmark's development set (the held-out set was not used to
choose): word boundaries within 20 ms went from 48 % to 92 %, within 50 ms from
84 % to 97 %. Pauses of 30 ms, or 100 ms away, also caught the closures of stop
consonants next to boundaries between words spoken without a pause (those went
from 66 % within 20 ms to 56 %); 40 ms and 30 ms keep them where they were.
"""

import dataclasses

import numpy as np

from clamservices.audio import SAMPLE_RATE

FRAME = SAMPLE_RATE // 200  # 5 ms frames: half of PocketSphinx's frame shift
SEARCH_SECONDS = 0.6  # how far around a boundary to look for its pause
MIN_PAUSE_SECONDS = 0.04
MAX_DISTANCE_SECONDS = 0.03  # a pause further from the boundary than this is more likely a stop consonant's closure
MIN_PHONE_SECONDS = 0.01
# Pause frames: quieter than the quietest frame of the window plus this share of the window's
# range (quietest to 95th percentile), and at least MIN_RISE_DB above the quietest.
THRESHOLD_SHARE = 0.25
MIN_RISE_DB = 8.0
MIN_CONTRAST_DB = 20.0  # less range than this in a window: no pause can be told from speech there
SILENCE_DBFS = -100.0  # digital silence, counted as this level


def _frame_levels(samples, first_frame, last_frame):
    """dBFS of the 5 ms frames first_frame … last_frame − 1 of `samples`."""
    block = np.asarray(samples[first_frame * FRAME : last_frame * FRAME], dtype=np.float64) / 32768.0
    block = block[: len(block) // FRAME * FRAME].reshape(-1, FRAME)
    return 10 * np.log10((block**2).mean(axis=1) + 10 ** (SILENCE_DBFS / 10))


def _pauses(levels):
    """[(first frame, end frame)] of runs of quiet frames in `levels` (indexes into it), at least MIN_PAUSE_SECONDS long."""
    if len(levels) == 0:
        return []
    floor, loud = float(levels.min()), float(np.percentile(levels, 95))
    if loud - floor < MIN_CONTRAST_DB:
        return []
    quiet = levels < floor + max(MIN_RISE_DB, THRESHOLD_SHARE * (loud - floor))
    edges = np.flatnonzero(np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]])))
    minimum = round(MIN_PAUSE_SECONDS * SAMPLE_RATE / FRAME)
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2]) if b - a >= minimum]


def _pause_near(samples, earliest, latest, before, after):
    """(start, end) in seconds of the pause at the boundary stretch [before, after], searched in
    [earliest, latest]; None when no pause lies within MAX_DISTANCE_SECONDS of it.

    Several pauses there make one, from the first's start to the last's end: what separates them (a
    breath, a click; measured in tests/data/cards-002.wav between "four" and "queen") is no word's.
    """
    first = max(0, int(earliest * SAMPLE_RATE) // FRAME)
    last = min(len(samples) // FRAME, int(latest * SAMPLE_RATE) // FRAME)
    if last - first <= 0:
        return None
    near = []
    for a, b in _pauses(_frame_levels(samples, first, last)):
        start, end = (first + a) * FRAME / SAMPLE_RATE, (first + b) * FRAME / SAMPLE_RATE
        if max(0.0, start - after, before - end) <= MAX_DISTANCE_SECONDS:
            near.append((start, end))
    return (near[0][0], near[-1][1]) if near else None


def _minimum(phones):
    return max(1, len(phones)) * MIN_PHONE_SECONDS


def refine_boundaries(alignment, samples):
    """`alignment` (clamservices.aligner.Alignment) with word edges next to pauses moved to the pause's edges."""
    words = list(alignment.words)
    if not words:
        return alignment
    phones_of = [[p for p in alignment.phones if w.start <= (p.start + p.end) / 2 < w.end] for w in words]
    starts, ends = [w.start for w in words], [w.end for w in words]
    duration = len(samples) / SAMPLE_RATE
    for i in range(len(words) + 1):
        # Boundary i: between word i − 1 and word i (the recording's edges stand in for missing neighbours).
        before = ends[i - 1] if i > 0 else starts[0]
        after = starts[i] if i < len(words) else ends[-1]
        earliest = starts[i - 1] + _minimum(phones_of[i - 1]) if i > 0 else 0.0
        latest = ends[i] - _minimum(phones_of[i]) if i < len(words) else duration
        earliest = max(earliest, min(before, after) - SEARCH_SECONDS)
        latest = min(latest, max(before, after) + SEARCH_SECONDS)
        pause = _pause_near(samples, earliest, latest, min(before, after), max(before, after))
        if pause is None:
            continue
        if i > 0:
            ends[i - 1] = min(max(pause[0], earliest), latest)
        if i < len(words):
            starts[i] = max(min(pause[1], latest), earliest)
    new_words, new_phones = [], []
    for word, start, end, phones in zip(words, starts, ends, phones_of):
        if (start, end) == (word.start, word.end):
            new_words.append(word)
            new_phones += phones
            continue
        start, end = round(start, 4), round(end, 4)
        new_words.append(dataclasses.replace(word, start=start, end=end))
        new_phones += fit_phones(phones, start, end)
    return dataclasses.replace(alignment, words=new_words, phones=new_phones)


def fit_phones(phones, start, end):
    """`phones` of a word now spanning [start, end]: outer edges on the word's, inner ones kept where they fit."""
    if not phones:
        return []
    count = len(phones)
    step = min(MIN_PHONE_SECONDS, (end - start) / count)
    edges = [start] + [p.end for p in phones[:-1]] + [end]
    for k in range(1, count):  # in order, each phone at least `step` long, room left for the rest
        edges[k] = min(max(edges[k], edges[k - 1] + step), end - (count - k) * step)
    return [dataclasses.replace(p, start=round(a, 4), end=round(b, 4)) for p, a, b in zip(phones, edges, edges[1:])]
