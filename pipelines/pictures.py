"""The picture of one result: the waveform with the word and phone tiers under it, as SVG data.

A result of a transcript given as utterance tiers has each speaker's utterance, words and phones tiers
("speaker A", "speaker A - words", "speaker A - phones"); every drawn tier gets a line of its own.

Words and phones with a confidence (a TextGrid's "<tier> confidence" tiers, read by pipelines.exports, the
one reader of them) carry it to their tooltip; those below LOW_CONFIDENCE are marked. The confidence tiers
themselves are not drawn: their values are the marks.
"""

import bisect
import re

import numpy as np
import soundfile
from praatio import textgrid

from pipelines import exports
from pipelines.exports import LOW_CONFIDENCE  # the exports' threshold, which the run page shows too

WIDTH = 1000
WORDS_TO_CHECK = 10  # per recording, on the run page


def confidences(grid):
    """{tier name in `grid`: {(start, end) rounded to the ms: confidence}} of the tiers of `grid` (praatio) that
    have one, read as every export reads them (pipelines.exports)."""
    alignment = exports.alignment_of(grid, recording="", result="")
    values = {t.name: {_key(s.start, s.end): s.confidence for s in t.spans if s.confidence is not None}
              for t in alignment.tiers}
    return {name: values[exported] for name, exported in exports.export_names(grid).items() if values.get(exported)}


def _key(start, end):
    return round(float(start), 3), round(float(end), 3)


def _drawn_tiers(grid):
    """The interval tiers to draw: all but the "<tier> confidence" tiers of another tier, paired as the exports
    pair them (names stripped and cleaned: " words confidence" holds the values of " words")."""
    names = exports.export_names(grid)
    return [name for name, exported in names.items() if exports.confidence_of(exported, set(names.values())) is None]


def _marks(values, entry):
    """The confidence of a drawn interval (None without one) and whether it is low."""
    value = values.get(_key(entry.start, entry.end)) if entry.label else None
    return {"confidence": value, "low": value is not None and value < LOW_CONFIDENCE}


def words_to_check(alignment, limit=WORDS_TO_CHECK):
    """([(word span, its `?at=` m:ss, its time as shown, its speaker or "")] of the least confident words below
    LOW_CONFIDENCE, least first, at most `limit` (None: all); how many there are in all) of a
    pipelines.exports.Alignment.
    Times are m:ss.s in a recording drawn a window at a time, as its warnings give them. The speaker (the
    "<speaker> - words" tier's) is named only when the result has several word tiers, one per speaker."""
    several = len(alignment.tier_positions()) > 1
    low = sorted((w for w in alignment.words() if w.span.confidence is not None
                  and w.span.confidence < LOW_CONFIDENCE), key=lambda w: (w.span.confidence, w.span.start))
    long = alignment.duration > WHOLE_SECONDS
    return [(w.span, clock(max(0.0, w.span.start - LEAD_SECONDS)), clock(w.span.start, 1) if long
             else f"{w.span.start:.2f} s", (speaker_of(w.tier) or w.tier) if several else "")
            for w in low[:limit]], len(low)


def speaker_of(tier):
    """"speaker A" of a word tier "speaker A - words" ("" of "words", None of a tier that holds no words): the
    naming of pipelines.exports (WORD_TIER_NAMES, SPEAKER_SEPARATOR), the speaker as the result writes it."""
    lowered = tier.strip().lower()
    for suffix in exports.WORD_TIER_NAMES:
        ending = exports.SPEAKER_SEPARATOR + suffix
        if lowered == suffix:
            return ""
        if lowered.endswith(ending):
            return tier.strip()[: -len(ending)].strip()
    return None


def is_word_tier(name):
    """Whether a drawn tier holds words ("words", "speaker A - words"): their labels get the larger font."""
    return speaker_of(name) is not None


# Tiers are drawn under the waveform (100 px high, its time labels below it), each TIER_STEP apart.
TIERS_TOP = 118
TIER_STEP = 50


def _placed(tiers):
    """`tiers` (dicts with a "name") with the y of each and whether it holds words, one under another."""
    for number, tier in enumerate(tiers):
        tier["y"] = TIERS_TOP + number * TIER_STEP
        tier["words"] = is_word_tier(tier["name"])
    return tiers


