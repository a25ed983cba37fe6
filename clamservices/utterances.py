"""Transcripts given as utterance tiers: a Praat TextGrid or an ELAN .eaf of the recording's name.

Each interval tier (TextGrid) or top-level time-aligned tier (EAF) is a speaker, the non-empty
intervals on it are utterances, and each utterance is aligned within its own interval (an empty
interval, or time outside every interval, is silence). The upload check and the aligner read them
through this one module, so both say the same of a file.

Praat saves a TextGrid as ASCII, or as UTF-16 with a byte order mark when it has other characters;
other tools write UTF-8. praatio's own `openTextgrid` tries UTF-16 first without a byte order mark,
which can read a UTF-8 file as nonsense, so the encoding is decided here from the BOM.
"""

import codecs
import math
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from clamservices.transcripts import TranscriptError, words_of

TIERED_EXTENSIONS = {"textgrid": "Praat TextGrid", "eaf": "ELAN"}
# The tiers an alignment adds ("words", "speaker A - phones", "words confidence"): a result given back as a
# transcript is re-aligned from its utterance tiers, and its old alignment would clash with the new one.
_RESULT_TIERS = ("words", "phones")
_RESULT_SUFFIXES = tuple(f" - {kind}" for kind in _RESULT_TIERS) + (" confidence",)

# Events transcribed between brackets ("<noise>", "[laughs]", "{breath}") are not spoken words: without this,
# words_of would align "<noise>" as the word "noise". Parentheses are left alone: "(be)cause" is speech.
_EVENTS = re.compile(r"<[^<>]*>|\[[^\[\]]*\]|\{[^{}]*\}")

# Bounds far above any transcript of one recording (a two-hour recording has about 2 000 utterances, a result
# given back with its word and phone tiers 70 000 intervals on 10 tiers), so that a hostile or mistaken file is
# refused in seconds rather than read for minutes: the reader and the aligner's work grow with each.
MAX_TIERS = 100
MAX_INTERVALS = 200_000  # labelled intervals on all tiers (words and phones of a result given back included)
MAX_UTTERANCES = 50_000  # labelled intervals on the tiers to align
MAX_LABEL = 10_000  # characters of one interval's label (a minute of speech is about 1 000)
# Utterances of one tier may touch or overlap by this much (rounding in the tool that wrote them) without
# being refused: the writer trims so little.
OVERLAP_TOLERANCE = 0.01  # seconds


class NoWords(TranscriptError):
    """The file is readable, but no interval on it has words to align."""


@dataclass(frozen=True)
class Utterance:
    start: float  # seconds
    end: float
    text: str

    @cached_property
    def words(self):
        """utterance_words of its text, worked out once: the tier is asked for its utterances more than once."""
        return utterance_words(self.text)


@dataclass
class Tier:
    name: str
    intervals: list = field(default_factory=list)  # [Utterance] of every labelled interval, by start time
    # (kept as they came, for the result's copy of the tier: "<noise>" or "..." are labels, not words)
    start: float = 0.0  # where the file's time begins (a TextGrid's xmin; Praat's "preserve times" keeps it > 0)

    @property
    def utterances(self):
        """The intervals with words to align."""
        return [u for u in self.intervals if u.words]

    @property
    def has_words(self):
        """Whether any interval has words to align (stopping at the first)."""
        return any(u.words for u in self.intervals)


def utterance_words(text):
    """The words of an utterance (transcripts.words_of), without the events transcribed between brackets."""
    return words_of(_EVENTS.sub(" ", text))


def moment(seconds):
    """1:02.3 (1:02:05.0 past an hour): a time in a recording as its utterances' warnings give it, rounded down."""
    tenths = int(seconds * 10 + 1e-6)
    whole, tenth = divmod(tenths, 10)
    hours, rest = divmod(whole, 3600)
    text = f"{hours}:{rest // 60:02}:{rest % 60:02}" if hours else f"{rest // 60}:{rest % 60:02}"
    return f"{text}.{tenth}"


def is_tiered(name):
    """Whether a transcript of this file name is a TextGrid or EAF rather than plain text."""
    return Path(name).suffix.lower().lstrip(".") in TIERED_EXTENSIONS


