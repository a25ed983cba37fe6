"""A run's results in the formats researchers work in: ELAN (.eaf), CSV and JSON, besides the Praat TextGrid.

A result TextGrid is read once (`read_result`) into a neutral `Alignment`; each writer takes that and
nothing else, so no format parses TextGrids of its own, and a later reader (a TextGrid with a
confidence tier, an EAF given as a transcript) only has to fill an `Alignment`.

Conventions every format shares (docs/users/formats.md tells researchers):
- A pause is an interval with an empty label; it is no row, annotation or word in any format (its
  time is the gap between the intervals around it). A label a service gives pauses ("sil") is kept.
- Word tiers are those named "words" (or "<speaker> - words"); the phone tier of the same prefix
  ("phones", "<speaker> - phones") is their child: each phone belongs to the word its middle lies in.
  Every other interval tier is kept as a tier of its own; point tiers stay in the TextGrid only.
- `confidence` is a number 0–1 per word and phone where the aligner gave one (the bundled aligner does
  for what its phone pass placed, clamservices.confidence); where it gave none (another service, words
  placed without the phone pass) it is None, written as an empty CSV cell, a JSON null and no EAF
  confidence annotation (no confidence tier at all when the tier has no value). A
  TextGrid carries it as an interval tier "<tier> confidence" ("words confidence") whose intervals
  hold the values of the tier's intervals; it becomes their confidence, not a tier of its own.
"""

import bisect
import csv
import io
import json
import mimetypes
import re
from dataclasses import dataclass, field
from urllib.parse import quote

from praatio import textgrid
from pympi import Elan

# "words confidence" holds the values of "words", in TextGrid and EAF: the bundled aligner's writer's name.
from clamservices.textgrids import CONFIDENCE_SUFFIX
from scripts.filenames import extension_of

FORMATS = {
    # key: (what the page calls it, extension, content type)
    "eaf": ("ELAN", ".eaf", "text/x-eaf+xml"),
    "csv": ("CSV", ".csv", "text/csv; charset=utf-8"),
    "json": ("JSON", ".json", "application/json"),
}
CSV_COLUMNS = ["file", "tier", "start", "end", "label", "confidence"]
JSON_VERSION = 1
WORD_TIER_NAMES = ("words", "word")
PHONE_TIER_NAMES = ("phones", "phone")
SPEAKER_SEPARATOR = " - "
# Below this a word or phone is marked in the picture and listed among the words to check on the run page
# (docs/users/alignment.md): clamservices.confidence.LOW, which this web process does not import (it loads
# PocketSphinx); tests/test_exports.py pins the two equal.
LOW_CONFIDENCE = 0.5


class NotConvertible(ValueError):
    """A result that cannot be read as a TextGrid of interval tiers; it can still be downloaded as it is."""


@dataclass(frozen=True)
class Span:
    start: float
    end: float
    label: str
    confidence: float | None = None


@dataclass
class Tier:
    name: str
    spans: list[Span]


@dataclass
class Word:
    tier: str
    span: Span
    phones: list[Span] = field(default_factory=list)


@dataclass
class Alignment:
    """One recording's result: its interval tiers without pauses, in the TextGrid's order."""

    recording: str  # the audio file's name, as the researcher uploaded it
    result: str  # the TextGrid's name
    duration: float
    tiers: list[Tier]

    def tier_pairs(self):
        """[(word tier name, its phone tier name or None)], in the tiers' order."""
        return [(self.tiers[w].name, None if p is None else self.tiers[p].name) for w, p in self.tier_positions()]

    def tier_positions(self):
        """[(word tier position, its phone tier's position or None)]: a phone tier is the child of one word tier
        only, the first of its prefix ("words" and "Words" are two word tiers; "phones" is the first's)."""
        phone_prefixes = [_prefix(t.name, PHONE_TIER_NAMES) for t in self.tiers]
        pairs, taken = [], set()
        for position, tier in enumerate(self.tiers):
            prefix = _prefix(tier.name, WORD_TIER_NAMES)
            if prefix is None:
                continue
            phones = next((n for n, p in enumerate(phone_prefixes) if p == prefix and n not in taken), None)
            taken.add(phones)
            pairs.append((position, phones))
        return pairs

    def words(self):
        """Every word of every word tier with its phones, in order of time (then of tier)."""
        words = []
        for order, (word_tier, phone_tier) in enumerate(self.tier_positions()):
            words += [(w.span.start, order, n, w) for n, w in enumerate(self.words_of(word_tier, phone_tier))]
        return [w for *_, w in sorted(words, key=lambda item: item[:3])]

    def words_of(self, word_tier, phone_tier):
        """The Words of the word tier at position `word_tier`, with the phones of the one at `phone_tier`."""
        own = [Word(self.tiers[word_tier].name, span) for span in self.tiers[word_tier].spans]
        starts = [w.span.start for w in own]
        for phone in self.tiers[phone_tier].spans if phone_tier is not None else []:
            word = _containing(own, starts, (phone.start + phone.end) / 2)
            if word is not None:
                word.phones.append(phone)
        return own

    def other_tiers(self):
        """The interval tiers that are neither word tiers nor the phone tier of one."""
        paired = {position for pair in self.tier_positions() for position in pair if position is not None}
        return [t for n, t in enumerate(self.tiers) if n not in paired]


