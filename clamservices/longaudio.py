"""Long recordings: cut into pieces of bounded length, so that every decode is short.

PocketSphinx's word pass over a whole recording costs about the square of its
length (a linear grammar of every word, a trellis of every frame). A recording
longer than one piece is therefore divided and conquered as long-audio aligners
do (Moreno et al. 1998; the MAUS chunker):

1. webrtcvad marks 30 ms frames as speech or not; runs of non-speech of at
   least MIN_PAUSE_SECONDS are the pauses where a cut may go;
2. from the start on, the next cut is looked for at the pauses up to one piece
   after the last one (long pauses first, then the pause where the rest comes
   out in equal pieces); the word spoken there is estimated from the share of
   the rest's speech before it; a window of WINDOW_SECONDS around the pause is
   decoded against the words estimate ± M, in a grammar that may start and end
   at any of them (the entry weighted towards the estimate: recordings repeat
   material, and the nearest repetition is the likely one). M is the estimate's
   uncertainty, a share of the words since the last cut: the grammar, and a
   window's cost, do not grow with the recording. Around a long pause only its
   edges are decoded (digital silence costs a decode the most), and long pauses
   become pieces without words; a window without speech on both sides is not
   decoded at all;
3. accept the cut only when ANCHOR_WORDS consecutive transcript words on each
   side of it were found in order with good confidence, and the words per second
   of speech on both sides stay plausible; else try the next pause, and after
   EMPTY_TRIES windows that found nothing, a few further pauses with a wider
   span; where nothing anchors at the start, windows elsewhere in the recording
   decide whether the transcript is this recording's at all (`NoMatch`);
4. where no cut anchors (the transcript and the audio disagree: a passage
   added or missing, a transcript that stops early or starts late), the
   estimate is off by the whole passage from there on, so the rest is bisected:
   the cut that makes equal pieces is looked for against the words near the
   estimate and then against all of the range's words (up to BISECT_MAX_SPAN),
   halves without anchor are cut where the estimate says, and a range of up to
   BLIND_FACTOR pieces without anchor stays one piece, aligned with the tolerant
   pass, so a bad stretch never makes the decode quadratic again. Where a few
   words remain for a long stretch, it is cut anyway (pieces may have no words).

Pieces are given as soon as they are decided (`Splitter.pieces` is a
generator), so that they are aligned while the rest is planned.
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
MAX_TRIES = 8  # pauses tried for a cut before it is given up as not matching
EMPTY_TRIES = 3  # windows in a row without ANCHOR_WORDS well-fitting words in a row: the transcript does not match there
# The decode window's grammar: words estimate ± max(MIN_SPAN, SPAN_SHARE of the words since the last cut), the
# uncertainty of an estimate made from there; the grammar's size, and a window's cost, do not grow with the recording.
MIN_SPAN = 20
SPAN_SHARE = 0.25
WIDE_TRIES = 3  # then pauses tried up to BLIND_FACTOR pieces on, with WIDE_FACTOR times the span
WIDE_FACTOR = 4
WIDE_WINDOW_FACTOR = 2  # the wide tries' windows, in lengths of WINDOW_SECONDS
WIDE_ANCHOR_WORDS = 2 * ANCHOR_WORDS  # well-fitting words in a row on each side of a cut found with a wider span
# Where the transcript and the audio disagree (`Splitter._bisect`): spans of this share of a range's words,
# then all of them up to BISECT_MAX_SPAN (beyond that a window's decode costs more than the piece it would save).
BISECT_SPAN_SHARE = 0.05
BISECT_MAX_SPAN = 400
MAX_SPAN = 100  # words: a window's decode costs about the square of its grammar's words (skips: every pair of states)
LONG_PAUSE = 2.0  # seconds: a window around a longer pause decodes only its edges; at the recording's ends it is cut off
PAUSE_KEPT_SECONDS = 0.5  # of a long pause, on each side, in the pieces and windows next to it
MIN_WINDOW_SPEECH = 1.0  # seconds of speech on each side of a window's pause, at least
NO_MATCH_WINDOWS = 6  # windows without an anchor from the start on: probe elsewhere whether the transcript matches
PROBES = (1 / 3, 2 / 3)  # where, as shares of the rest of the recording
# Words either side of a probe's estimate: a recording that starts with speech its transcript leaves out puts the
# estimate off by all of that speech's share (2.5 minutes of 4.5 not in the transcript: 136 words), and the probe
# decides whether the recording is aligned at all; it is made once.
PROBE_SPAN = 200
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


def speech_seconds(samples, start, end):
    """Seconds of speech (as `speech_frames` judges it) in samples[start:end], read a block at a time."""
    start, end = max(0, start), min(len(samples), end)
    frames = 0
    for block_start in range(start, end, READ_BLOCK):
        frames += int(speech_frames(samples[block_start : min(block_start + READ_BLOCK, end)]).sum())
    return frames * VAD_FRAME / SAMPLE_RATE


def pauses(speech):
    """[(start sample, end sample)] of the runs of non-speech of MIN_PAUSE_SECONDS or more."""
    padded = np.concatenate([[True], speech, [True]])
    changes = np.flatnonzero(np.diff(padded.astype(np.int8)))
    starts, ends = changes[0::2], changes[1::2]  # non-speech runs: frame start, frame end (exclusive)
    shortest = math.ceil(MIN_PAUSE_SECONDS * SAMPLE_RATE / VAD_FRAME)
    return [(int(s) * VAD_FRAME, int(e) * VAD_FRAME) for s, e in zip(starts, ends) if e - s >= shortest]


class Splitter:
    """Cuts a recording and its transcript into `Piece`s, from the start on (see the module docstring).

    `windows` counts the window decodes (tests and benchmarks read it).
    """

    def __init__(self, aligner, samples, keys, prepare, piece_seconds, progress=None, note=None):
        self.aligner = aligner
        self.samples = samples
        self.keys = keys
        self.prepare = prepare  # (start, end) → the samples as the decoder gets them (gain, noise floor)
        self.piece = int(piece_seconds * SAMPLE_RATE)
        self.window = int(WINDOW_SECONDS * SAMPLE_RATE)
        self.keep = int(PAUSE_KEPT_SECONDS * SAMPLE_RATE)
        self.progress = progress or (lambda fraction: None)
        # note(text) before each window decode, note(None) once a piece is decided: where a transcript and its
        # audio disagree, windows are decoded for minutes before the next cut, and a status line that stood
        # still that long was taken for a hang and cancelled.
        self.note = note or (lambda text: None)
        speech = speech_frames(samples)
        self.speech_before = np.concatenate([[0], np.cumsum(speech)])
        self.pauses = pauses(speech)
        self.windows = 0
        self.anchors = 0  # cuts anchored so far
        self.probed = False

    def _speech(self, a, b):
        """Speech frames between samples a and b."""
        last = len(self.speech_before) - 1
        return int(self.speech_before[min(b // VAD_FRAME, last)] - self.speech_before[min(a // VAD_FRAME, last)])

    def _estimate(self, a, b, i, j, at):
        return i + round((j - i) * self._speech(a, at) / max(1, self._speech(a, b)))

    def pieces(self):
        """The pieces in order, each given as soon as its end is decided (a generator)."""
        n, j = len(self.samples), len(self.keys)
        a, i, b, anchored = 0, 0, n, True
        # Silence at either end of the recording is a piece without words: no window or pass decodes it.
        for s, e in self.pauses:
            if s == 0 and e - s >= LONG_PAUSE * SAMPLE_RATE and e < n:
                a = _on_frame(e - self.keep)
                yield self._decided(Piece(0, a, 0, 0), a)
            if e >= n - VAD_FRAME and e - s >= LONG_PAUSE * SAMPLE_RATE and s > a:
                b = _on_frame(s + self.keep)
        while b - a > self.piece:
            if j - i < 2 * ANCHOR_WORDS + 2:  # too few words to anchor a cut in
                if b - a <= BLIND_FACTOR * self.piece:
                    break
                # A few words on a long stretch (music, silence, a transcript that stops early): cut it
                # anyway, so that no decode is long; pieces may have no words at all.
                at = _on_frame(self._blind(a, b))
                k = min(j, max(i, self._estimate(a, b, i, j, at)))
                yield self._decided(Piece(a, at, i, k, False), at)
                a, i, anchored = at, k, False
                continue
            cut = self._cut(a, b, i, j)
            if cut is not None:
                end, k, start = cut
                yield self._decided(Piece(a, end, i, k, anchored), end)
                if start > end:  # a long pause between: a piece without words
                    yield self._decided(Piece(end, start, k, k), start)
                a, i, anchored = start, k, True
                self.anchors += 1
                continue
            if not self.anchors and not self.probed and self.windows >= NO_MATCH_WINDOWS:
                self.probed = True  # once: a recording may start with speech its transcript leaves out
                if not self._probes_match(a, b, i, j):
                    raise NoMatch()
            # No anchor near the estimate: the transcript and the audio disagree here (a passage added to or
            # missing from the transcript, one that stops early or starts late), and an estimate made from the
            # share of speech is off by the whole passage from here on. Cutting where it says gave every later
            # piece the wrong words (a transcript without its recording's last 130 s: 225 of 298 words placed),
            # so the rest is bisected, each cut looked for against all of its range's words (`_bisect`).
            yield from self._bisect(a, b, i, j)
            a = b
            break
        if a < b:
            yield self._decided(Piece(a, b, i, j, anchored), b)
        if b < n:
            yield self._decided(Piece(b, n, j, j), n)

    def _decided(self, piece, planned):
        self.note(None)
        self.progress(planned / max(1, len(self.samples)))
        return piece

    def _searching(self, text, number, count):
        self.note(f"{text} (window {number} of {count})")

    def _target(self, a, b):
        """Where the next cut should be: pieces about equal, each as long as allowed, no more of them than needed."""
        return a + (b - a) // math.ceil((b - a) / self.piece)

    def _blind(self, a, b):
        target = self._target(a, b)
        near = [c for c in self._candidates(a, b, a + self.piece) if not c.long]
        return near[0].end if near else target

    def _candidates(self, a, b, limit, window=None):
        """The pauses whose window has speech on both sides, with the piece before them ending by `limit`,
        long pauses first (the pieces need not decode them), then nearest the target."""
        target = self._target(a, b)
        found = []
        for s, e in self.pauses:
            s, e = max(s, a), min(e, b)
            if e - s < MIN_PAUSE_SECONDS * SAMPLE_RATE:
                continue
            pause = _Pause(s, e, window or self.window, self.keep, LONG_PAUSE * SAMPLE_RATE)
            w0, w1 = pause.parts[0][0], pause.parts[-1][1]
            if w0 < a or w1 > b or pause.end <= a or pause.end > limit:
                continue
            # A window with (almost) no speech finds no anchor, and its decode costs the most: every word
            # of the grammar stays active in silence (measured: 189 s of CPU for 6 s of digital silence).
            if any(self._speech(p, q) * VAD_FRAME < MIN_WINDOW_SPEECH * SAMPLE_RATE for p, q in pause.halves):
                continue
            found.append(pause)
        # A long pause in the second half of the stretch: pieces a little shorter, but no short ones.
        return sorted(found, key=lambda p: (not (p.long and p.end >= a + self.piece // 2), abs(p.end - target)))

    def _span(self, a, i, j, b, center, doubt):
        """Words either side of the estimate in a window's grammar: the estimate's uncertainty, which grows with
        the speech since the last anchor (not with the recording's length)."""
        since = self._estimate(a, b, i, j, center) - i
        return min(MAX_SPAN, doubt * max(MIN_SPAN, int(SPAN_SHARE * since)))

    def _cut(self, a, b, i, j):
        """(end of the piece before, first word index after, start of the piece after) at an anchored pause, or None."""
        tries = [(self._candidates(a, b, a + self.piece)[:MAX_TRIES], 1)]
        # Their windows are longer: WIDE_ANCHOR_WORDS in a row on each side of a pause do not fit in the
        # usual window where speech is slow (a recording of varied voices and speeds lost every anchor
        # after its first third, and with them most of its words).
        tries.append((self._candidates(a, b, a + BLIND_FACTOR * self.piece, WIDE_WINDOW_FACTOR * self.window)[:WIDE_TRIES],
                      WIDE_FACTOR))
        count, number = sum(len(c) for c, _ in tries), 0
        for candidates, factor in tries:
            empty = 0
            for pause in candidates:
                number += 1
                if number > 1:  # the first window nearly always anchors: only a search that goes on is news
                    self._searching(f"looking for a place to cut after {clock(a / SAMPLE_RATE)} where the "
                                    "transcript fits", number, count)
                cut, run = self._anchor(a, b, i, j, pause, factor)
                if cut is not None:
                    return cut
                empty = 0 if run else empty + 1
                if empty == EMPTY_TRIES:  # the transcript does not match here: more windows would not either
                    break
        return None

    def _probes_match(self, a, b, i, j):
        """Whether windows elsewhere in the recording (against many words) find the transcript's words in order."""
        for number, share in enumerate(PROBES, 1):
            at = a + int((b - a) * share)
            self._searching("checking further on whether the transcript is this recording's", number, len(PROBES))
            near = sorted((p for p in self._candidates(a, b, b, WIDE_WINDOW_FACTOR * self.window) if not p.long),
                          key=lambda p: abs(p.end - at))
            if near and self._anchor(a, b, i, j, near[0], WIDE_FACTOR, span=PROBE_SPAN)[0] is not None:
                return True
        return False

    def _anchor(self, a, b, i, j, pause, doubt=1, span=None):
        """((end, first word index after, start) of an anchored cut at `pause` or None, whether the window found
        ANCHOR_WORDS well-fitting words in a row)."""
        center = pause.end
        estimate = self._estimate(a, b, i, j, center)
        span = span or self._span(a, i, j, b, center, doubt)
        lo, hi = max(i, estimate - span), min(j, estimate + span)
        audio = np.concatenate([self.prepare(p, q) for p, q in pause.parts])
        self.windows += 1
        found = self.aligner.window_pass(audio, self.keys[lo:hi], estimate - lo)
        # A wider grammar finds a repeated phrase elsewhere more easily: it needs a longer run of words.
        run_words = ANCHOR_WORDS if doubt == 1 else WIDE_ANCHOR_WORDS
        best, run = None, False
        for n in range(run_words - 1, len(found) - run_words):
            window = found[n - run_words + 1 : n + run_words + 1]
            if any(q - p != 1 for (p, _, _), (q, _, _) in zip(window, window[1:])) or not all(s for _, _, s in window):
                continue
            run = True
            before, after = found[n][1], found[n + 1][1]
            if before.end_frame + 1 > after.start_frame:
                continue
            at = (before.end_frame + 1 + after.start_frame) // 2 * (SAMPLE_RATE // 100)
            if abs(at - pause.junction) > pause.junction // 2:
                continue
            # Around a long pause, the cut is in it: one word on each side of the join.
            frame = SAMPLE_RATE // 100
            if pause.long and not ((before.end_frame + 1) * frame <= pause.junction + self.keep
                                   and after.start_frame * frame >= pause.junction - self.keep):
                continue
            if best is None or abs(at - pause.junction) < abs(best[0] - pause.junction):
                best = (at, lo + found[n + 1][0])
        if best is None:
            return None, run
        at, k = best
        end, start = pause.cut(at)
        if not (i < k < j and a < end <= start < b) or not self._plausible(a, b, i, j, end, k):
            return None, run
        return (end, k, start), run

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


    def _bisect(self, a, b, i, j, anchored=False):
        """The pieces of a–b (words i–j) where the transcript and the audio disagree, as the planner before
        cut them: at the pause where the pieces come out about equal, anchored against the words near the
        estimate and then against all of the range's words (at most BISECT_MAX_SPAN), which finds the
        cut however far a passage put the estimate off; halves without anchor are cut where the estimate says."""
        if b - a <= self.piece:
            yield self._decided(Piece(a, b, i, j, anchored), b)
            return
        if j - i < 2 * ANCHOR_WORDS + 2:  # too few words to anchor a cut in
            if b - a <= BLIND_FACTOR * self.piece:
                yield self._decided(Piece(a, b, i, j, False), b)
                return
            middle = a + (b - a) // 2
            at = _on_frame((self._pauses_near(a, b, middle) or [middle])[0])
            k = min(j, max(i, self._estimate(a, b, i, j, at)))
            yield from self._bisect(a, at, i, k)
            yield from self._bisect(at, b, k, j)
            return
        count = math.ceil((b - a) / self.piece)
        middle = a + (b - a) * (count // 2) // count
        candidates = self._pauses_near(a, b, middle)
        tried = []
        for center in candidates:
            if len(tried) == MAX_TRIES:
                break
            if any(abs(center - t) < self.window // 2 for t in tried):  # the same window again would fail again
                continue
            tried.append(center)
        spans = [max(MIN_SPAN, int(BISECT_SPAN_SHARE * (j - i)))]
        if spans[0] < j - i <= BISECT_MAX_SPAN:
            spans.append(j - i)
        windows = [(span, center) for span in spans for center in tried]
        for number, (span, center) in enumerate(windows, 1):
            self._searching(f"searching {stretch(a, b)} for where the transcript and the recording agree again",
                            number, len(windows))
            cut = self._anchor_at(a, b, i, j, center, span)
            if cut is not None:
                at, k = cut
                yield from self._bisect(a, at, i, k, True)
                yield from self._bisect(at, b, k, j, True)
                return
        if b - a <= BLIND_FACTOR * self.piece:
            yield self._decided(Piece(a, b, i, j, False), b)
            return
        at = _on_frame(candidates[0] if candidates else middle)
        k = min(j - 1, max(i + 1, self._estimate(a, b, i, j, at)))
        yield from self._bisect(a, at, i, k)
        yield from self._bisect(at, b, k, j)

    def _pauses_near(self, a, b, middle):
        """The middles of the pauses inside a–b (a window's half away from its edges) whose window has speech
        on both sides (one without finds no anchor, and silence costs a decode the most), nearest `middle` first."""
        half = self.window // 2
        centers = [(s + e) // 2 for s, e in self.pauses if a + half <= (s + e) // 2 <= b - half]
        return sorted((c for c in centers if self._speech(c - half, c) * VAD_FRAME >= MIN_WINDOW_SPEECH * SAMPLE_RATE
                       and self._speech(c, c + half) * VAD_FRAME >= MIN_WINDOW_SPEECH * SAMPLE_RATE),
                      key=lambda c: abs(c - middle))

    def _anchor_at(self, a, b, i, j, center, span):
        """(cut sample on the frame grid, first word index after it) at the pause around `center`, or None."""
        estimate = self._estimate(a, b, i, j, center)
        lo, hi = max(i, estimate - span), min(j, estimate + span)
        w0, w1 = max(a, center - self.window // 2), min(b, center + self.window // 2)
        self.windows += 1
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
        at, k = _on_frame(best[0]), best[1]
        if not (i < k < j and a < at < b) or not self._plausible(a, b, i, j, at, k):
            return None
        return at, k


class _Pause:
    """A pause to cut at, and the window decoded around it: WINDOW_SECONDS around its middle; around a long
    pause, the speech on both sides with `keep` of the pause each, joined (the rest of the pause is not decoded)."""

    def __init__(self, s, e, window, keep, long_pause):
        self.long = e - s >= long_pause
        half = window // 2
        if self.long:
            self.parts = [(s + keep - half, s + keep), (e - keep, e - keep + half)]
        else:
            middle = (s + e) // 2
            self.parts = [(middle - half, middle + half)]
        self.junction = half  # samples into the window where the pause's middle (or the join) is
        self.end = _on_frame(s + keep) if self.long else (s + e) // 2  # where the piece before would end
        self.halves = self.parts if self.long else [(self.parts[0][0], s), (e, self.parts[0][1])]

    def cut(self, at):
        """(end of the piece before, start of the piece after) for a cut `at` samples into the window."""
        if self.long:
            return self.end, _on_frame(self.parts[1][0])
        at = _on_frame(self.parts[0][0] + at)
        return at, at


class NoMatch(Exception):
    """Windows in several places of the recording found none of the transcript's words in order."""


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


def stretch(start, end, named=None):
    """"12:30–15:00" of samples start–end (the end rounded up, so a stretch never looks shorter than it is);
    `named` (seconds → text) instead of `clock`, for an utterance's times (see Aligner.align)."""
    named = named or clock
    return f"{named(start / SAMPLE_RATE)}–{named(math.ceil(end / SAMPLE_RATE))}"


def clock(seconds):
    """12:31, or 1:02:05 past an hour."""
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
