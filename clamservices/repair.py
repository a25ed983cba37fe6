"""A repair pass for a long recording's runs of words that its pieces could not place.

A piece cut blindly (clamservices.longaudio: a range of the recording without
an anchor, as a passage added to or missing from the transcript makes it)
loses the words on the wrong side of its cut, and a piece whose words do not
match its audio loses all of them: a trial lost about 620 correctly
transcribed words around an added paragraph of 146. After the pieces are
put together, each run of unplaced words is therefore aligned again against
the audio between the well-fitting words around it, as long-audio aligners
do (Moreno et al. 1998; the MAUS chunker), iterating while it places more:

1. a run ends only at ANCHOR_WORDS (of the planning: 3) well-fitting words in
   a row; the words found inside it (mostly chance finds of short words in
   audio that is not theirs) are aligned again with the missing ones;
2. a gap (words i–j, audio between its placed neighbours) is decoded at both
   ends: a window of at most WINDOW_SECONDS from its start, in a grammar that
   starts at its first word and may stop after any, and a window of at most
   RIGHT_WINDOW_SECONDS to its end, in one that may start at any word and
   ends at its last; each with the words that can be spoken in it, any of
   them skipped and spoken noise between them. An end whose words are not
   spoken there (a passage added to the transcript), or whose audio is not in
   the transcript (a passage missing from it), finds nothing, and the other
   end goes on. (The planning's grammar, which may both start and stop
   anywhere, forced an added passage's words onto the speech in a test with
   sentences of the same words.) A gap of at most FEW_WORDS words and seconds
   is aligned strictly instead, all its words or none;
3. only runs of ANCHOR_WORDS (here 5) well-fitting words in order are taken,
   not in a window's far margin (where words are cut), and without the run's
   end towards the window's open side; they split the gap, and the gaps left
   are decoded again, up to a number of decodes and MAX_DECODED_FACTOR times
   the gap's audio (_Budget), so a run that cannot be placed stops soon;
4. the words placed get the phone pass and boundary refinement every word
   gets (`Aligner._phone_passes`, clamservices.boundaries), in islands of
   neighbouring words of at most ISLAND_SECONDS.

Every decode reads only its window of the recording (`samples[a:b]`), so the
pass holds at most an island's audio (ISLAND_SECONDS) whatever the run's length.
"""

import bisect
import dataclasses
import logging
import math
from dataclasses import dataclass

from clamservices import aligner as aligning
from clamservices import longaudio
from clamservices.audio import SAMPLE_RATE
from clamservices.boundaries import refine_boundaries

log = logging.getLogger(__name__)

FRAME_RATE = 100
SAMPLES_PER_FRAME = SAMPLE_RATE // FRAME_RATE
WINDOW_SECONDS = 20.0
# The window that starts at a gap's end is shorter: an entry anywhere into many words that are not
# spoken there (an added passage) made PocketSphinx force them onto the audio of 20 s windows.
RIGHT_WINDOW_SECONDS = 8.0
SHORT_RIGHT_SECONDS = 4.0  # the right window tried again when neither end placed anything (see `place`)
MARGIN_SECONDS = 0.3  # of the neighbours' audio around a gap: their edges are not exact
# Words given to a one-sided window: more than anyone speaks in it (read speech is about 3 a second),
# so that the words spoken there are among them; more would make the decode slower.
WORDS_PER_SECOND = 5.0
SLOW_WORDS_PER_SECOND = 2.0
# Words taken only in runs of this many, found in order and fitting well: runs of 3 were found by chance
# in a passage added to the transcript (sentences of the same words as the recording's).
ANCHOR_WORDS = 5
MAX_PASSES = 12  # decodes per run, at least; more for a longer one (see _budget)
MAX_DECODED_FACTOR = 3  # audio decoded per run, in lengths of the run's audio (and at least a window's)
FEW_WORDS = 4  # a gap of at most this many words (and seconds) is aligned strictly, all or none
EDGE_TOLERANCE = 5  # frames
EDGE_PROBABILITY = 0.05  # of leaving a one-sided window's grammar after a word (or entering it before one)
ISLAND_SECONDS = 60.0  # words placed in one phone pass at most (longer islands are cut between words)
ISLAND_PAUSE_SECONDS = 0.3  # audio around an island given to its phone pass, where there is room
SEARCH_SHARE = 0.8  # of the repair's progress: the decodes that place words; the rest, their phone passes