def _prefix(name, suffixes):
    """"" for "words", "speaker A" for "speaker A - words", None for a tier of another kind."""
    lowered = name.strip().lower()
    for suffix in suffixes:
        if lowered == suffix:
            return ""
        if lowered.endswith(SPEAKER_SEPARATOR + suffix):
            return lowered[: -len(SPEAKER_SEPARATOR + suffix)].strip()
    return None


def _containing(words, starts, time):
    index = bisect.bisect_right(starts, time) - 1
    if index >= 0 and words[index].span.start <= time <= words[index].span.end:
        return words[index]
    return None


def read_result(path, *, recording, result):
    """The Alignment of the TextGrid at `path`, or NotConvertible when it is not one."""
    try:
        # "rename": Praat allows two tiers of one name, ELAN does not; praatio numbers the second.
        grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=False, reportingMode="silence",
                                     duplicateNamesMode="rename")
    except Exception as exc:  # praatio raises many kinds (its own, ValueError, IndexError) for a broken file
        raise NotConvertible(f"{result} cannot be read as a TextGrid") from exc
    return alignment_of(grid, recording=recording, result=result)


def alignment_of(grid, *, recording, result):
    """The Alignment of a praatio TextGrid already open (the result picture has one): as `read_result`."""
    tiers = []
    for name, exported in export_names(grid).items():
        spans = [Span(float(e.start), float(e.end), e.label.strip()) for e in grid.getTier(name).entries
                 if e.label.strip()]
        tiers.append(Tier(exported, spans))
    return Alignment(recording=recording, result=result, duration=float(grid.maxTimestamp),
                     tiers=_with_confidence(tiers))


def export_names(grid):
    """{name in `grid` (praatio): its name in every export} of its interval tiers, in its order: the one naming
    rule, which the picture follows too."""
    names, taken = {}, set()
    for number, name in enumerate(grid.tierNames, start=1):
        if isinstance(grid.getTier(name), textgrid.IntervalTier):
            names[name] = _unique(_tier_name(name, number), taken)
    return names


def confidence_of(name, names):
    """The tier whose values the tier `name` holds ("words" for "words confidence"), or None when it is a tier
    of its own; `names`: every tier's export name. The one pairing rule, which the picture follows too."""
    if name.endswith(CONFIDENCE_SUFFIX) and name[: -len(CONFIDENCE_SUFFIX)] in names:
        return name[: -len(CONFIDENCE_SUFFIX)]
    return None


def _tier_name(name, number):
    """`name` as every format can hold it: without what XML cannot hold (ELAN), stripped; Praat allows a tier
    without a name, ELAN needs one."""
    return _NOT_XML.sub("", name).strip() or f"tier {number}"


def _unique(name, taken):
    """`name`, or "name (2)", "name (3)"… when a tier already has it, as the names become one after stripping
    and cleaning (" words" and "words"): ELAN keeps one tier of a name, the JSON's words would be of one."""
    unique, number = name, 1
    while unique in taken:
        number += 1
        unique = f"{name} ({number})"
    taken.add(unique)
    return unique


def _with_confidence(tiers):
    """`tiers` with the values of each "<tier> confidence" tier as its intervals' confidence, and without those
    tiers: the TextGrid's way of carrying confidence (a number 0-1 per interval; any other label is none)."""
    names = {t.name for t in tiers}
    values = {confidence_of(t.name, names): t for t in tiers if confidence_of(t.name, names) is not None}
    result = []
    for tier in tiers:
        if confidence_of(tier.name, names) is not None:
            continue
        source = values.get(tier.name)
        if source is not None:
            starts = [s.start for s in source.spans]
            tier = Tier(tier.name, [Span(s.start, s.end, s.label, _number(_at(source.spans, starts, s)))
                                    for s in tier.spans])
        result.append(tier)
    return result


