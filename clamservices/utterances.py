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
import re
from dataclasses import dataclass, field
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


class NoWords(TranscriptError):
    """The file is readable, but no interval on it has words to align."""


@dataclass(frozen=True)
class Utterance:
    start: float  # seconds
    end: float
    text: str


@dataclass
class Tier:
    name: str
    intervals: list = field(default_factory=list)  # [Utterance] of every labelled interval, by start time
    # (kept as they came, for the result's copy of the tier: "<noise>" or "..." are labels, not words)

    @property
    def utterances(self):
        """The intervals with words to align."""
        return [u for u in self.intervals if utterance_words(u.text)]


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
        tiers = _eaf_tiers(path)
    elif extension == "textgrid":
        tiers = _textgrid_tiers(path)
    else:
        raise TranscriptError(f"a .{extension} file is not a TextGrid or ELAN file")
    given, tiers = tiers, _named(_utterance_tiers(tiers))
    if not any(t.utterances for t in tiers):
        kind = TIERED_EXTENSIONS[extension]
        if given and not tiers:
            several = len(given) > 1
            raise TranscriptError(f"its only tier{'s' if several else ''} ({', '.join(t.name for t in given)}) "
                                  f"hold{'' if several else 's'} an alignment, not utterances: add a tier with the "
                                  "utterances (one tier per speaker)")
        if not tiers:
            raise NoWords(f"the {kind} file has no interval tier: add a tier with the utterances "
                          "(one tier per speaker)")
        raise NoWords(f"no interval on its tier{'s' if len(tiers) > 1 else ''} "
                      f"({', '.join(t.name for t in tiers)}) has words to align")
    return tiers


def _utterance_tiers(tiers):
    """The tiers to align: those an alignment writes are left out; a result of a plain-text transcript
    (only such tiers) is aligned again from its word tiers, each word within its interval."""
    own = [t for t in tiers if not is_result_tier(t.name)]
    words = [t for t in tiers if t.name.strip().lower() == "words" or t.name.strip().lower().endswith(" - words")]
    if any(t.utterances for t in own) or not any(t.utterances for t in words):
        return own
    return words


def is_result_tier(name):
    """Whether a tier of this name is one an alignment writes, not one of utterances."""
    folded = name.strip().lower()
    return folded in _RESULT_TIERS or folded.endswith(_RESULT_SUFFIXES)


def has_words(path, name=None):
    """Whether the file has at least one utterance with words; raises TranscriptError when it cannot be read."""
    return bool(read_tiers(path, name))


def _text(path):
    raw = Path(path).read_bytes()
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

    raw_head = Path(path).read_bytes()[:64]
    if b"ooBinaryFile" in raw_head:
        raise TranscriptError("it is a binary TextGrid; in Praat, save it with “Save as text file…” and upload that")
    text = _text(path)
    if "TextGrid" not in text[:200]:
        raise TranscriptError("it is not a Praat TextGrid (its first lines do not say “TextGrid”)")
    if _cut_off(text):
        raise TranscriptError(_DAMAGED)
    try:
        grid = textgrid_io.parseTextgridStr(text, includeEmptyIntervals=False)
        tiers = []
        for tier in grid["tiers"]:
            if tier["class"] != "IntervalTier":
                continue  # point tiers mark instants, not utterances
            tiers.append(_tier(tier["name"], ((float(s), float(e), str(t)) for s, e, t in tier["entries"])))
    except TranscriptError:
        raise
    except Exception:  # noqa: BLE001 - praatio raises whatever its parsing meets; the user needs one message
        raise TranscriptError(_DAMAGED) from None
    return tiers


_DAMAGED = ("it cannot be read as a TextGrid (a line is missing or damaged); open it in Praat, "
            "save it again as a text file and upload that")


def _cut_off(text):
    """Whether a TextGrid in the long text format holds fewer tiers or intervals than it says it has.

    praatio reads a file cut off after any complete interval without complaint, and only the intervals
    before the cut would be aligned. (The short format names nothing, so it is not checked.)
    """
    declared = re.findall(r"^\s*(?:intervals|points): size = (\d+)", text, re.MULTILINE)
    if not declared:
        return False
    items = re.search(r"^size = (\d+)", text, re.MULTILINE)
    if items and int(items.group(1)) != len(re.findall(r"^\s*item \[\d+\]:", text, re.MULTILINE)):
        return True
    return sum(map(int, declared)) != len(re.findall(r"^\s*(?:intervals|points) \[\d+\]:", text, re.MULTILINE))


def _eaf_tiers(path):
    from pympi.Elan import Eaf

    try:
        eaf = Eaf(str(path), suppress_version_warning=True)
    except Exception:  # noqa: BLE001 - pympi raises parser and key errors alike for damaged files
        raise TranscriptError("it cannot be read as an ELAN file (the XML is damaged or not EAF); open it in ELAN, "
                              "save it again and upload that") from None
    tiers = []
    for tier_id, (aligned, references, attributes, _) in eaf.tiers.items():
        if attributes.get("PARENT_REF") or references or not aligned:
            continue  # dependent tiers (translations, words of an utterance) are not utterances
        spans = []
        for start_slot, end_slot, value, *_ in aligned.values():
            start, end = eaf.timeslots.get(start_slot), eaf.timeslots.get(end_slot)
            if start is None or end is None:
                continue  # an unaligned time slot: the annotation has no time of its own
            spans.append((start / 1000, end / 1000, value or ""))
        tiers.append(_tier(tier_id, spans))
    return tiers


def _tier(name, spans):
    intervals = sorted(
        (Utterance(round(start, 4), round(end, 4), text.strip()) for start, end, text in spans
         if end > start and text.strip()),
        key=lambda u: (u.start, u.end),
    )
    return Tier(str(name).strip(), intervals)


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
