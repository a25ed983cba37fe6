"""Aligning a recording whose transcript is utterance tiers (a TextGrid or an EAF; clamservices.utterances).

Each utterance is aligned on its own, within its interval: the samples of [start, end] (clipped to the
recording) go to the same `Aligner.align` as a whole recording (an utterance longer than a piece is
planned in pieces by `align` itself, reading a `Span` of the recording), and its word and phone times
are shifted by where those samples start. Utterances of different tiers may overlap (two speakers at
once): each is aligned on its own samples, so each tier gets its own words.

An utterance that cannot be aligned (AlignmentError) costs only its words: a warning names it by tier and
time ("speaker A, 1:02.3–1:09.8: <reason>"). The recording is not aligned only when none of its
utterances is. clamservices.fa_job aligns the utterances in its own process one after the other, or
hands them to its pool in groups of about GROUP_SECONDS of audio (`groups`), so that a recording of a
hundred short utterances is not a hundred tasks, each with its dictionary sent over a pipe.
"""

import dataclasses
from dataclasses import dataclass, field

from clamservices.aligner import Alignment, AlignmentError
from clamservices.audio import SAMPLE_RATE
from clamservices.utterances import moment

GROUP_SECONDS = 30.0  # of utterance audio per pool task
ALIGN_OPTIONS = ("phones", "chunk_seconds", "piece_seconds")  # the job's options `align_group` reads
# Another speaker's utterance over this much of one that could not be aligned (seconds, or share of its length)
# is named as the likely cause.
OVERLAP_SECONDS = 0.5
OVERLAP_SHARE = 0.25
# Utterances of different tiers may overlap, and each is aligned on its own samples: tiers that repeat one
# another (each speaker's one interval over the whole recording, say) would align the recording as many times
# over. Two or three speakers at once throughout is already more than a conversation has.
MAX_TOTAL_SHARE = 4  # utterance audio, as a multiple of the recording's length


@dataclass
class Item:
    """One utterance to align."""

    number: int  # its position among the recording's utterances (tier order, then time)
    tier: str
    start: float  # seconds, as the transcript gives them
    end: float
    words: list  # transcripts.Word, as the aligner looks them up (hyphenated words split)
    first: int = 0  # its samples in the 16 kHz recording, clipped to it (`place`)
    last: int = 0
    outside: bool = False  # it starts after the recording ends: left out

    @property
    def where(self):
        return f"{self.tier}, {moment(self.start)}–{moment(self.end)}"

    @property
    def length(self):
        return self.last - self.first


@dataclass
class Prepared:
    """A recording with a tiered transcript, read and ready to align."""

    tiers: list  # utterances.Tier, as read
    items: list  # Item of every utterance with words
    readings: dict  # {token: how it is read} (fa_job._words)
    unknown: list  # words no dictionary knows: then there is no recording
    recording: object = None  # audio.Recording (a raw file the caller removes)
    duration: float = 0.0
    outside: list = field(default_factory=list)  # Items that start after the recording ends

    @property
    def start(self):
        """Where the transcript's time begins (utterances.Tier.start): 0 but for a part Praat extracted."""
        return min((t.start for t in self.tiers), default=0.0)

    @property
    def placed(self):
        return [i for i in self.items if not i.outside]


class Span:
    """`recording[first:last]` read on demand: what `Aligner.align` needs of a long utterance (len() and
    step-less slicing), without reading the utterance whole. Picklable when the recording is."""

    def __init__(self, recording, first, last):
        self.recording, self.first, self.last = recording, first, last

    def __len__(self):
        return self.last - self.first

    def __getitem__(self, key):
        start, stop, _ = key.indices(len(self))
        return self.recording[self.first + start : self.first + max(start, stop)]


def place(items, length):
    """Give `items` their samples in a recording of `length` samples; returns those that start after its end."""
    outside = []
    for item in items:
        item.first = min(length, max(0, round(item.start * SAMPLE_RATE)))
        item.last = min(length, max(item.first, round(item.end * SAMPLE_RATE)))
        item.outside = item.first >= length
        if item.outside:
            outside.append(item)
    return outside


def check_total(prepared):
    """Raises AlignmentError ("too_long") when the placed utterances add up to more than MAX_TOTAL_SHARE times
    the recording."""
    total = sum(i.length for i in prepared.placed) / SAMPLE_RATE
    if total > MAX_TOTAL_SHARE * prepared.duration:
        raise AlignmentError("too_long", (
            f"its utterances add up to {moment(total)} of audio, more than {MAX_TOTAL_SHARE} times the "
            f"recording ({moment(prepared.duration)}): its tiers overlap so much that the recording would be "
            "aligned over and over; keep one tier per speaker, each utterance where that speaker speaks"))


def groups(items):
    """`items` in runs of about GROUP_SECONDS of audio (a longer utterance on its own), each a pool task."""
    result, current, seconds = [], [], 0.0
    for item in items:
        if current and seconds + item.length / SAMPLE_RATE > GROUP_SECONDS:
            result.append(current)
            current, seconds = [], 0.0
        current.append(item)
        seconds += item.length / SAMPLE_RATE
    if current:
        result.append(current)
    return result