@dataclass
class Gap:
    first: int  # word indexes, end exclusive
    last: int
    start: int  # frames of the whole recording: end of the placed word before, start of the one after
    end: int


def runs(words, found, confidence, low, total_frames):
    """[Gap] of the runs of words to place again: each with a word not found, bounded by ANCHOR_WORDS
    well-fitting words in a row (or the recording's edges)."""
    by_index = dict(found)
    sure = [i in by_index and confidence(by_index[i]) >= low for i in range(len(words))]
    gaps, i = [], 0
    while i < len(words):
        if sure[i] and _anchored(sure, i):
            i += 1
            continue
        first = i
        while i < len(words) and not (sure[i] and _anchored(sure, i)):
            i += 1
        if any(k not in by_index for k in range(first, i)):
            start = by_index[first - 1].end_frame + 1 if first > 0 else 0
            end = by_index[i].start_frame if i < len(words) else total_frames
            gaps.append(Gap(first, i, start, end))
    return gaps


def _anchored(sure, i):
    """Word i is in a run of ANCHOR_WORDS well-fitting words in a row."""
    n = longaudio.ANCHOR_WORDS
    return any(all(sure[k] for k in range(s, s + n)) for s in range(max(0, i - n + 1), min(i, len(sure) - n) + 1))


def place(aligner, samples, keys, gap, prepare, total_frames, budget=None):
    """{word index: Segment in frames of the whole recording} of the gap's words that could be placed
    (with at most `budget`'s decodes: by default the gap's own `budget_of`)."""
    placed = {}
    window = int(WINDOW_SECONDS * FRAME_RATE)
    margin = int(MARGIN_SECONDS * FRAME_RATE)
    right_window = int(RIGHT_WINDOW_SECONDS * FRAME_RATE)
    short = int(SHORT_RIGHT_SECONDS * FRAME_RATE)
    budget = budget or budget_of(gap)
    queue = [gap]
    while queue and budget.left():
        g = queue.pop()
        if g.last <= g.first or g.end - g.start < 10:  # no words, or no room for one (100 ms)
            continue
        if g.last - g.first <= FEW_WORDS and (g.end - g.start) <= FEW_WORDS * FRAME_RATE + 2 * margin:
            # A few words left between placed ones (most often a short word the windows found only in
            # part): all of them in order, or none.
            if budget.spend(g.end - g.start):
                segments = aligner._strict_pass(aligner.decoder, prepare(g.start * SAMPLES_PER_FRAME,
                                                                         g.end * SAMPLES_PER_FRAME), keys[g.first:g.last])
                if segments and all(aligning.confidence(s) >= aligning.LOW_CONFIDENCE for s in segments):
                    placed.update((g.first + n, longaudio.Segment.of(s, g.start)) for n, s in enumerate(segments))
            continue
        # Both ends: an end whose words are not spoken there (a passage added to the transcript), or
        # whose audio is not in the transcript, finds nothing, and the other end goes on.
        # No longer than the words need at a slow pace: audio that is not in the transcript (a passage
        # missing from it) after them made the words spread over it.
        length = min(window, g.end - g.start,
                     max(right_window, math.ceil((g.last - g.first) / SLOW_WORDS_PER_SECOND * FRAME_RATE)))
        right = min(right_window, g.end - g.start)
        tries = [(g.start - margin, g.start + length + (margin if length < window else 0),
                  g.first, min(g.last, g.first + _words(length)), "left", length >= window),
                 (g.end - right - (margin if right < right_window else 0), g.end + margin,
                  max(g.first, g.last - _words(right)), g.last, "right", right >= right_window)]
        accepted = {}
        for a, b, first, last, side, cut_off in tries:  # (a shorter right window may be appended)
            if not budget.spend(b - a):
                break
            a, b = max(0, a), min(total_frames, b)
            # Only where the window has the gap's audio, and not in a one-sided window's far margin
            # (`cut_off`: the window ends inside the gap), where its words are cut.
            lo = max(g.start, a + margin) if side == "right" and cut_off else g.start
            hi = min(g.end, b - margin) if side == "left" and cut_off else g.end
            found = _edge_pass(aligner, prepare(a * SAMPLES_PER_FRAME, b * SAMPLES_PER_FRAME), keys[first:last], side)
            found = [(first + p, longaudio.Segment.of(s, a)) for p, s in found]
            log.debug("repair %s window %d-%d, words %d-%d: %s", side, a, b, first, last, [i for i, _ in found])
            # The neighbours' edges are not exact to a frame or two: a word reaching into them a little is clipped.
            found = [(i, dataclasses.replace(s, start_frame=max(s.start_frame, lo), end_frame=min(s.end_frame, hi - 1)))
                     for i, s in found if lo - EDGE_TOLERANCE <= s.start_frame and s.end_frame < hi + EDGE_TOLERANCE
                     and min(s.end_frame, hi - 1) - max(s.start_frame, lo) >= 2]
            new = _anchors(found, min(ANCHOR_WORDS, g.last - g.first), side, g)
            if new and _in_order({**accepted, **new}):
                accepted.update(new)
            elif side == "right" and not accepted and len(tries) == 2 and right > short:
                # Nothing at either end: once more with a right window that starts later, in the speech
                # the words belong to. A window that starts in speech that is not its words' (a passage
                # missing from the transcript, or an added one's neighbours) found its words in a fresh
                # decoder and lost them in one that had decoded another window before (measured: the
                # same 8 s, 17 of 17 words vs 4), so the outcome there is a matter of chance.
                tries.append((g.end - short, g.end + margin, max(g.first, g.last - _words(short)), g.last, "right", True))
        if accepted:
            placed.update(accepted)
            queue += _split(g, accepted)
    return placed


