"""Writing Praat TextGrids (with praatio): contiguous tiers from 0 to the audio's end.

A tier whose intervals have a confidence (clamservices.confidence) gets a tier "<tier> confidence"
("words confidence") with the same intervals, each labelled with its value (0.000–1.000; empty where
there is none): the convention pipelines/exports.py reads into every export format.
"""

from praatio import textgrid
from praatio.utilities.constants import Interval as PraatInterval

FORMATS = {"long": "long_textgrid", "short": "short_textgrid"}


CONFIDENCE_SUFFIX = " confidence"


def _contiguous(intervals, duration, silence_label, label=lambda interval: interval.label):
    """Intervals covering [0, duration]: gaps become silence intervals, overlaps are trimmed."""
    result, time = [], 0.0
    for interval in intervals:
        start = max(round(interval.start, 4), time)
        end = min(round(interval.end, 4), duration)
        if end <= start:
            continue
        if start > time:
            result.append(PraatInterval(time, start, silence_label))
        result.append(PraatInterval(start, end, label(interval)))
        time = end
    if time < duration:
        result.append(PraatInterval(time, duration, silence_label))
    return result


def write_textgrid(path, alignment, duration, *, phones=True, text_format="long", silence_label=""):
    duration = round(duration, 4)
    grid = textgrid.Textgrid(minTimestamp=0.0, maxTimestamp=duration)
    tiers = [("words", alignment.words)]
    if phones:
        tiers.append(("phones", [p for p in alignment.phones if p.label != "SIL"]))
    for name, intervals in tiers:
        entries = _contiguous(intervals, duration, silence_label)
        grid.addTier(textgrid.IntervalTier(name, entries, 0.0, duration))
    for name, intervals in tiers:
        if any(getattr(i, "confidence", None) is not None for i in intervals):
            # The same trimming as the tier's own, so every value lies on its interval.
            entries = _contiguous(intervals, duration, "", _confidence_label)
            grid.addTier(textgrid.IntervalTier(name + CONFIDENCE_SUFFIX, entries, 0.0, duration))
    # Blank intervals are already explicit, so praatio must not add its own.
    grid.save(str(path), format=FORMATS[text_format], includeBlankSpaces=False)


def _confidence_label(interval):
    return "" if interval.confidence is None else f"{interval.confidence:.3f}"