def waveform(path, columns=WIDTH):
    """[(min, max)] per column, in -1..1, read block by block so long files stay cheap."""
    info = soundfile.info(str(path))
    per_column = max(1, info.frames // columns)
    result = []
    for block in soundfile.blocks(str(path), blocksize=per_column, dtype="float32", always_2d=True):
        mono = block.mean(axis=1)
        result.append((float(mono.min()), float(mono.max())))
        if len(result) >= columns:
            break
    peak = max((max(abs(lo), abs(hi)) for lo, hi in result), default=1.0) or 1.0
    return [(lo / peak, hi / peak) for lo, hi in result], info.frames / info.samplerate


def picture(audio_path, grid_path, width=WIDTH):
    """Everything the template needs to draw the SVG."""
    columns, duration = waveform(audio_path, width)
    grid = textgrid.openTextgrid(str(grid_path), includeEmptyIntervals=True)
    values = confidences(grid)
    scale = width / max(duration, 1e-6)
    tiers = []
    for name in _drawn_tiers(grid):  # a point tier has no spans to draw
        tier = grid.getTier(name)
        tiers.append(
            {
                "name": name,
                "intervals": [
                    {"x": e.start * scale, "w": max(0.5, (e.end - e.start) * scale), "label": e.label,
                     "start": e.start, "end": e.end, "mid": (e.start + e.end) / 2 * scale,
                     # Labels that do not fit stay in the tooltip only.
                     "fits": (e.end - e.start) * scale >= (7 if is_word_tier(name) else 6) * len(e.label),
                     **_marks(values.get(name, {}), e)}
                    for e in tier.entries
                ],
            }
        )
    step = width / max(1, len(columns))
    wave = [{"x": i * step, "y1": 50 - hi * 48, "y2": 50 - lo * 48} for i, (lo, hi) in enumerate(columns)]
    ticks = [{"x": t * scale, "t": t} for t in np.arange(0, duration, max(0.5, round(duration / 10, 1)))]
    return {"width": width, "duration": duration, "wave": wave, "tiers": _placed(tiers), "ticks": ticks,
            "height": TIERS_TOP + TIER_STEP * len(tiers) + 2, "has_confidence": bool(values)}


# Long recordings are drawn a window at a time: the whole of an hour is 40,000 intervals, too many to
# draw, label or hover. The server draws only the window asked for, in rows of 200 pixels a second,
# where the labels of most words of fluent speech fit (at 100, most of espeak-ng's did not).
WHOLE_SECONDS = 60.0  # recordings up to this long are drawn whole, as `picture` always did
WINDOW_SECONDS = 30.0
ROW_SECONDS = 5.0
ROW_SPACE = 12  # between a row's last tier and the next row's waveform
WAVE_COLUMN = 2  # pixels per waveform column in a window's rows
QUIET_PEAK = 0.02  # a window quieter than this is not scaled up further, so noise stays small
LEAD_SECONDS = 2.0  # a link to a time opens the window a little before it, to show what comes first
_TIME = re.compile(r"^(?:(\d{1,3}):)??(?:(\d{1,4}):)?(\d{1,12}(?:\.\d{0,6})?)$")
_MENTIONED = re.compile(r"(?<![\d.:])(?:\d{1,3}:)?\d{1,4}:\d{2}(?:\.\d+)?(?![\d:])|(?<![\w.])\d+(?:\.\d+)? s\b")


class BadTime(ValueError):
    """A time that cannot be read; the message says how to write one."""


def clock(seconds, decimals=0):
    """m:ss (h:mm:ss from an hour on), with `decimals` of the seconds; rounded down, never up past the end."""
    scale = 10**decimals
    hundredths = int(seconds * scale + 1e-6)
    whole, fraction = divmod(hundredths, scale)
    hours, rest = divmod(whole, 3600)
    text = f"{hours}:{rest // 60:02}:{rest % 60:02}" if hours else f"{rest // 60}:{rest % 60:02}"
    return f"{text}.{fraction:0{decimals}}" if decimals else text


def parse_time(text):
    """Seconds from "12:30", "1:02:03", "750" or "750.5" (negative allowed: the caller clamps it)."""
    text = (text or "").strip()
    sign = -1 if text.startswith("-") else 1
    match = _TIME.match(text.lstrip("-").strip()) if len(text) <= 20 else None
    if not match:
        raise BadTime(f"“{text[:20]}” is not a time: write minutes and seconds (12:30) or seconds (750).")
    hours, minutes, seconds = match.groups()
    return sign * (int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds))


def mentioned_times(text):
    """`text` as [(part, seconds or None)]: the times it mentions ("12:31", "751.2 s") with their seconds."""
    parts, position = [], 0
    for match in _MENTIONED.finditer(text):
        try:
            at = parse_time(match.group().removesuffix(" s"))
        except BadTime:  # a number that only looks like a time: the text stays, unlinked
            continue
        parts.append((text[position:match.start()], None))
        parts.append((match.group(), at))
        position = match.end()
    parts.append((text[position:], None))
    return [(part, seconds) for part, seconds in parts if part]


def linked_warnings(texts):
    """Each warning as [(part, None or the m:ss of the window to link it to)]: where to look is what a
    warning is for, so each time it mentions opens its window (a little before it)."""
    return [[(part, None if at is None else clock(max(0.0, at - LEAD_SECONDS))) for part, at in mentioned_times(text)]
            for text in texts]


