"""The aligner's fallback path (issue 12): what it does when PocketSphinx's first try fails.

The word pass first tries the whole transcript strictly; when the decoder finds
no path (seg() is None, "Final result does not match the grammar"), it tries a
tolerant pass in which words may be skipped, also with wider beams; a phone pass
that fails keeps the word alignment with a warning. These tests drive each step
with the real decoder, making it fail on purpose where real audio would not, and
check that what the fallback delivers lies where a clean alignment puts it.
tests/test_aligner_outcomes.py has the outcomes of each kind of bad input.
"""

import statistics

import numpy as np
import pytest

from clamservices.aligner import Aligner, AlignmentError
from clamservices.audio import load_audio
from clamservices.transcripts import words_of
from tests.helpers import DATA
from tests.messy_corpus import SENTENCES, gain, speak_with_digital_silence, tools_missing



@pytest.fixture(scope="module")
def aligner():
    return Aligner()


def sample(stem):
    samples, _ = load_audio(str(DATA / f"{stem}.wav"))
    return samples, words_of((DATA / f"{stem}.txt").read_text())


def as_int16(samples):
    return (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)


def median_ms(intervals, reference):
    return statistics.median(
        abs(a.start - b.start) * 1000 for a, b in zip(intervals, reference, strict=True)
    )


class NoPath:
    """A decoder that finds no path through any grammar, as PocketSphinx does on the audio of issue 12:
    it logs "Final result does not match the grammar" and seg() returns None."""

    def __init__(self, decoder):
        self._decoder = decoder

    def __getattr__(self, name):
        return getattr(self._decoder, name)

    def seg(self):
        return None


def test_clean_speech_with_digital_silence_between_words_aligns(aligner):
    assert not tools_missing(), "bin/ensure-system-packages installs espeak-ng and sox"
    for sentence in SENTENCES[:3]:  # all three failed before issue 12
        samples = as_int16(speak_with_digital_silence(sentence, [0.25, 0.1, 0.45]))
        alignment = aligner.align(samples, words_of(sentence))
        assert [w.label for w in alignment.words] == sentence.split(), sentence
        assert alignment.not_found == [] and alignment.phones, sentence


def test_a_decoder_that_finds_no_path_gives_an_outcome_not_a_crash():
    aligner = Aligner()
    aligner.decoder = NoPath(aligner.decoder)
    aligner._wide = NoPath(aligner._wide_decoder())
    samples, words = sample("cards-001")
    with pytest.raises(AlignmentError) as caught:
        aligner.align(samples, words)
    assert caught.value.code == "no_match"
    assert "its words cannot be found in the audio" in str(caught.value)


def test_wider_beams_are_tried_when_the_first_decoder_finds_no_path():
    aligner = Aligner()
    aligner.decoder = NoPath(aligner.decoder)
    samples, words = sample("cards-002")
    alignment = aligner.align(samples, words)
    assert [w.label for w in alignment.words] == [w.shown for w in words]
    assert alignment.not_found == []
    reference = Aligner().align(samples, words)
    assert median_ms(alignment.words, reference.words) <= 30


def test_words_not_spoken_leave_the_spoken_ones_where_the_correct_transcript_puts_them(aligner):
    # One extra word before the speech: the strict pass can still force it in, onto the audio of the
    # first spoken words, so the fallback must not be reached only when the strict pass fails.
    samples, words = sample("austen-0880")
    reference = aligner.align(samples, words)
    alignment = aligner.align(samples, words_of("yes " + (DATA / "austen-0880.txt").read_text()))
    assert alignment.not_found == ["yes"]
    assert [w.label for w in alignment.words] == [w.shown for w in words]
    assert median_ms(alignment.words, reference.words) <= 30


def test_a_failed_phone_pass_in_one_chunk_keeps_the_phones_of_the_others(aligner, monkeypatch):
    first, first_words = sample("cards-001")
    second, second_words = sample("cards-002")
    pause = (np.random.default_rng(0).standard_normal(16000) * 5).astype(np.int16)
    samples, words = np.concatenate([first, pause, second]), first_words + second_words
    phone_pass = Aligner._phone_pass

    def fails_on_the_first_chunk(self, wide, chunk, keys, *paddings):
        # Also in parts (Aligner._split_phone_pass): a prefix or suffix of the first chunk's words.
        first_keys = [w.key for w in first_words]
        failing = keys == first_keys[: len(keys)] or keys == first_keys[-len(keys) :]
        return None if failing else phone_pass(self, wide, chunk, keys, *paddings)

    monkeypatch.setattr(Aligner, "_phone_pass", fails_on_the_first_chunk)
    alignment = aligner.align(samples, words, chunk_seconds=2)
    assert [w.label for w in alignment.words] == [w.shown for w in words]
    start_of_second = alignment.words[len(first_words)].start
    assert alignment.phones and all(p.start >= start_of_second - 0.01 for p in alignment.phones)
    (warning,) = alignment.warnings
    assert warning.startswith("no phone alignment for 0.0–")


def test_a_very_quiet_recording_aligns_where_the_original_does(aligner):
    samples, words = sample("cards-002")
    quiet = as_int16(gain(samples / 32768, -40))
    reference = aligner.align(samples, words)
    alignment = aligner.align(quiet, words)
    assert [w.label for w in alignment.words] == [w.shown for w in words]
    assert median_ms(alignment.words, reference.words) <= 30
