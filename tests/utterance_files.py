"""Transcripts given as utterance tiers, built in code for the upload and page tests: Praat TextGrids (long and
short text format, UTF-8 or UTF-16 as Praat saves them) and ELAN files written with pympi."""

import tempfile
from pathlib import Path

from praatio import textgrid as praat
from praatio.data_classes.interval_tier import IntervalTier
from pympi import Elan

TWO_SPEAKERS = {
    "speaker A": [(0.1, 0.9, "ten of clubs"), (1.2, 1.8, "")],
    "speaker B": [(0.5, 1.4, "two of héarts")],
}


def textgrid(tiers=None, xmax=2.0, points=None, short=False, encoding="utf-8"):
    """A TextGrid of interval tiers {name: [(start, end, label)]} (gaps filled with empty intervals, as Praat
    has them) and point tiers {name: [(time, label)]}, as bytes."""
    tiers = TWO_SPEAKERS if tiers is None else tiers
    points = points or {}
    items = []
    for name, spans in tiers.items():
        intervals, at = [], 0.0
        for start, end, label in sorted(spans):
            if start > at:
                intervals.append((at, start, ""))
            intervals.append((start, end, label))
            at = end
        if at < xmax:
            intervals.append((at, xmax, ""))
        items.append(("IntervalTier", name, intervals))
    for name, marks in points.items():
        items.append(("TextTier", name, marks))
    if short:
        lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "", "0", str(xmax), "<exists>", str(len(items))]
        for cls, name, entries in items:
            lines += [f'"{cls}"', f'"{name}"', "0", str(xmax), str(len(entries))]
            for entry in entries:
                lines += [str(v) for v in entry[:-1]] + [f'"{entry[-1]}"']
    else:
        lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "", "xmin = 0", f"xmax = {xmax}",
                 "tiers? <exists>", f"size = {len(items)}", "item []:"]
        for number, (cls, name, entries) in enumerate(items, 1):
            lines += [f"    item [{number}]:", f'        class = "{cls}"', f'        name = "{name}"', "        xmin = 0",
                      f"        xmax = {xmax}"]
            if cls == "IntervalTier":
                lines.append(f"        intervals: size = {len(entries)}")
                for n, (start, end, label) in enumerate(entries, 1):
                    lines += [f"        intervals [{n}]:", f"            xmin = {start}", f"            xmax = {end}",
                              f'            text = "{label}"']
            else:
                lines.append(f"        points: size = {len(entries)}")
                for n, (time, label) in enumerate(entries, 1):
                    lines += [f"        points [{n}]:", f"            number = {time}", f'            mark = "{label}"']
    return ("\n".join(lines) + "\n").encode(encoding)


def eaf(tiers=None, dependent=None, media=()):
    """An ELAN file of top-level tiers {name: [(start, end, label)]} in seconds, and dependent (symbolic) tiers
    {name: (parent, [label of each of the parent's annotations])}, linked to `media` [(file name, MIME type, media
    offset in ms)], as bytes."""
    tiers = TWO_SPEAKERS if tiers is None else tiers
    document = Elan.Eaf(author="test")
    document.remove_tier("default")
    for url, mimetype, origin in media:
        document.add_linked_file(f"file:///recordings/{url}", relpath=f"./{url}", mimetype=mimetype,
                                 time_origin=origin)
    for name, spans in tiers.items():
        document.add_tier(name)
        for start, end, label in spans:
            document.add_annotation(name, round(start * 1000), round(end * 1000), label)
    if dependent:
        document.add_linguistic_type("translation", constraints="Symbolic_Association", timealignable=False)
        for name, (parent, labels) in dependent.items():
            document.add_tier(name, ling="translation", parent=parent)
            for (start, end, _), label in zip(tiers[parent], labels):
                document.add_ref_annotation(name, parent, round((start + end) / 2 * 1000), label)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + Elan.to_string(document)).encode("utf-8")


def speaker_result(seconds, low=None, speakers=("speaker A", "speaker B")):
    """A result TextGrid (text, Praat's long format) in the layout the bundled aligner writes for utterance tiers:
    for each speaker its utterance tier, "<speaker> - words" and "<speaker> - phones", then every tier's
    "<tier> confidence" after all of them. Speaker k says "<letter><n>" (a0, b0, …) from n + k/2 s for 0.4 s, two
    phones each; utterances are 5 s. `low`: {word label: confidence} (others get 0.95)."""
    low = low or {}
    grid, confidence = praat.Textgrid(), []
    for k, speaker in enumerate(speakers):
        letter = "abcdefgh"[k]
        words, phones, utterances = [], [], []
        for n in range(int(seconds)):
            start = n + k / 2
            if start + 0.4 > seconds:
                break
            words.append((start, start + 0.4, f"{letter}{n}"))
            phones += [(start, start + 0.2, letter.upper()), (start + 0.2, start + 0.4, "N")]
        for at in range(0, int(seconds), 5):
            said = [w for w in words if at <= w[0] < at + 5]
            if said:
                utterances.append((said[0][0], said[-1][1], " ".join(w[2] for w in said)))
        value = {w[2]: low.get(w[2], 0.95) for w in words}
        grid.addTier(IntervalTier(speaker, utterances, 0, seconds))
        grid.addTier(IntervalTier(f"{speaker} - words", words, 0, seconds))
        grid.addTier(IntervalTier(f"{speaker} - phones", phones, 0, seconds))
        confidence.append(IntervalTier(f"{speaker} - words confidence",
                                       [(s, e, f"{value[w]:.3f}") for s, e, w in words], 0, seconds))
        confidence.append(IntervalTier(f"{speaker} - phones confidence",
                                       [(s, e, f"{value[words[i // 2][2]]:.3f}") for i, (s, e, _) in enumerate(phones)],
                                       0, seconds))
    for tier in confidence:
        grid.addTier(tier)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "r.TextGrid"
        grid.save(str(path), "long_textgrid", includeBlankSpaces=True)
        return path.read_text(encoding="utf-8")