def _at(spans, starts, span):
    """The label of the interval of `spans` that holds the middle of `span`, or ""."""
    middle = (span.start + span.end) / 2
    index = bisect.bisect_right(starts, middle) - 1
    return spans[index].label if index >= 0 and spans[index].start <= middle <= spans[index].end else ""


def _number(label):
    try:
        value = float(label)
    except ValueError:
        return None
    return value if 0 <= value <= 1 else None  # also leaves out nan


def export_name(result, format):
    """The file name of `result` (a TextGrid's name) in `format`: a.TextGrid -> a.eaf."""
    stem = result[: -len(".textgrid")] if result.lower().endswith(".textgrid") else result
    return stem + FORMATS[format][1]


def write(alignment, format):
    """The bytes of `alignment` in `format` (a key of FORMATS), or NotConvertible when its writer fails."""
    writer = {"eaf": to_eaf, "csv": lambda a: to_csv([a]), "json": to_json}[format]
    try:
        return writer(alignment)
    except Exception as exc:  # pympi raises ValueError for what ELAN refuses; one odd result must not be a 500
        raise NotConvertible(f"{alignment.result} cannot be written as {FORMATS[format][0]}") from exc


# CSV ------------------------------------------------------------------------------------------------


def _seconds(value):
    return f"{value:.3f}"


def _confidence(value):
    return "" if value is None else f"{value:.3f}"


def to_csv(alignments, *, header=True):
    """One row per labelled interval of every interval tier of each alignment, as UTF-8 bytes.

    No byte-order mark (R's read.csv would make it part of the first column's name) and no "CSV
    injection" apostrophes as report.csv has: this table is data for R and pandas, and a changed
    label would no longer match the TextGrid.
    """
    out = io.StringIO()
    writer = csv.writer(out)
    if header:
        writer.writerow(CSV_COLUMNS)
    for alignment in alignments:
        for tier in alignment.tiers:
            for span in tier.spans:
                writer.writerow([alignment.recording, tier.name, _seconds(span.start), _seconds(span.end),
                                 span.label, _confidence(span.confidence)])
    return out.getvalue().encode("utf-8")


# JSON -----------------------------------------------------------------------------------------------


def _span_json(span, **extra):
    return {"start": span.start, "end": span.end, "label": span.label, "confidence": span.confidence, **extra}


def to_json_data(alignment):
    """The JSON document of one recording as Python data (docs/users/alignment.schema.json)."""
    return {
        "version": JSON_VERSION,
        "file": alignment.recording,
        "result": alignment.result,
        "duration": alignment.duration,
        "words": [_span_json(w.span, tier=w.tier, phones=[_span_json(p) for p in w.phones])
                  for w in alignment.words()],
        "tiers": [{"name": t.name, "intervals": [{"start": s.start, "end": s.end, "label": s.label}
                                                 for s in t.spans]}
                  for t in alignment.other_tiers()],
    }


def to_json(alignment):
    return (json.dumps(to_json_data(alignment), ensure_ascii=False, indent=1) + "\n").encode("utf-8")


# ELAN -----------------------------------------------------------------------------------------------

# Phones are a time-aligned child tier of type "Included_In": each phone keeps its own times and must
# lie inside its word, and gaps are allowed. "Time_Subdivision" would force a word's phones to fill it
# exactly, which a third-party aligner's rounding or a missing phone breaks; "Symbolic_Subdivision"
# would drop the phones' times, which are the point of a forced alignment.
WORD_TYPE, PHONE_TYPE, OTHER_TYPE, CONFIDENCE_TYPE = "words", "phones", "intervals", "confidence"


def _ms(seconds):
    return round(seconds * 1000)


def media_type(recording):
    """The MIME type ELAN expects for the recording (its own names for WAV and MPEG)."""
    extension = extension_of(recording)
    return Elan.Eaf.MIMES.get(extension) or mimetypes.guess_type(recording)[0] or "application/octet-stream"


