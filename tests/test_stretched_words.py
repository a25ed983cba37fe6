"""A transcript that leaves out a passage in the middle of a recording: the aligner smears the next words over
it, and must say so with times (clamservices.aligner.stretched_words). Real aligner on espeak-ng speech."""

import re

import numpy as np
import pytest

from clamservices.aligner import Aligner
from clamservices.transcripts import words_of
from tests.long_speech import recording, sentences, speak
from tests.messy_corpus import tools_missing

pytestmark = pytest.mark.skipif(bool(tools_missing()), reason="needs espeak-ng and sox (bin/ensure-system-packages)")

STRETCHED = re.compile(r"“\w+”(?: … “\w+”)? \((\d+):(\d\d)–(\d+):(\d\d)\) (?:is|are) stretched over (\d+) s of "
                       r"speech: the transcript may leave out what is said there; check the transcript")


@pytest.fixture(scope="module")
def speech():
    return recording(126, seed=5)


def _stretched(alignment):
    return [m for m in map(STRETCHED.fullmatch, alignment.warnings) if m]


def test_a_passage_left_out_in_the_middle_is_named_with_its_times(speech):
    # Sentences 13–18 (0:40–1:01) left out: the words after them were placed over them, with only
    # "could not be placed" and "fit poorly" warnings that did not name the passage.
    samples, texts, spans = speech
    kept = [t for n, t in enumerate(texts) if not 12 <= n < 18]
    alignment = Aligner().align(samples, words_of(" ".join(kept)), phones=False)
    found = _stretched(alignment)
    assert len(found) == 1, alignment.warnings
    start = int(found[0].group(1)) * 60 + int(found[0].group(2))
    end = int(found[0].group(3)) * 60 + int(found[0].group(4))
    assert abs(start - spans[12][0]) <= 4 and abs(end - spans[17][1]) <= 4, (found[0].group(0), spans[12], spans[17])
    assert int(found[0].group(5)) >= 10


def test_the_same_recording_with_its_whole_transcript_has_no_such_warning(speech):
    samples, texts, _ = speech
    alignment = Aligner().align(samples, words_of(" ".join(texts)), phones=False)
    assert alignment.words and not _stretched(alignment), alignment.warnings


def test_slow_speech_with_long_pauses_has_no_such_warning():
    # espeak-ng -s 100 (about 7 phones a second) with pauses of 1–4 s: pauses are not speech, so they do not count.
    texts = sentences(12, seed=3)
    rng = np.random.default_rng(1)
    pieces = []
    for text in texts:
        pieces += [speak(text, 100), np.zeros(int(rng.uniform(1.0, 4.0) * 16000), dtype=np.float32)]
    audio = np.concatenate(pieces)
    audio += np.random.default_rng(2).normal(0, 0.002, len(audio)).astype(np.float32)
    samples = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
    alignment = Aligner().align(samples, words_of(" ".join(texts)), phones=True)
    assert len(alignment.words) >= 0.9 * len(words_of(" ".join(texts))) and not _stretched(alignment), alignment.warnings

