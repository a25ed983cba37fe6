"""Confidence of aligned words and phones: a goodness-of-pronunciation (GOP) score mapped to 0–1.

What it measures (Witt & Young's GOP, as pronunciation-training tools use it): how much worse the
acoustic model finds the aligned phone than the best sequence of any phones over the same frames.
For each phone the phone pass placed (clamservices.aligner, `_phone_pass`), the same decoder also
decodes the same audio with a free phone loop (PocketSphinx's allphone search: any phone may follow
any other, no language model). A phone's GOP is

    (its acoustic score in the alignment − the loop's acoustic score over its frames) / its frames

in PocketSphinx's integer log scale per 10 ms frame: 0 when the loop finds nothing better than the
transcript's phone, strongly negative when other phones fit those frames much better (a wrong word,
a mispronunciation, noise, or a boundary in the wrong place). A word's GOP is that of its phones
together (their differences summed over their frames). Because it is a ratio against what the same
model finds in the same audio, a loud or quiet, clean or noisy recording does not shift it the way
the raw acoustic score (clamservices.aligner.confidence) shifts.

GOP becomes a confidence by a logistic function, `to_confidence`, with MIDPOINT and SCALE fitted on
generated speech (tests/benchmarks/confidence.py: correct words against words replaced by other
words in the transcript, several espeak-ng voices): 0.5 at MIDPOINT, and LOW (the threshold pages
mark words below) well inside where replaced words lie. It is not a calibrated probability of being
right; it orders words by how well they fit, comparably across recordings of one aligner.

The loop's score over a phone's frames is read from the loop's own segments, each spread evenly
over its frames (a loop segment that straddles a phone edge gives each side its share). The loop
decodes each chunk the phone pass decodes, with the phone pass's cheaper decoder (every second
frame's Gaussians, see PHONE_PASS_OPTIONS), so it costs about one more decode of the audio.
"""

import logging
import math

import numpy as np

log = logging.getLogger(__name__)

LOOP_SEARCH = "confidence_loop"
# Fitted on tests/benchmarks/confidence.py's development voices (see the module docstring).
MIDPOINT = -40.0
SCALE = 8.0
LOW = 0.5  # confidence below this: a word to check (pages mark it; docs/users/alignment.md says so)


def to_confidence(gop):
    """0–1 from a GOP per frame (≤ 0 mostly): 1 / (1 + exp(−(gop − MIDPOINT) / SCALE))."""
    return 1.0 / (1.0 + math.exp(-max(-500.0, min(500.0, (gop - MIDPOINT) / SCALE))))


def loop_scores(decoder, samples, frames):
    """The free phone loop's acoustic score per frame of `samples` (an array of `frames` values), or None
    when the loop search fails (the phones then get no confidence rather than a made-up one)."""
    try:
        try:
            decoder.activate_search(LOOP_SEARCH)
        except KeyError:  # the first loop on this decoder
            decoder.add_allphone_file(LOOP_SEARCH, None)
            decoder.activate_search(LOOP_SEARCH)
        decoder.start_utt()
        try:
            decoder.process_raw(samples.tobytes(), full_utt=True)
        finally:
            decoder.end_utt()
        segments = list(decoder.seg() or [])
    except (RuntimeError, ValueError) as exc:
        log.info("phone loop for confidence failed: %s", exc)
        return None
    scores = np.zeros(frames)
    ln_base = decoder.logmath.log_to_ln(1)
    for segment in segments:
        first, last = max(0, segment.start_frame), min(frames - 1, segment.end_frame)
        if last < first:
            continue
        score = math.log(max(segment.ascore, 1e-300)) / ln_base  # back to the integer scale of get_alignment()
        scores[first : last + 1] = score / (segment.end_frame - segment.start_frame + 1)
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


def word_gop(phones):
    """The GOP of a word from its phones' [(gop or None, frames)]: their differences over their frames."""
    known = [(g, n) for g, n in phones if g is not None and n > 0]
    if not known:
        return None
    return sum(g * n for g, n in known) / sum(n for _, n in known)
