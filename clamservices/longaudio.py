"""Long recordings: cut into pieces of bounded length, so that every decode is short.

PocketSphinx's word pass over a whole recording costs about the square of its
length (a linear grammar of every word, a trellis of every frame). A recording
longer than one piece is therefore divided and conquered as long-audio aligners
do (Moreno et al. 1998; the MAUS chunker):

1. webrtcvad marks 30 ms frames as speech or not; runs of non-speech of at
   least MIN_PAUSE_SECONDS are the pauses where a cut may go;
2. to split a range (audio a–b, transcript words i–j), take the pause nearest
   its middle; estimate the word spoken there from the share of the range's
   speech before it; decode a window of WINDOW_SECONDS around the pause against
   the words estimate ± M, in a grammar that may start and end at any of them
   (the entry weighted towards the estimate: recordings repeat material, and the
   nearest repetition is the likely one);
3. accept the cut only when ANCHOR_WORDS consecutive transcript words on each
   side of it were found in order with good confidence, and the words per second
   of speech on both sides stay plausible; else try the next pause;
4. recurse until the pieces are at most `piece_seconds` long. A range without
   any anchor (the transcript does not match the audio there) stays one piece,
   aligned with the tolerant pass; if it is very long it is cut blindly where the
   estimate says, so a bad stretch never makes the decode quadratic again.

Each piece is then aligned on its own with the passes a short recording gets
(`Aligner.align_piece`), possibly in another process (clamservices.pool), and
the pieces are put together by `assemble`. The recording is only ever read a
block or a piece at a time (`samples[a:b]`), so it may be a file-backed object.
"""

import math
from dataclasses import dataclass, field

import numpy as np
import webrtcvad

from clamservices.audio import SAMPLE_RATE

VAD_AGGRESSIVENESS = 2  # webrtcvad's 0–3; 2 keeps breaths and quiet syllables as speech
VAD_FRAME = SAMPLE_RATE * 30 // 1000  # 30 ms, the longest frame webrtcvad takes
READ_BLOCK = VAD_FRAME * 2000  # one minute: what is read of the recording at a time
MIN_PAUSE_SECONDS = 0.15
WINDOW_SECONDS = 6.0
ANCHOR_WORDS = 3
MAX_TRIES = 8  # pauses tried per range before it is given up as not matching
# The decode window's grammar: words estimate ± max(MIN_SPAN, SPAN_SHARE of the range's words).
MIN_SPAN = 20
SPAN_SHARE = 0.05
MAX_SPAN = 400  # words: beyond that a window's decode costs more than the piece it would save
ENTRY_GARBAGE = 0.5  # the window starts and ends inside speech: cut words are spoken noise
DENSITY_RATIO = 3.0  # words per second of speech on one side of a cut vs the whole range, at most
BLIND_FACTOR = 3  # a range without anchors longer than this many pieces is cut where the estimate says
MIN_RUN_TO_PLACE = 5  # runs of at least this many missing words get a warning saying where


@dataclass
class Piece:
    start: int  # samples
    end: int
    first: int  # transcript word indexes, end exclusive
    last: int
    anchored: bool = True  # False: cut blindly, words near its edges may be on the other side


@dataclass
class PieceResult:
    """What `Aligner.align_piece` found in one piece, in seconds of the whole recording."""

    found: list = field(default_factory=list)  # [(word index, Segment)] in frames of the whole recording
    words: list = field(default_factory=list)  # [Interval] in order
    phones: list = field(default_factory=list)
    no_phones: list = field(default_factory=list)  # [(start s, end s)] where the phone pass failed
    error: str = ""  # the piece's words could not be placed: AlignmentError code


@dataclass(frozen=True)
class Segment:
    """The part of a PocketSphinx segment the aligner uses, picklable and shiftable."""

    word: str
    start_frame: int
    end_frame: int
    ascore: float

    @classmethod
    def of(cls, segment, offset_frames=0):
        return cls(segment.word, segment.start_frame + offset_frames, segment.end_frame + offset_frames,
                   segment.ascore)


