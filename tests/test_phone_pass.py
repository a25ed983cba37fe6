"""The phone pass (issue 16): phones from cheaper decoders, word edges from the word pass.

The phone pass decodes each chunk twice (the strict pass again, then the state
alignment), so its decoders evaluate the acoustic model more cheaply than the
word pass's (aligner.PHONE_PASS_OPTIONS). Word edges decoded that way would be
less exact, so a word keeps the edges its word pass found and the phone pass
only places its phones inside them. Real decoders and real speech throughout.
"""

import dataclasses

import pytest

from clamservices import aligner as aligner_module
from clamservices.aligner import FLAT, FRAME_RATE, Aligner, Interval, confidence, normalised, with_noise_floor
from clamservices.audio import load_audio
from clamservices.transcripts import words_of
from tests.helpers import DATA


@pytest.fixture(scope="module")
def aligner():
    return Aligner()


def phone_passes(aligner, stem, flat_first):
    """(the word pass's word intervals, and the phone pass's words, phones and failed stretches) of a sample."""
    raw, _ = load_audio(str(DATA / f"{stem}.wav"))
    words = words_of((DATA / f"{stem}.txt").read_text())
    samples = with_noise_floor(normalised(raw))
    wide_found, found = aligner._word_pass(samples, [w.key for w in words])
    word_interval = {
        i: Interval(s.start_frame / FRAME_RATE, (s.end_frame + 1) / FRAME_RATE, words[i].shown, confidence(s))
        for i, s in found
    }
    result = aligner._phone_passes(raw, samples, words, found, wide_found, word_interval, 20.0,
                                   lambda fraction: None, flat_first=flat_first)
    return [word_interval[i] for i, _ in found], *result


# flat_first: the FLAT decoder first, as a long recording's pieces do (Aligner.align_piece).
@pytest.mark.parametrize("flat_first", [False, True])
@pytest.mark.parametrize("stem", ["austen-0880", "cards-002"])
def test_words_keep_the_word_pass_edges_and_their_phones_fill_them(aligner, stem, flat_first):
    expected, words, phones, failed = phone_passes(aligner, stem, flat_first)
    assert failed == []
    # The phone pass adds each word's confidence (clamservices.confidence); its edges stay the word pass's.
    assert [dataclasses.replace(w, confidence=None) for w in words] == expected
    for word in words:
        inside = [p for p in phones if word.start <= p.start < word.end]
        assert inside, word
        assert inside[0].start == word.start and inside[-1].end == word.end, word
        assert all(a.end == b.start for a, b in zip(inside, inside[1:])), word
    assert len(phones) == sum(len([p for p in phones if w.start <= p.start < w.end]) for w in words)


def test_the_phone_pass_evaluates_the_acoustic_model_more_cheaply_than_the_word_pass():
    aligner = Aligner()
    options = aligner_module.PHONE_PASS_OPTIONS
    assert options["ds"] > 1 and options["topn"] < aligner.decoder.config["topn"]
    for wide in (False, FLAT):
        decoder = aligner._phone_decoder(wide)
        assert decoder is not aligner.decoder
        assert {key: decoder.config[key] for key in options} == options
    assert aligner.decoder.config["ds"] == 1
