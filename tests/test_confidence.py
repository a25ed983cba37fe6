"""Confidence per word and phone (issue 17, item 2): the bundled aligner's GOP score, in the TextGrid and exports.

Real aligner on espeak-ng speech (tests/long_speech.py); nothing is mocked.
"""

import numpy as np
import pytest

from clamservices import confidence as goodness
from clamservices.aligner import Aligner
from clamservices.textgrids import write_textgrid
from clamservices.transcripts import words_of
from pipelines import exports
from tests.long_speech import speak
from tests.messy_corpus import tools_missing

pytestmark = pytest.mark.skipif(bool(tools_missing()), reason="needs espeak-ng and sox (bin/ensure-system-packages)")

SENTENCE = "the farmer painted a green boat near the river before dinner"


@pytest.fixture(scope="module")
def spoken():
    speech = (speak(SENTENCE, 160) * 32767).astype(np.int16)
    pause = np.zeros(3000, dtype=np.int16)
    return np.concatenate([pause, speech, pause])


@pytest.fixture(scope="module")
def aligner():
    return Aligner()


def test_every_aligned_word_and_phone_gets_a_confidence_between_0_and_1(aligner, spoken):
    alignment = aligner.align(spoken, words_of(SENTENCE))

    assert [w.label for w in alignment.words] == SENTENCE.split()
    values = [i.confidence for i in alignment.words + alignment.phones]
    assert all(v is not None and 0 <= v <= 1 for v in values)
    # The right transcript: every word fits well.
    assert min(w.confidence for w in alignment.words) >= goodness.LOW


def test_a_word_replaced_by_a_wrong_one_gets_one_of_the_lowest_confidences_in_its_file(aligner, spoken):
    wrong = SENTENCE.replace("green", "yellow")

    alignment = aligner.align(spoken, words_of(wrong))

    ranked = sorted(alignment.words, key=lambda w: w.confidence)
    assert "yellow" in [w.label for w in ranked[:2]]


def test_the_textgrid_carries_confidence_tiers_that_the_exports_read(aligner, spoken, tmp_path):
    alignment = aligner.align(spoken, words_of(SENTENCE))
    path = tmp_path / "farmer.TextGrid"

    write_textgrid(path, alignment, len(spoken) / 16000)
    result = exports.read_result(path, recording="farmer.wav", result="farmer.TextGrid")

    assert [t.name for t in result.tiers] == ["words", "phones"]
    words = result.words()
    assert [w.span.label for w in words] == SENTENCE.split()
    assert [w.span.confidence for w in words] == [round(w.confidence, 3) for w in alignment.words]
    assert any(w.phones for w in words)  # else the line below would check nothing
    assert all(p.confidence is not None for w in words for p in w.phones)


def test_a_textgrid_without_phone_pass_has_no_confidence_tier(aligner, spoken, tmp_path):
    alignment = aligner.align(spoken, words_of(SENTENCE), phones=False)
    path = tmp_path / "farmer.TextGrid"

    write_textgrid(path, alignment, len(spoken) / 16000, phones=False)

    assert "confidence" not in path.read_text()


def test_confidence_is_a_logistic_of_gop_with_its_midpoint_at_one_half():
    assert goodness.to_confidence(goodness.PHONE_MIDPOINT) == 0.5
    assert goodness.to_confidence(40.0) > 0.95
    assert goodness.to_confidence(-1e9) == pytest.approx(0.0)
    # A word: the mean of its phones' GOP plus the weighted word-pass score, at the word's midpoint here.
    assert goodness.word_confidence([None, -10.0, -30.0], (goodness.WORD_MIDPOINT + 20.0) / goodness.WORD_SCORE_WEIGHT) \
        == pytest.approx(0.5)
    assert goodness.word_confidence([None], -1.0) is None