def read_tiers(path, name=None):
    """The interval tiers of the TextGrid or EAF at `path` ([Tier]), at least one of them with words.

    Raises TranscriptError saying what is wrong for the researcher: unreadable, no interval tier,
    no words in any interval.
    """
    name = name or Path(path).name
    extension = Path(name).suffix.lower().lstrip(".")
    if extension == "eaf":
        tiers = _eaf_tiers(path, name)
    elif extension == "textgrid":
        tiers = _textgrid_tiers(path)
    else:
        raise TranscriptError(f"a .{extension} file is not a TextGrid or ELAN file")
    _check_sizes(tiers, "tier")
    given, tiers = tiers, _named(_utterance_tiers(tiers))
    _check_sizes(tiers, "utterance")
    for tier in tiers:
        _check_overlaps(tier)
    if not any(t.has_words for t in tiers):
        kind = TIERED_EXTENSIONS[extension]
        if given and not tiers:
            several = len(given) > 1
            raise TranscriptError(f"its only tier{'s' if several else ''} ({', '.join(t.name for t in given)}) "
                                  f"hold{'' if several else 's'} an alignment, not utterances: add a tier with the "
                                  "utterances (one tier per speaker)")
        if not tiers:
            which = "interval tier" if extension == "textgrid" else \
                "top-level, time-aligned tier (dependent tiers are not utterances)"
            raise NoWords(f"the {kind} file has no {which}: add a tier with the utterances (one tier per speaker)")
        dependent = " on its top-level tier" if extension == "eaf" else ""
        raise NoWords(f"no interval on its tier{'s' if len(tiers) > 1 else ''} "
                      f"({', '.join(t.name for t in tiers)}) has words to align: write the words spoken in each "
                      f"utterance's interval{dependent} (labels between brackets, such as <noise>, are not words)")
    return tiers


def describe(tiers):
    """What the tiers hold to align, in a few words: "2 speakers: Interviewer (18 utterances), Guest (20)"."""
    spoken = [(t.name, len(t.utterances)) for t in tiers if t.has_words]
    counts = [f"{name} ({n}{' utterance' if n == 1 else ' utterances'})" if i == 0 else f"{name} ({n})"
              for i, (name, n) in enumerate(spoken)]
    quiet = [t.name for t in tiers if not t.has_words]
    return (f"{len(spoken)} speaker{'s' if len(spoken) > 1 else ''}: {', '.join(counts)}"
            + (f"; no words on {', '.join(quiet)}" if quiet else ""))


def _utterance_tiers(tiers):
    """The tiers to align: those an alignment writes are left out; a result of a plain-text transcript
    (only such tiers) is aligned again from its word tiers, each word within its interval."""
    own = [t for t in tiers if not is_result_tier(t.name)]
    words = [t for t in tiers if t.name.strip().lower() == "words" or t.name.strip().lower().endswith(" - words")]
    if any(t.has_words for t in own) or not any(t.has_words for t in words):
        return own
    return words


def is_result_tier(name):
    """Whether a tier of this name is one an alignment writes, not one of utterances."""
    folded = name.strip().lower()
    return folded in _RESULT_TIERS or folded.endswith(_RESULT_SUFFIXES)


def has_words(path, name=None):
    """Whether the file has at least one utterance with words; raises TranscriptError when it cannot be read."""
    return bool(read_tiers(path, name))


def _check_tier_count(count):
    if count > MAX_TIERS:
        raise TranscriptError(f"it has {count} tiers, more than {MAX_TIERS}: is this the transcript of one "
                              "recording? Give each recording a file of its own, with a tier per speaker")


def _check_sizes(tiers, which):
    """Refuses more tiers or intervals than a transcript of one recording has (MAX_*)."""
    if which == "tier":
        _check_tier_count(len(tiers))
    limit = MAX_INTERVALS if which == "tier" else MAX_UTTERANCES
    count = sum(len(t.intervals) for t in tiers)
    if count > limit:
        kind = "labelled intervals" if which == "tier" else "utterances"
        raise TranscriptError(f"it has {count} {kind}, more than {limit}: is this the transcript of one recording? "
                              "Cut long recordings and their transcripts into parts")