def window_start(text, seconds):
    """(start, a note for the researcher or "") of the window `text` (the page's `?at=`) asks for in a
    recording of `seconds`: a time that cannot be read, or is outside the recording, is told, not an error."""
    if not text.strip():
        return 0.0, ""
    try:
        start = parse_time(text)
    except BadTime as exc:
        return 0.0, f"{exc} Showing the start of the recording."
    if start < 0:
        return 0.0, "Times start at 0:00: showing the start of the recording."
    if start >= seconds:  # `window` clamps it to the last window
        return start, f"The recording is {clock(seconds)} long: showing its end."
    return start, ""


def duration(audio_path):
    info = soundfile.info(str(audio_path))
    return info.frames / info.samplerate


def window(audio_path, grid_path, start, width=WIDTH):
    """The window of WINDOW_SECONDS from `start` (clamped to the recording) in rows of ROW_SECONDS.

    The TextGrid is parsed once; each row takes only the intervals it shows (found by bisection),
    and only the window's samples are read: the work per window does not grow with the recording.
    """
    info = soundfile.info(str(audio_path))
    total = info.frames / info.samplerate
    start = min(max(0.0, start), max(0.0, total - WINDOW_SECONDS))
    end = min(total, start + WINDOW_SECONDS)
    first = int(start * info.samplerate)
    samples = soundfile.read(str(audio_path), start=first, stop=int(end * info.samplerate), dtype="float32",
                             always_2d=True)[0].mean(axis=1)
    peak = max(QUIET_PEAK, float(np.abs(samples).max(initial=0.0)))
    grid = textgrid.openTextgrid(str(grid_path), includeEmptyIntervals=True)
    values = confidences(grid)
    tiers = [(name, grid.getTier(name).entries) for name in _drawn_tiers(grid)]
    scale = width / ROW_SECONDS
    # Every tier of every speaker is drawn: a row is as high as its tiers need (two tiers: 230 px).
    row_height = TIERS_TOP + TIER_STEP * len(tiers) + ROW_SPACE
    rows = []
    for number, row_start in enumerate(np.arange(start, end - 1e-6, ROW_SECONDS)):
        row_end = min(end, row_start + ROW_SECONDS)
        row = samples[int((row_start - start) * info.samplerate):int((row_end - start) * info.samplerate)]
        rows.append({
            "y": number * row_height,
            "width": (row_end - row_start) * scale,
            "wave": _wave_path(row, peak, int((row_end - row_start) * scale / WAVE_COLUMN)),
            "ticks": [{"x": (t - row_start) * scale, "t": clock(t)}
                      for t in range(int(np.ceil(row_start)), int(np.ceil(row_end)))],
            "tiers": _placed([{"name": name, "intervals": _intervals(entries, row_start, row_end, scale, name,
                                                                     values.get(name, {}))}
                              for name, entries in tiers]),
        })
    return {"width": width, "height": len(rows) * row_height, "duration": total, "start": start, "end": end,
            "rows": rows, "earlier": max(0.0, start - WINDOW_SECONDS) if start > 0 else None,
            "later": start + WINDOW_SECONDS if end < total else None, "has_confidence": bool(values)}


def _wave_path(samples, peak, columns):
    """The waveform as one SVG path (a vertical stroke per column): a tenth of the size of a line per column."""
    columns = max(1, min(columns, len(samples)))
    if not len(samples):
        return ""
    blocks = samples[: len(samples) // columns * columns].reshape(columns, -1)
    low, high = blocks.min(axis=1) / peak, blocks.max(axis=1) / peak
    return "".join(f"M{i * WAVE_COLUMN:.0f} {50 - hi * 48:.1f}V{50 - lo * 48:.1f}"
                   for i, (lo, hi) in enumerate(zip(low, high)))


def _intervals(entries, row_start, row_end, scale, tier_name, values):
    """The intervals of a row, clipped to it; their titles keep their whole times."""
    shown = []
    index = bisect.bisect_right(entries, row_start, key=lambda e: e.end)  # the first one ending inside the row
    while index < len(entries) and entries[index].start < row_end:
        entry = entries[index]
        left, right = max(entry.start, row_start), min(entry.end, row_end)
        shown.append({"x": (left - row_start) * scale, "w": max(0.5, (right - left) * scale),
                      "mid": ((left + right) / 2 - row_start) * scale, "label": entry.label,
                      "start": clock(entry.start, 3), "end": clock(entry.end, 3),
                      "fits": (right - left) * scale >= (7 if is_word_tier(tier_name) else 6) * len(entry.label),
                      **_marks(values, entry)})
        index += 1
    return shown