def align_group(aligner, recording, items, options, progress=None):
    """{item number: its Alignment in the recording's time, or ("error", code, reason)} of `items`.

    The errors are tuples, not AlignmentErrors: the result may cross a pipe, and an AlignmentError does not
    come back from pickle (its constructor takes two arguments). `progress(fraction)` follows the share of
    the items' audio aligned.
    """
    outcomes, done, total = {}, 0, sum(i.length for i in items) or 1
    for item in items:
        offset = item.first / SAMPLE_RATE
        report = None if progress is None else (
            lambda fraction, done=done, item=item: progress((done + fraction * item.length) / total))
        try:
            alignment = aligner.align(
                Span(recording, item.first, item.last), item.words, phones=options["phones"],
                chunk_seconds=options["chunk_seconds"], piece_seconds=options["piece_seconds"], progress=report,
                clock=lambda seconds, offset=offset: moment(seconds + offset))
            outcomes[item.number] = _shifted(alignment, offset)
        except AlignmentError as exc:
            outcomes[item.number] = ("error", exc.code, str(exc))
        done += item.length
        if progress is not None:
            progress(done / total)
    return outcomes


def _shifted(alignment, seconds):
    def shift(interval):
        return dataclasses.replace(interval, start=interval.start + seconds, end=interval.end + seconds)

    return dataclasses.replace(alignment, words=[shift(w) for w in alignment.words],
                               phones=[shift(p) for p in alignment.phones])


def _explained(item, outcome, items):
    """The reason an utterance was not aligned, with what most likely caused a "does not match" in a TextGrid:
    another speaker talking at the same time, or an interval that cuts off part of the utterance."""
    _, code, reason = outcome
    if code != "no_match":
        return reason
    other = _overlapping(item, items)
    if other is not None:
        return (f"it overlaps {other.tier}'s utterance at {moment(other.start)}–{moment(other.end)}, and speech over "
                "other speech often cannot be aligned (its words were not found in the audio)")
    return f"{reason}; check also that its interval holds all of its speech"


def _overlapping(item, items):
    """The utterance of another tier that overlaps `item` the most, if by more than its edges (turns often
    overlap by a fraction of a second), else None."""
    def shared(other):
        return min(other.end, item.end) - max(other.start, item.start) if other.tier != item.tier else 0.0

    over = [o for o in items if shared(o) >= min(OVERLAP_SECONDS, OVERLAP_SHARE * (item.end - item.start))]
    return max(over, key=shared) if over else None


def combine(prepared, outcomes):
    """({tier name: Alignment}, warnings) of the recording from its utterances' outcomes.

    Raises AlignmentError ("no_match") when not one utterance could be aligned.
    """
    by_tier = {t.name: Alignment([], []) for t in prepared.tiers if t.has_words}
    warnings, failures = [], []
    end = moment(prepared.duration)
    if prepared.start > 0:
        # Praat's "Extract part" with "preserve times" keeps the part's times; the WAV saved from it starts at 0.
        end += (f"; the TextGrid starts at {moment(prepared.start)}, not at 0: extract it again in Praat without "
                "“preserve times”, or shift its times (Modify times) to start at 0")
    for item in prepared.items:  # tier order, then time: the warnings read in that order too
        outcome = outcomes.get(item.number) if not item.outside else (
            "error", "outside", f"it starts after the recording ends ({end})")
        target = by_tier[item.tier]
        if isinstance(outcome, Alignment):
            target.words += outcome.words
            target.phones += outcome.phones
            target.not_found += outcome.not_found
            other = _overlapping(item, prepared.items) if outcome.warnings else None
            # A word of the other speaker may have been taken for one of this utterance's.
            over = "" if other is None else \
                f" (it overlaps {other.tier}'s utterance at {moment(other.start)}–{moment(other.end)})"
            warnings += [f"{item.where}: {w}{over}" for w in outcome.warnings]
            continue
        reason = _explained(item, outcome, prepared.items) if outcome else "it was not aligned"
        failures.append(f"{item.where}: {reason}")
        target.not_found += [w.shown for w in item.words]
        words = "its word is" if len(item.words) == 1 else f"its {len(item.words)} words are"
        verb = "left out" if item.outside else "not aligned"
        warnings.append(f"{item.where}: {reason} ({verb}: {words} not in the TextGrid)")
    if len(failures) == len(prepared.items):
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        which = "its utterance" if len(failures) == 1 else f"none of its {len(failures)} utterances"
        raise AlignmentError("no_match", f"{which} could{' not' if len(failures) == 1 else ''} be aligned: "
                                         f"{failures[0]}{more}")
    for alignment in by_tier.values():
        # Utterances of one tier overlap by a few ms at most (utterances.OVERLAP_TOLERANCE): the tier is written in
        # time order, the writer trimming what little overlaps.
        alignment.words.sort(key=lambda i: i.start)
        alignment.phones.sort(key=lambda i: i.start)
    return by_tier, warnings