def _check_overlaps(tier):
    """Refuses a tier two of whose labelled intervals overlap: a tier is written back one interval after the
    other, and the words of an utterance inside another would be lost from the result without a word."""
    latest = None
    for interval in tier.intervals:
        if latest is not None and interval.start < latest.end - OVERLAP_TOLERANCE:
            raise TranscriptError(
                f"on tier {tier.name}, the interval at {moment(interval.start)}–{moment(interval.end)} overlaps the "
                f"one at {moment(latest.start)}–{moment(latest.end)}: one tier holds one speaker's utterances one "
                "after the other; put overlapping speech on separate tiers")
        if latest is None or interval.end > latest.end:
            latest = interval


def _text(raw):
    if b"\x00" in raw[:2] or raw[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        encoding = "utf-16" if raw[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else (
            "utf-16-be" if raw[:1] == b"\x00" else "utf-16-le")
    else:
        encoding = "utf-8-sig"
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise TranscriptError(f"it is not UTF-8 or UTF-16 text (byte {exc.start} cannot be decoded); "
                              "save it from Praat as a text file") from None
    if "\x00" in text:
        raise TranscriptError("it contains NUL bytes; it does not look like a text file")
    return text


def _textgrid_tiers(path):
    from praatio.utilities import textgrid_io

    raw = Path(path).read_bytes()
    if b"ooBinaryFile" in raw[:64]:
        raise TranscriptError("it is a binary TextGrid; in Praat, save it with “Save as text file…” and upload that")
    text = _text(raw)
    del raw
    if "TextGrid" not in text[:200]:
        raise TranscriptError("it is not a Praat TextGrid (its first lines do not say “TextGrid”)")
    _check_long_format(text)
    try:
        grid = textgrid_io.parseTextgridStr(text, includeEmptyIntervals=False)
        # Point tiers mark instants, not utterances.
        interval_tiers = [tier for tier in grid["tiers"] if tier["class"] == "IntervalTier"]
        _check_tier_count(len(interval_tiers))
        tiers = []
        for tier in interval_tiers:
            spans = [(float(s), float(e), str(t)) for s, e, t in tier["entries"]]
            if min((s for s, _, _ in spans), default=0) < 0 or min(float(tier["xmin"]), float(grid["xmin"])) < 0:
                raise TranscriptError(_NEGATIVE)
            tiers.append(_tier(tier["name"], spans, start=float(grid["xmin"])))
    except TranscriptError:
        raise
    except Exception:  # noqa: BLE001 - praatio raises whatever its parsing meets; the user needs one message
        raise TranscriptError(_DAMAGED) from None
    return tiers


_DAMAGED = ("it cannot be read as a TextGrid (a line is missing or damaged); open it in Praat, "
            "save it again as a text file and upload that")
_NEGATIVE = ("it has a time before 0 (a negative time): the recording starts at 0; in Praat, shift the times "
             "(Modify times) so that none is negative and save it again")

# The lines of the long text format that _check_long_format counts, found in one pass. `[ \t]*`, not `\s*`:
# `^\s*` runs on over every blank line after each line start, which made 30 000 blank lines take seconds.
_LONG_FORMAT_LINES = re.compile(
    r"^(?:size = (?P<tiers>\d+)"
    r"|[ \t]*(?:(?:intervals|points): size = (?P<declared>\d+)"
    r"|(?P<item>item \[\d+\]:)"
    r"|(?P<entry>(?:intervals|points) \[\d+\]:)"
    r"|(?:xmin|xmax|number) ?= ?(?P<negative>-)))",
    re.MULTILINE,
)


def _check_long_format(text):
    """Refuses a TextGrid in the long text format that holds fewer tiers or intervals than it says it has, or a
    negative time.

    praatio reads a file cut off after any complete interval without complaint, and only the intervals
    before the cut would be aligned; it also reads "xmin = -2.0" as 2.0. (The short format names nothing, so
    it is not counted; its negative times reach _textgrid_tiers as they are.)
    """
    tiers, declared, items, entries = None, None, 0, 0
    for line in _LONG_FORMAT_LINES.finditer(text):
        if line["negative"]:
            raise TranscriptError(_NEGATIVE)
        if line["tiers"] is not None and tiers is None:
            tiers = int(line["tiers"])
        elif line["declared"] is not None:
            declared = (declared or 0) + int(line["declared"])
        elif line["item"]:
            items += 1
        elif line["entry"]:
            entries += 1
    if declared is None:
        return
    _check_tier_count(items)
    if (tiers is not None and tiers != items) or declared != entries:
        raise TranscriptError(_DAMAGED)


def _eaf_tiers(path, name):
    from pympi.Elan import Eaf

    # Counted before the XML is parsed, which takes seconds for 100 000 tiers (dependent tiers count too, so
    # the bound is wider than MAX_TIERS, which the top-level tiers are held to below).
    with open(path, "rb") as file:
        count = file.read().count(b"<TIER ")
    if count > 10 * MAX_TIERS:
        _check_tier_count(count)
    try:
        eaf = Eaf(str(path), suppress_version_warning=True)
    except Exception:  # noqa: BLE001 - pympi raises parser and key errors alike for damaged files
        raise TranscriptError("it cannot be read as an ELAN file (the XML is damaged or not EAF); open it in ELAN, "
                              "save it again and upload that") from None
    origin = _time_origin(eaf, name)
    tiers = []
    for tier_id, (aligned, references, attributes, _) in eaf.tiers.items():
        if attributes.get("PARENT_REF") or references or not aligned:
            continue  # dependent tiers (translations, words of an utterance) are not utterances
        spans = []
        for start_slot, end_slot, value, *_ in aligned.values():
            start, end = eaf.timeslots.get(start_slot), eaf.timeslots.get(end_slot)
            if start is None or end is None:
                continue  # an unaligned time slot: the annotation has no time of its own
            if min(start, end) + origin < 0:
                raise TranscriptError(_NEGATIVE_EAF)
            spans.append(((start + origin) / 1000, (end + origin) / 1000, value or ""))
        tiers.append(_tier(tier_id, spans))
    return tiers


_NEGATIVE_EAF = ("it has a time before 0 (a negative time, or an annotation before the start of the recording "
                 "with its media offset): in ELAN, move or delete it and save the file again")


def _time_origin(eaf, name):
    """The media offset (ELAN's TIME_ORIGIN, in ms) of the recording the file is linked to: an annotation at
    time t is at t + offset in that recording. The recording is the audio of the file's name (talk.eaf: talk.wav,
    rather than talk.mp4), else the only audio linked, else the only media. Refused when the media it may be
    disagree."""
    linked = [d for d in eaf.media_descriptors if d.get("MEDIA_URL") or d.get("RELATIVE_MEDIA_URL")]
    stem = Path(name).stem

    def named(descriptor):
        url = descriptor.get("RELATIVE_MEDIA_URL") or descriptor.get("MEDIA_URL") or ""
        return Path(url.replace("\\", "/").rsplit("/", 1)[-1]).stem == stem

    def audio(descriptor):
        return str(descriptor.get("MIME_TYPE", "")).startswith("audio")

    choices = next((found for found in ([d for d in linked if named(d) and audio(d)], [d for d in linked if named(d)],
                                        [d for d in linked if audio(d)]) if found), linked)
    try:
        origins = {int(float(d.get("TIME_ORIGIN") or 0)) for d in choices}
    except ValueError:
        origins = {None}
    if len(origins) > 1 or None in origins:
        raise TranscriptError("its linked media have different media offsets (Time origin), and none of them is "
                              f"named {stem}: in ELAN, set the media offset to 0 or link only the recording")
    return origins.pop() if origins else 0


def _tier(name, spans, start=0.0):
    name = str(name).strip()
    intervals = []
    for begin, end, text in spans:
        if not (math.isfinite(begin) and math.isfinite(end)):
            raise TranscriptError(_DAMAGED)
        text = text.strip()
        if end <= begin or not text:
            continue
        if len(text) > MAX_LABEL:
            raise TranscriptError(f"on tier {name}, the interval at {moment(begin)}–{moment(end)} has "
                                  f"{len(text)} characters, more than {MAX_LABEL}: give each utterance an "
                                  "interval of its own")
        intervals.append(Utterance(round(begin, 4), round(end, 4), text))
    intervals.sort(key=lambda u: (u.start, u.end))
    return Tier(name, intervals, start)


def _named(tiers):
    """Tiers with names that are not empty and not repeated ("tier 2", "speaker A (2)")."""
    taken = set()
    for number, tier in enumerate(tiers, 1):
        base = tier.name or f"tier {number}"
        name, copy = base, 1
        while name in taken:
            copy += 1
            name = f"{base} ({copy})"
        taken.add(name)
        tier.name = name
    return tiers