def speech_frames(samples):
    """One bool per 30 ms frame of `samples` (int16, 16 kHz): speech or not; read a block at a time."""
    vad = webrtcvad.Vad(VAD_AGGRESSIVENESS)
    frames = len(samples) // VAD_FRAME
    speech = np.zeros(frames, dtype=bool)
    for block_start in range(0, frames * VAD_FRAME, READ_BLOCK):
        block = np.ascontiguousarray(samples[block_start : min(block_start + READ_BLOCK, frames * VAD_FRAME)],
                                     dtype="<i2").tobytes()
        first = block_start // VAD_FRAME
        for n in range(len(block) // (2 * VAD_FRAME)):
            speech[first + n] = vad.is_speech(block[2 * VAD_FRAME * n : 2 * VAD_FRAME * (n + 1)], SAMPLE_RATE)
    return speech


def pauses(speech):
    """[(start sample, end sample)] of the runs of non-speech of MIN_PAUSE_SECONDS or more."""
    padded = np.concatenate([[True], speech, [True]])
    changes = np.flatnonzero(np.diff(padded.astype(np.int8)))
    starts, ends = changes[0::2], changes[1::2]  # non-speech runs: frame start, frame end (exclusive)
    shortest = math.ceil(MIN_PAUSE_SECONDS * SAMPLE_RATE / VAD_FRAME)
    return [(int(s) * VAD_FRAME, int(e) * VAD_FRAME) for s, e in zip(starts, ends) if e - s >= shortest]


class Splitter:
    """Cuts a recording and its transcript into `Piece`s (see the module docstring)."""

    def __init__(self, aligner, samples, keys, prepare, piece_seconds, progress=None):
        self.aligner = aligner
        self.samples = samples
        self.keys = keys
        self.prepare = prepare  # (start, end) → the samples as the decoder gets them (gain, noise floor)
        self.piece = int(piece_seconds * SAMPLE_RATE)
        self.window = int(WINDOW_SECONDS * SAMPLE_RATE)
        self.progress = progress or (lambda fraction: None)
        speech = speech_frames(samples)
        self.speech_before = np.concatenate([[0], np.cumsum(speech)])
        self.pauses = pauses(speech)
        self.planned = 0

    def _speech(self, a, b):
        """Speech frames between samples a and b."""
        last = len(self.speech_before) - 1
        return int(self.speech_before[min(b // VAD_FRAME, last)] - self.speech_before[min(a // VAD_FRAME, last)])

    def pieces(self):
        return self._split(0, len(self.samples), 0, len(self.keys))

    def _leaf(self, piece):
        self.planned += piece.end - piece.start
        self.progress(self.planned / max(1, len(self.samples)))
        return [piece]

    def _estimate(self, a, b, i, j, at):
        return i + round((j - i) * self._speech(a, at) / max(1, self._speech(a, b)))

    def _split(self, a, b, i, j, anchored=True):
        if b - a <= self.piece:
            return self._leaf(Piece(a, b, i, j, anchored))
        if j - i < 2 * ANCHOR_WORDS + 2:  # too few words to anchor a cut in
            if b - a <= BLIND_FACTOR * self.piece:
                return self._leaf(Piece(a, b, i, j, anchored))
            # A few words on a long stretch (music, silence, a transcript that stops early): cut it
            # anyway, so that no decode is long; pieces may have no words at all.
            middle = a + (b - a) // 2
            at = _on_frame((self._pauses_near(a, b, middle) or [middle])[0])
            k = min(j, max(i, self._estimate(a, b, i, j, at)))
            return self._split(a, at, i, k, False) + self._split(at, b, k, j, False)
        # Cut where the pieces come out about equal: each as long as allowed, and no more of them than needed.
        count = math.ceil((b - a) / self.piece)
        middle = a + (b - a) * (count // 2) // count
        margin = self.window // 2
        candidates = self._pauses_near(a, b, middle)
        tried = []
        for center in candidates:
            if len(tried) == MAX_TRIES:
                break
            if any(abs(center - t) < margin for t in tried):  # the same window again would fail again
                continue
            tried.append(center)
        # Near the estimate first; then, as a passage of audio without transcript (or the reverse) puts
        # the estimate far off, against all of the range's words, if they are not too many.
        spans = [max(MIN_SPAN, int(SPAN_SHARE * (j - i)))]
        if spans[0] < j - i <= MAX_SPAN:
            spans.append(j - i)
        for span in spans:
            for center in tried:
                cut = self._anchor(a, b, i, j, center, span)
                if cut is not None:
                    at, k = cut
                    at = _on_frame(at)
                    return self._split(a, at, i, k, anchored) + self._split(at, b, k, j, anchored)
        if b - a <= BLIND_FACTOR * self.piece:
            return self._leaf(Piece(a, b, i, j, False))
        at = _on_frame(candidates[0] if candidates else middle)
        k = min(j - 1, max(i + 1, self._estimate(a, b, i, j, at)))
        return self._split(a, at, i, k, False) + self._split(at, b, k, j, False)

    def _pauses_near(self, a, b, middle):
        """The middles of the pauses inside a–b (a window's half away from its edges), nearest `middle` first."""
        margin = self.window // 2
        return sorted(((s + e) // 2 for s, e in self.pauses if a + margin <= (s + e) // 2 <= b - margin),
                      key=lambda c: abs(c - middle))

    def _anchor(self, a, b, i, j, center, span):
        """(cut sample, first word index after it) at the pause around `center`, or None."""
        estimate = self._estimate(a, b, i, j, center)
        lo, hi = max(i, estimate - span), min(j, estimate + span)
        w0, w1 = max(a, center - self.window // 2), min(b, center + self.window // 2)
        found = self.aligner.window_pass(self.prepare(w0, w1), self.keys[lo:hi], estimate - lo)
        best = None
        for n in range(ANCHOR_WORDS - 1, len(found) - ANCHOR_WORDS):
            run = found[n - ANCHOR_WORDS + 1 : n + ANCHOR_WORDS + 1]
            if any(q - p != 1 for (p, _, _), (q, _, _) in zip(run, run[1:])) or not all(sure for _, _, sure in run):
                continue
            before, after = found[n][1], found[n + 1][1]
            at = w0 + (before.end_frame + 1 + after.start_frame) // 2 * (SAMPLE_RATE // 100)
            if before.end_frame + 1 > after.start_frame or abs(at - center) > self.window // 4:
                continue
            if best is None or abs(at - center) < abs(best[0] - center):
                best = (at, lo + found[n + 1][0])
        if best is None:
            return None
        at, k = best
        if not (i < k < j and a < at < b) or not self._plausible(a, b, i, j, at, k):
            return None
        return best

    def _plausible(self, a, b, i, j, at, k):
        """Words per second of speech on both sides of a cut near the range's own: not a repetition elsewhere."""
        rate = (j - i) / max(1, self._speech(a, b))
        for words, frames in ((k - i, self._speech(a, at)), (j - k, self._speech(at, b))):
            if frames * VAD_FRAME < 10 * SAMPLE_RATE:  # too little speech to judge
                continue
            side = words / frames
            if not rate / DENSITY_RATIO <= side <= rate * DENSITY_RATIO:
                return False
        return True


def _on_frame(sample):
    """A cut on the decoder's 10 ms frame grid, so that a piece's times shift by whole frames."""
    return sample - sample % (SAMPLE_RATE // 100)


def embed(found_words, keys, estimate):
    """Positions in `keys` of `found_words` (a subsequence of it): fewest skipped words, then nearest `estimate`.

    The decoder says which words it found, not where in the grammar: a word like "the",
    or a repeated sentence, occurs many times.
    """
    if not found_words:
        return []
    best = None
    for start in range(len(keys)):
        if keys[start] != found_words[0]:
            continue
        positions, p = [start], start + 1
        for word in found_words[1:]:
            while p < len(keys) and keys[p] != word:
                p += 1
            if p == len(keys):
                break
            positions.append(p)
            p += 1
        if len(positions) < len(found_words):
            continue
        skipped = positions[-1] - positions[0] + 1 - len(positions)
        rank = (skipped, abs(start - estimate))
        if best is None or rank < best[0]:
            best = (rank, positions)
    return best[1] if best else []


def clock(seconds):
    """12:31, or 1:02:05 past an hour."""
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