def to_eaf(alignment):
    """An ELAN document: word tiers with their phone tiers as children, other interval tiers, linked to the
    recording by its name (ELAN finds it next to the .eaf), as UTF-8 bytes.

    Times are whole milliseconds, as EAF stores them; an interval shorter than half a millisecond has
    no length left and is not written.
    """
    alignment = _for_xml(alignment)
    eaf = Elan.Eaf(author="Equestria")
    eaf.remove_tier("default")
    eaf.remove_linguistic_type("default-lt")
    eaf.header = {"MEDIA_FILE": "", "TIME_UNITS": "milliseconds"}  # as ELAN writes it
    eaf.add_linguistic_type(WORD_TYPE)
    eaf.add_linguistic_type(PHONE_TYPE, constraints="Included_In")
    eaf.add_linguistic_type(OTHER_TYPE)
    eaf.add_linguistic_type(CONFIDENCE_TYPE, constraints="Symbolic_Association", timealignable=False)
    # ELAN looks for the media at MEDIA_URL, then at RELATIVE_MEDIA_URL next to the .eaf: the researcher
    # keeps the recording beside the .eaf, as ELAN's manual recommends.
    eaf.add_linked_file(f"file:///{quote(alignment.recording)}", relpath=f"./{alignment.recording}",
                        mimetype=media_type(alignment.recording))
    # A speaker's utterance tier ("speaker A", kept from a TextGrid given as the transcript) comes just before
    # its words, as in the TextGrid; other tiers after all of them.
    others = {tier.name.strip().lower(): tier for tier in alignment.other_tiers()}

    def write_other(tier):
        eaf.add_tier(tier.name, ling=OTHER_TYPE)
        for span in tier.spans:
            _annotate(eaf, tier.name, span)

    for word_position, phone_position in alignment.tier_positions():
        own = alignment.words_of(word_position, phone_position)
        word_tier = alignment.tiers[word_position].name
        speaker = others.pop(_prefix(word_tier, WORD_TIER_NAMES) or "", None)
        if speaker is not None:
            write_other(speaker)
        phone_tier = None if phone_position is None else alignment.tiers[phone_position].name
        eaf.add_tier(word_tier, ling=WORD_TYPE)
        # (annotation id, confidence) of each annotation as it is written: the confidence tiers refer to the ids
        # (pympi's add_ref_annotation would search the parent tier for each, the square of the word count).
        written_words = [(_annotate(eaf, word_tier, word.span), word.span.confidence) for word in own]
        written_phones = []
        if phone_tier:
            eaf.add_tier(phone_tier, ling=PHONE_TYPE, parent=word_tier)
            for word in own:
                for phone in word.phones:
                    # Clipped to its word: ELAN refuses a child that sticks out, by even a millisecond.
                    aid = _annotate(eaf, phone_tier, Span(max(phone.start, word.span.start),
                                                          min(phone.end, word.span.end), phone.label))
                    written_phones.append((aid, phone.confidence))
        _confidence_tier(eaf, word_tier + CONFIDENCE_SUFFIX, word_tier, written_words)
        if phone_tier:
            _confidence_tier(eaf, phone_tier + CONFIDENCE_SUFFIX, phone_tier, written_phones)
    for tier in others.values():
        write_other(tier)
    # ELAN numbers the annotations a researcher adds from this; pympi leaves it at 0.
    eaf.properties = [(key, eaf.maxaid if key == "lastUsedAnnotation" else value) for key, value in eaf.properties]
    # Serialised as text, then encoded: ElementTree writing UTF-8 itself is about 3 times slower.
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + Elan.to_string(eaf)).encode("utf-8")


# Characters XML 1.0 cannot hold at all (control characters other than tab and line breaks, lone surrogates).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _for_xml(alignment):
    """`alignment` without the characters XML 1.0 cannot hold in its names and labels: kept, they would make
    the whole file one that ELAN cannot open."""
    def clean(text):
        return _NOT_XML.sub("", text)

    tiers = [Tier(clean(t.name), [Span(s.start, s.end, clean(s.label), s.confidence) for s in t.spans])
             for t in alignment.tiers]
    return Alignment(clean(alignment.recording), clean(alignment.result), alignment.duration, tiers)


def _annotate(eaf, tier, span):
    """The id of the annotation of `span` on `tier`, or None when it has no length in milliseconds to write."""
    start, end = _ms(span.start), _ms(span.end)
    if end > start >= 0:
        eaf.add_annotation(tier, start, end, span.label)
        return f"a{eaf.maxaid}"  # the id pympi's add_annotation just gave it (it returns none)
    return None


def _confidence_tier(eaf, name, parent, written):
    """A child tier with each annotation's confidence, only when the aligner gave any (issue 17, item 2).
    `written`: [(id of the parent's annotation or None when it was not written, its confidence)]."""
    if all(confidence is None for _, confidence in written):
        return
    eaf.add_tier(name, ling=CONFIDENCE_TYPE, parent=parent)
    for ref, confidence in written:
        if ref is not None and confidence is not None:
            aid = eaf.generate_annotation_id()
            eaf.annotations[aid] = name
            eaf.tiers[name][1][aid] = (ref, f"{confidence:.3f}", None, None)  # as add_ref_annotation stores it