def _words(frames):
    """How many words a window of `frames` is given: more than anyone speaks in it."""
    return max(ANCHOR_WORDS, math.ceil(WORDS_PER_SECOND * frames / FRAME_RATE))


def _edge_pass(aligner, samples, keys, side):
    """[(position in keys, segment)] of the well-fitting words found in `samples` by a tolerant grammar that
    starts at the first of `keys` and may stop after any ("left"), or may start at any and ends at the last
    ("right"); spoken noise fills what is not theirs.

    The planning's grammar, which may do both, placed an added passage's words on the speech after it
    in a test (sentences of the same words), where the first words of the run were spoken at its start.
    """
    aligner._include(keys)
    count = len(keys)
    outer = count + 1
    transitions = [(outer, outer, longaudio.ENTRY_GARBAGE, aligning.GARBAGE_WORD),
                   (count, count, aligning.GARBAGE_PROBABILITY, aligning.GARBAGE_WORD)]
    for i, key in enumerate(keys):
        transitions += [(i, i + 1, 1.0 - aligning.SKIP_PROBABILITY, key), (i, i + 1, aligning.SKIP_PROBABILITY),
                        (i, i, aligning.GARBAGE_PROBABILITY, aligning.GARBAGE_WORD)]
    for i in range(1, count):
        transitions.append((i, outer, EDGE_PROBABILITY) if side == "left" else (outer, i, EDGE_PROBABILITY))
    transitions.append((count, outer, 1.0) if side == "left" else (outer, 0, 1.0))
    start, final = (0, outer) if side == "left" else (outer, count)
    try:
        segments = aligner._search(aligner.decoder, samples, keys, ("repair", start, final, transitions)) or []
    except (RuntimeError, ValueError) as exc:
        log.info("repair pass failed: %s", exc)
        return []
    names = [aligning._base_word(s.word) for s in segments]
    if side == "left":
        positions = longaudio.embed(names, keys, 0)
    else:  # nearest the end: the same search on the reversed lists
        positions = [count - 1 - p for p in reversed(longaudio.embed(names[::-1], keys[::-1], 0))]
    if len(positions) != len(segments):
        return []
    return [(p, s) for p, s in zip(positions, segments) if aligning.confidence(s) >= aligning.LOW_CONFIDENCE]


def _in_order(placed):
    """The words of `placed` (index → Segment) follow each other in time as in the transcript."""
    segments = [placed[i] for i in sorted(placed)]
    return all(p.end_frame < q.start_frame for p, q in zip(segments, segments[1:]))


