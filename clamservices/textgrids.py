"""Writing Praat TextGrids (with praatio): contiguous tiers from 0 to the audio's end.

A tier whose intervals have a confidence (clamservices.confidence) gets a tier "<tier> confidence"
("words confidence") with the same intervals, each labelled with its value (0.000–1.000; empty where
there is none): the convention pipelines/exports.py reads into every export format. The result of a
transcript given as utterance tiers keeps those tiers, each followed by its own word and phone tiers
(`write_tiered_textgrid`).
"""

from praatio.utilities import my_math
from praatio.utilities.constants import Interval as PraatInterval
from praatio.utilities.utils import escapeQuotes

FORMATS = {"long": "long_textgrid", "short": "short_textgrid"}


CONFIDENCE_SUFFIX = " confidence"
TIER_SEPARATOR = " - "  # a tiered transcript's result: "speaker A - words" (write_tiered_textgrid)


def _contiguous(intervals, duration, silence_label, label=lambda interval: interval.label, kept=None):
    """Intervals covering [0, duration]: gaps become silence intervals, overlaps are trimmed.

    An interval left with no time of its own (past the end, or inside the one before) is not written;
    `kept`, a list, gets those that are, so that what is counted is what is written.
    """
    result, time = [], 0.0
    for interval in intervals:
        start = max(round(interval.start, 4), time)
        end = min(round(interval.end, 4), duration)
        if end <= start:
            continue
        if start > time:
            result.append(PraatInterval(time, start, silence_label))
        result.append(PraatInterval(start, end, label(interval)))
        if kept is not None:
            kept.append(interval)
        time = end
    if time < duration:
        result.append(PraatInterval(time, duration, silence_label))
    return result


def write_textgrid(path, alignment, duration, *, phones=True, text_format="long", silence_label=""):
    """The TextGrid of `alignment` at `path`, in praatio's long or short text format, written a tier at a time.

    praatio's own `save` holds the whole grid, its dictionary and its text at once: measured, 75 MB more
    for two hours of speech (16 000 words, 49 000 phones and their confidence tiers) against 6 MB for
    ten minutes. Written here with praatio's formatting of numbers and labels, one tier in memory at a time
    (tests compare the bytes with praatio's).
    """
    tiers = _alignment_tiers("", alignment, phones)
    written = [(name, intervals, silence_label, None) for name, intervals in tiers] + _confidence_tiers(tiers)
    _write(path, written, duration, text_format)


def write_tiered_textgrid(path, tiers, duration, *, phones=True, text_format="long", silence_label=""):
    """The TextGrid of a recording whose transcript was utterance tiers (clamservices.tiered), as `write_textgrid`.

    `tiers`: [(utterances.Tier, its Alignment or None)]. Each input tier comes back with its labelled intervals as
    they came (the gaps empty), followed by "<tier> - words" and "<tier> - phones" when it had utterances; the
    confidence tiers of all of them ("<tier> - words confidence") come last, the convention exports reads.

    Returns the number of words written on the word tiers (the report's "words_aligned").
    """
    written, aligned, word_tiers = [], [], set()
    for tier, alignment in tiers:
        written.append((tier.name, tier.intervals, "", _utterance_label))
        if alignment is not None:
            own = _alignment_tiers(f"{tier.name}{TIER_SEPARATOR}", alignment, phones)
            written += [(name, intervals, silence_label, None) for name, intervals in own]
            aligned += own
            word_tiers.add(own[0][0])
    kept = _write(path, written + _confidence_tiers(aligned), duration, text_format)
    return sum(kept[name] for name in word_tiers)


def _utterance_label(utterance):
    return utterance.text


def _alignment_tiers(prefix, alignment, phones):
    tiers = [(f"{prefix}words", alignment.words)]
    if phones:
        tiers.append((f"{prefix}phones", [p for p in alignment.phones if p.label != "SIL"]))
    return tiers


def _confidence_tiers(tiers):
    # The same trimming as the tier's own, so every value lies on its interval.
    return [(name + CONFIDENCE_SUFFIX, intervals, "", _confidence_label) for name, intervals in tiers
            if any(getattr(i, "confidence", None) is not None for i in intervals)]


def _write(path, written, duration, text_format):
    """[(name, intervals, silence label, label function or None)] as a TextGrid at `path`, a tier at a time.

    Returns {tier name: how many of its intervals were written}."""
    duration = round(duration, 4)
    write = _write_long if text_format == "long" else _write_short
    counts = {}
    with open(path, "w", encoding="utf-8") as out:
        out.write('File type = "ooTextFile"\nObject class = "TextGrid"\n\n')
        write(out, None, duration, len(written))
        for number, (name, intervals, silence, label) in enumerate(written, 1):
            kept = []
            entries = _contiguous(intervals, duration, silence, *([label] if label else []), kept=kept)
            counts[name] = len(kept)
            write(out, (number, name, entries), duration, len(written))
    return counts


def _write_long(out, tier, duration, count):
    end = my_math.numToStr(duration)
    if tier is None:
        out.write(f"xmin = 0 \nxmax = {end} \ntiers? <exists> \nsize = {count} \nitem []: \n")
        return
    number, name, entries = tier
    out.write(f"    item [{number}]:\n        class = \"IntervalTier\" \n        name = \"{escapeQuotes(name)}\" \n"
              f"        xmin = 0 \n        xmax = {end} \n        intervals: size = {len(entries)} \n")
    for index, (start, stop, label) in enumerate(entries, 1):
        out.write(f"        intervals [{index}]:\n            xmin = {my_math.numToStr(start)} \n"
                  f"            xmax = {my_math.numToStr(stop)} \n            text = \"{escapeQuotes(label)}\" \n")


def _write_short(out, tier, duration, count):
    end = my_math.numToStr(duration)
    if tier is None:
        out.write(f"0\n{end}\n<exists>\n{count}\n")
        return
    _, name, entries = tier
    out.write(f"\"IntervalTier\"\n\"{escapeQuotes(name)}\"\n0\n{end}\n{len(entries)}\n")
    for start, stop, label in entries:
        out.write(f"{my_math.numToStr(start)}\n{my_math.numToStr(stop)}\n\"{escapeQuotes(label)}\"\n")


def _confidence_label(interval):
    return "" if interval.confidence is None else f"{interval.confidence:.3f}"
