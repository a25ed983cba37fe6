"""Confidence of aligned words and phones: a goodness-of-pronunciation (GOP) score mapped to 0–1.

What it measures (Witt & Young's GOP, as pronunciation-training tools use it): how much worse the
acoustic model finds the aligned phone than the best sequence of any phones over the same frames.
For each chunk the phone pass aligned (clamservices.aligner, `_phone_pass`), the same audio is also
decoded with a free phone loop (PocketSphinx's allphone search: any phone may follow any other, no
language model). A phone's GOP is

    (its acoustic score in the alignment − the loop's acoustic score over its frames) / its frames

in PocketSphinx's integer log scale per 10 ms frame: high when the loop finds nothing better than
the transcript's phone, strongly negative when other phones fit those frames much better (a wrong
word, a mispronunciation, noise, or a boundary in the wrong place). Because it is a ratio against
what the model finds in the same audio, a loud or quiet, clean or noisy recording shifts it less
than the raw acoustic score (clamservices.aligner.confidence). The loop runs on a far cheaper
decoder than the alignment (LOOP_OPTIONS), whose scores are lower, so a GOP is mostly above 0: its
scale is set by the fitted constants below, not by 0.

A phone's confidence is a logistic function of its GOP (`to_confidence`); a word's, of the mean of
its phones' GOP together with the word pass's score of the word (`word_confidence`), with constants
fitted on generated speech (tests/benchmarks/confidence.py: right words against words replaced by
other words in the transcript, several espeak-ng voices). 0.5 is where right and wrong words are
told apart with equal errors; pages mark words below LOW. It is not a calibrated probability of
being right: it orders words by how well they fit, comparably across recordings of this aligner.

The loop's score over a phone's frames is read from the loop's own segments, each spread evenly
over its frames (a loop segment that straddles a phone edge gives each side its share). It decodes
each chunk the phone pass decodes (with the same padding), on a decoder of its own, one per process.
Nothing of the loop bounds its time but the audio's length: it is one Viterbi pass over a fixed
phone network, without the grammar searches that can stall.
"""

import functools
import logging
import math
import os

import numpy as np
from pocketsphinx import Decoder

from clamservices.audio import SAMPLE_RATE

log = logging.getLogger(__name__)

FRAME_RATE = 100  # the aligner's frames per second
LOOP_SEARCH = "confidence_loop"
# The loop's own decoder evaluates the acoustic model far more cheaply than the phone pass: a frame every
# 20 ms (frate), its Gaussians every fourth of those (ds), the best one of each codebook (topn). Measured on
# the 20 s of tests/data, CPU per second of audio: 0.016 with the phone pass's decoder, 0.0083 at ds 4,
# 0.0038 like this; the benchmark's AUC is in docs/performance.md.
LOOP_OPTIONS = {"frate": 50, "ds": 4, "topn": 1}
# Fitted on tests/benchmarks/confidence.py's development set (the held-out voices were not used to choose):
# a word's value is the mean of its phones' GOP plus WORD_SCORE_WEIGHT times the word pass's own score of it
# (clamservices.aligner.confidence: log-likelihood per frame against the best state PocketSphinx kept), which
# separated replaced words better together than either alone (AUC 0.969 against 0.909 and 0.958 on the
# development set; 0.926 against 0.903 and 0.884 held out). WORD_MIDPOINT is where as many right words fall
# below as wrong ones above (8 %); SCALE puts the right words' median near 0.9 and the wrong ones' near 0.05.
WORD_SCORE_WEIGHT = 20.0
WORD_MIDPOINT = -70.0
WORD_SCALE = 20.0
# Phones have no ground truth of their own here: their constants put the right words' median phone near 0.9
# and the replaced words' near 0.2.
PHONE_MIDPOINT = -20.0
PHONE_SCALE = 15.0
LOW = 0.5  # confidence below this: a word to check (pages mark it; docs/users/alignment.md says so)


def to_confidence(value, midpoint=PHONE_MIDPOINT, scale=PHONE_SCALE):
    """0–1 from a GOP value: 1 / (1 + exp(−(value − midpoint) / scale)); 0.5 at the midpoint."""
    return 1.0 / (1.0 + math.exp(-max(-500.0, min(500.0, (value - midpoint) / scale))))


def word_confidence(phone_gops, word_score):
    """0–1 of a word from its phones' [GOP or None] and the word pass's score of it (see WORD_SCORE_WEIGHT),
    or None when no phone has a GOP."""
    known = [g for g in phone_gops if g is not None]
    if not known:
        return None
    return to_confidence(sum(known) / len(known) + WORD_SCORE_WEIGHT * word_score, WORD_MIDPOINT, WORD_SCALE)


@functools.cache
def _loop_decoder():
    """The phone loop's decoder (one per process; made when first needed): see LOOP_OPTIONS."""
    decoder = Decoder(samprate=SAMPLE_RATE, loglevel="ERROR", cmn="batch", lm=None, dict=os.devnull, **LOOP_OPTIONS)
    decoder.add_allphone_file(LOOP_SEARCH, None)
    decoder.activate_search(LOOP_SEARCH)
    return decoder


def loop_scores(samples, frames):
    """The free phone loop's acoustic score per 10 ms frame of `samples` (an array of `frames` values), or None
    when the loop search fails (the phones then get no confidence rather than a made-up one)."""
    decoder = _loop_decoder()
    try:
        decoder.start_utt()
        try:
            decoder.process_raw(samples.tobytes(), full_utt=True)
        finally:
            decoder.end_utt()
        segments = list(decoder.seg() or [])
    except (RuntimeError, ValueError) as exc:
        log.info("phone loop for confidence failed: %s", exc)
        _loop_decoder.cache_clear()  # as the aligner renews its decoders after a failure
        return None
    scores = np.zeros(frames)
    ln_base = decoder.logmath.log_to_ln(1)
    step = FRAME_RATE // LOOP_OPTIONS["frate"]  # 10 ms frames per loop frame
    for segment in segments:
        length = segment.end_frame - segment.start_frame + 1
        # Per loop frame, on each of its 10 ms frames: what one frame of the alignment's score compares with.
        score = math.log(max(segment.ascore, 1e-300)) / ln_base / length
        first, last = max(0, segment.start_frame * step), min(frames, (segment.end_frame + 1) * step)
        if last > first:
            scores[first:last] = score
    return scores


def phone_gops(aligned_phones, loop):
    """[GOP or None] of [(phone, start frame, end frame (exclusive), alignment score)], given `loop` (loop_scores)."""
    result = []
    for _, start, end, score in aligned_phones:
        frames = end - start
        if loop is None or frames <= 0 or start < 0 or end > len(loop):
            result.append(None)
        else:
            result.append((score - float(loop[start:end].sum())) / frames)
    return result