def budget_of(gap):
    """The decodes `place` may spend on `gap`."""
    return _Budget(gap, int(WINDOW_SECONDS * FRAME_RATE))


class _Budget:
    """Decodes and audio a run may cost: a run that cannot be placed (words that are not spoken) stops soon.

    `spending(used)` is called before each decode (the repair's progress: `used` of `allowed` decodes).
    """

    def __init__(self, gap, window):
        # Two windows per pass over a long gap, and the short gaps its anchors leave (about one per
        # few words: a word not found between two runs) cost a decode each.
        self.passes = self.allowed = \
            MAX_PASSES + 4 * math.ceil((gap.end - gap.start) / window) + (gap.last - gap.first) // 2
        self.frames = MAX_DECODED_FACTOR * max(window, gap.end - gap.start)
        self.spending = lambda used: None

    def left(self):
        return self.passes > 0 and self.frames > 0

    def spend(self, frames):
        if not self.left():
            return False
        self.spending(self.allowed - self.passes)
        self.passes -= 1
        self.frames -= frames
        return True


def _anchors(found, needed, side, gap):
    """The words of `found` ([(index, Segment)], in order) in runs of `needed` consecutive indexes or more.

    The end of a run towards the window's open side is left out (unless it is the gap's last or first
    word): a word like "the" was found there on the first word of a passage missing from the
    transcript, and the search from the other end then failed on the words after it.
    """
    accepted, run = {}, []
    for item in found + [(None, None)]:
        if run and item[0] is not None and item[0] == run[-1][0] + 1 and item[1].start_frame > run[-1][1].end_frame:
            run.append(item)
            continue
        if len(run) >= needed:
            if side == "left" and run[-1][0] != gap.last - 1 and len(run) > 1:
                run = run[:-1]
            elif side == "right" and run[0][0] != gap.first and len(run) > 1:
                run = run[1:]
            accepted.update(run)
        run = [item] if item[0] is not None else []
    return accepted


def _split(gap, accepted):
    """The gaps left in `gap` around the words placed in it."""
    left, start, gaps = gap.first, gap.start, []
    for i in sorted(accepted):
        segment = accepted[i]
        gaps.append(Gap(left, i, start, segment.start_frame))
        left, start = i + 1, segment.end_frame + 1
    gaps.append(Gap(left, gap.last, start, gap.end))
    return [g for g in gaps if g.last > g.first]


def islands(placed, limits):
    """[(start frame, end frame, [word index])]: the placed words (index → Segment) in groups of neighbours,
    each group's audio reaching ISLAND_PAUSE_SECONDS around it where `limits(i)` ((end of the word
    placed before i, start of the one after)) leaves room, at most ISLAND_SECONDS long."""
    groups = []
    for i in sorted(placed):
        segment = placed[i]
        if groups and groups[-1][-1] == i - 1 and \
                segment.end_frame - placed[groups[-1][0]].start_frame < ISLAND_SECONDS * FRAME_RATE:
            groups[-1].append(i)
        else:
            groups.append([i])
    pad = int(ISLAND_PAUSE_SECONDS * FRAME_RATE)
    result = []
    for group in groups:
        before, _ = limits(group[0])
        _, after = limits(group[-1])
        start = max(before, placed[group[0]].start_frame - pad)
        end = min(after, placed[group[-1]].end_frame + 1 + pad)
        result.append((start, end, group))
    return result


