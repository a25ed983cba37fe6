"""Forced alignment with PocketSphinx: word and phone intervals for one recording.

Memory of PocketSphinx's phone pass grows with the length of what it aligns
(a 5-minute file in one piece needs gigabytes), so after a word pass over the
whole file the phone pass runs per chunk of at most `chunk_seconds`, cut in
the middle of silences that the word pass found. One decoder is reused for
every chunk and every file of a job.
"""

import logging
from dataclasses import dataclass

import numpy as np
from pocketsphinx import Decoder

from clamservices.audio import SAMPLE_RATE

log = logging.getLogger(__name__)

FRAME_RATE = 100  # PocketSphinx frames per second
SAMPLES_PER_FRAME = SAMPLE_RATE // FRAME_RATE
MIN_CUT_SILENCE_FRAMES = 15  # only cut chunks at pauses of 150 ms or more
# PocketSphinx's phone pass sometimes fails on audio that starts or ends right
# at speech ("Alignment failed in frame N"); padding with silence fixes that.
PHONE_PASS_PADDING_SECONDS = (0.0, 0.1, 0.25, 0.5)


class AlignmentError(RuntimeError):
    """The recording could not be aligned with its transcript."""


@dataclass(frozen=True)
class Interval:
    start: float
    end: float
    label: str
    score: float = 0.0


@dataclass
class Alignment:
    words: list  # [Interval], only the words (silences are the gaps)
    phones: list  # [Interval], only the phones


def _base_word(name):
    return name.split("(", 1)[0]


class Aligner:
    def __init__(self):
        self.decoder = Decoder(samprate=SAMPLE_RATE, loglevel="ERROR")

    def is_known(self, word):
        return self.decoder.lookup_word(word) is not None

    def add_entries(self, entries):
        """Add dictionary entries; words already known get them as alternates."""
        counts = {}
        for index, entry in enumerate(entries):
            number = counts.get(entry.word, 1)
            name = entry.word
            while self.decoder.lookup_word(name) is not None:
                number += 1
                name = f"{entry.word}({number})"
            counts[entry.word] = number
            # Rebuilding the search after each word is slow: only after the last.
            self.decoder.add_word(name, " ".join(entry.phones), index == len(entries) - 1)

    def _decode(self, samples):
        self.decoder.start_utt()
        self.decoder.process_raw(samples.tobytes(), full_utt=True)
        self.decoder.end_utt()

    def _word_pass(self, samples, keys):
        self.decoder.set_align_text(" ".join(keys))
        self._decode(samples)
        segments = [s for s in self.decoder.seg() if not s.word.startswith(("<", "["))]
        if [_base_word(s.word) for s in segments] != list(keys):
            raise AlignmentError("the audio could not be matched with the transcript")
        return segments

    def _chunks(self, segments, chunk_frames):
        """Lists of segment indexes, cut in the middle of pauses so a chunk stays short."""
        chunks, current, chunk_start = [], [], 0
        for i, segment in enumerate(segments):
            current.append(i)
            following = segments[i + 1] if i + 1 < len(segments) else None
            if following is None:
                break
            pause = following.start_frame - segment.end_frame
            too_long = following.end_frame - chunk_start > chunk_frames
            if pause >= MIN_CUT_SILENCE_FRAMES and too_long:
                cut = segment.end_frame + pause // 2
                chunks.append((chunk_start, cut, current))
                current, chunk_start = [], cut
        chunks.append((chunk_start, None, current))
        return chunks

    def _phone_pass(self, chunk, keys):
        """[(word name, start frame, [(phone, start frame, end frame)])] of one chunk, in chunk frames."""
        failure = None
        for pad_seconds in PHONE_PASS_PADDING_SECONDS:
            pad = int(pad_seconds * FRAME_RATE)
            silence = np.zeros(pad * SAMPLES_PER_FRAME, dtype=np.int16)
            padded = np.concatenate([silence, chunk, silence]) if pad else chunk
            try:
                self._word_pass(padded, keys)
                self.decoder.set_alignment()
                self._decode(padded)
                aligned = self.decoder.get_alignment()
            except (RuntimeError, AlignmentError) as exc:
                failure = exc
                continue
            return [
                (
                    word.name,
                    [(phone.name, phone.start - pad, phone.start + phone.duration - pad) for phone in word],
                )
                for word in aligned
                if not word.name.startswith(("<", "["))
            ]
        raise AlignmentError(f"phone alignment failed ({failure})")

    def align(self, samples, words, *, phones=True, chunk_seconds=20.0):
        """Word (and phone) intervals of `words` (transcripts.Word) spoken in `samples`."""
        words = list(words)
        if not words:
            raise AlignmentError("the transcript has no words")
        keys = [w.key for w in words]
        total_frames = len(samples) // SAMPLES_PER_FRAME
        try:
            segments = self._word_pass(samples, keys)
        except RuntimeError as exc:
            raise AlignmentError(f"the audio could not be matched with the transcript ({exc})") from None
        scores = [s.prob for s in segments]
        if not phones:
            return Alignment(
                words=[
                    Interval(s.start_frame / FRAME_RATE, (s.end_frame + 1) / FRAME_RATE, words[i].shown, s.prob)
                    for i, s in enumerate(segments)
                ],
                phones=[],
            )

        word_intervals, phone_intervals = [], []
        for start, end, indexes in self._chunks(segments, int(chunk_seconds * FRAME_RATE)):
            end = total_frames if end is None else end
            chunk = samples[start * SAMPLES_PER_FRAME : end * SAMPLES_PER_FRAME]
            try:
                aligned = self._phone_pass(chunk, [keys[i] for i in indexes])
            except AlignmentError as exc:
                raise AlignmentError(f"near {start / FRAME_RATE:.1f} s: {exc}") from None
            for i, (_, word_phones) in zip(indexes, aligned):
                frames = [(p_start + start, p_end + start) for _, p_start, p_end in word_phones]
                word_intervals.append(
                    Interval(frames[0][0] / FRAME_RATE, frames[-1][1] / FRAME_RATE, words[i].shown, scores[i])
                )
                for (name, _, _), (p_start, p_end) in zip(word_phones, frames):
                    phone_intervals.append(Interval(p_start / FRAME_RATE, p_end / FRAME_RATE, name))
        return Alignment(words=word_intervals, phones=phone_intervals)