def repair(aligner, samples, words, gain, results, total_frames, phones, chunk_seconds, progress=None,
           clock=longaudio.clock):
    """(found, word intervals, phone intervals, no-phone stretches) of a long recording whose pieces gave
    `results` (longaudio.PieceResult), with its runs of unplaced words aligned again where they can be.

    `progress(fraction, text)` follows the work: the share of the runs' decode budgets spent (the most
    they may cost; a run that places its words soon costs less, and the share jumps), then the islands'
    phone passes; `clock` names times in its text."""
    report = progress or (lambda fraction, text: None)
    found = [f for r in results for f in r.found]
    word_of = {}  # word index → its Interval (a piece's words come in the order of its found words)
    for r in results:
        word_of.update((i, w) for (i, _), w in zip(r.found, r.words))
    phones_found = [p for r in results for p in r.phones]
    no_phones = [stretch for r in results for stretch in r.no_phones]
    keys = [w.key for w in words]
    gaps = runs(words, found, aligning.confidence, aligning.LOW_CONFIDENCE, total_frames)
    if not gaps:
        return found, [w for r in results for w in r.words], phones_found, no_phones

    def prepare(a, b):
        return aligning.prepared(samples[a:b], gain, a)

    by_index = dict(found)
    replaced, repaired = set(), {}
    budgets = [budget_of(gap) for gap in gaps]
    total, before = sum(b.allowed for b in budgets), 0
    for number, (gap, budget) in enumerate(zip(gaps, budgets), 1):
        where = (f"placing words {gap.first + 1}–{gap.last} again between {clock(gap.start / FRAME_RATE)} and "
                 f"{clock(math.ceil(gap.end / FRAME_RATE))}, where they did not fit (stretch {number} of {len(gaps)}")
        budget.spending = lambda used, before=before, where=where: report(
            SEARCH_SHARE * (before + used) / total, f"{where}, search {used + 1})")
        before += budget.allowed
        new = place(aligner, samples, keys, gap, prepare, total_frames, budget)
        if new:  # the piece's finds in the gap (chance finds, mostly) give way to the words placed now
            repaired.update(new)
            replaced.update(i for i in range(gap.first, gap.last) if i in by_index)
    if not repaired:
        return found, [w for r in results for w in r.words], phones_found, no_phones
    final = {i: s for i, s in by_index.items() if i not in replaced}
    final.update(repaired)
    removed = sorted((word_of[i].start, word_of[i].end) for i in replaced if i in word_of)
    starts = [start for start, _ in removed]
    kept_phones = [p for p in phones_found if not _inside(removed, starts, (p.start + p.end) / 2)]
    kept_words = [w for i, w in word_of.items() if i not in replaced]

    def interval(segment, i):
        return aligning.Interval(segment.start_frame / FRAME_RATE, (segment.end_frame + 1) / FRAME_RATE,
                                 words[i].shown, aligning.confidence(segment))

    order = sorted(final)

    def limits(i):
        k = bisect.bisect_left(order, i)
        before = final[order[k - 1]].end_frame + 1 if k > 0 else 0
        after = final[order[k + 1]].start_frame if k + 1 < len(order) else total_frames
        return before, after

    new_words, new_phones = [], []
    groups = islands(repaired, limits)
    for number, (start, end, group) in enumerate(groups):
        if not phones:
            new_words += [interval(repaired[i], i) for i in group]
            continue
        report(SEARCH_SHARE + (1 - SEARCH_SHARE) * number / len(groups),
               f"aligning the phones of the words placed again ({number + 1} of {len(groups)})")
        raw = samples[start * SAMPLES_PER_FRAME : end * SAMPLES_PER_FRAME]
        decoded = aligning.prepared(raw, gain, start * SAMPLES_PER_FRAME)
        local = [(i, longaudio.Segment(repaired[i].word, repaired[i].start_frame - start,
                                       repaired[i].end_frame - start, repaired[i].ascore)) for i in group]
        word_interval = {i: interval(s, i) for i, s in local}
        word_intervals, phone_intervals, failed = aligner._phone_passes(
            raw, decoded, words, local, False, word_interval, chunk_seconds, lambda fraction: None, flat_first=True)
        refined = refine_boundaries(aligning.Alignment(word_intervals, phone_intervals), raw)
        offset = start / FRAME_RATE
        new_words += [_shifted(w, offset) for w in refined.words]
        new_phones += [_shifted(p, offset) for p in refined.phones]
        no_phones += [(a + offset, b + offset) for a, b in failed]
    return (sorted(final.items()), sorted(kept_words + new_words, key=lambda w: w.start),
            sorted(kept_phones + new_phones, key=lambda p: p.start), sorted(no_phones))


def _inside(intervals, starts, time):
    """`time` lies in one of `intervals` ([(start, end)] sorted, not overlapping; `starts` their starts)."""
    k = bisect.bisect_right(starts, time) - 1
    return k >= 0 and intervals[k][0] <= time < intervals[k][1]


def _shifted(interval, seconds):
    return dataclasses.replace(interval, start=round(interval.start + seconds, 4), end=round(interval.end + seconds, 4))
