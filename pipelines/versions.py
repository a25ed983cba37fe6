"""Corrected versions of a recording's result TextGrid: what the result editor and the API read and save.

A version is read as the editor shows it (`editor_tiers`): every interval tier but the confidence tiers, each
contiguous from the grid's start to its end (pauses are intervals with an empty label), each interval with its
confidence where the aligner gave one. A submitted version (`save`) is the same structure, checked here, on
the server, whatever the page did (`check`); it is written as a new TextGrid beside the run's outputs, whose
confidence tiers are rebuilt from the submitted values and whose point tiers are kept as they were.
"""

import bisect
import hashlib
import json
import math
import os
import tempfile
import uuid

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from praatio import textgrid

from pipelines import exports, pictures, results
from pipelines.models import ResultVersion, Run

MAX_LABEL = 200  # characters: a word or a phone, never a paragraph
# The largest version the editor's page or the API takes in one request: an hour's words and phones are about
# 3 MB (the site's other forms keep DATA_UPLOAD_MAX_MEMORY_SIZE, smaller).
MAX_VERSION_BYTES = 16 * 1024**2
# Shorter intervals are a slip of the mouse (and below praatio's own tolerance of overlap), not a phone.
MIN_INTERVAL = 0.001
# Boundaries a page sends back are the numbers it was given or a drag's; anything closer than this is one time.
EPSILON = 1e-6
STALE = ("This result was changed in another tab or by someone else since you opened it — reload the page to see "
         "the latest version, then make your change again.")


def too_large(limit):
    return (f"This correction is larger than {limit // 1024**2} MB, more than a result can be saved in one go; "
            "nothing was saved.")


class VersionRefused(ValueError):
    """A submitted version that breaks a rule; the message says which and where."""


# Not "set aside": since only the recordings with unknown words are aligned again, most results are kept; which ones
# is known only once the review is in.
BUSY = ("This run is finding pronunciations or aligning again, so its results may still change. Wait until it has "
        "ended, then make your corrections.")


# Between the first pass and the realignment: the realignment's results replace the first pass's (and their versions).
BUSY_STAGES = (Run.Stage.TRANSCRIBING, Run.Stage.REVIEW, Run.Stage.REALIGNING)


class Busy(VersionRefused):
    """A save while the run is between its first alignment and its realignment, whose results replace these."""

    def __init__(self):
        super().__init__(BUSY)


class StaleVersion(VersionRefused):
    """A save based on a version that is no longer the latest."""

    def __init__(self):
        super().__init__(STALE)


def _kind(name):
    """"words", "phones" or "other", with the speaker prefix that pairs a phone tier with its word tier."""
    lowered = name.strip().lower()
    for kind, suffixes in (("words", exports.WORD_TIER_NAMES), ("phones", exports.PHONE_TIER_NAMES)):
        for suffix in suffixes:
            if lowered == suffix:
                return kind, ""
            if lowered.endswith(exports.SPEAKER_SEPARATOR + suffix):
                return kind, lowered[: -len(exports.SPEAKER_SEPARATOR + suffix)].strip()
    return "other", None


def _open(path):
    try:
        return textgrid.openTextgrid(str(path), includeEmptyIntervals=True, duplicateNamesMode="rename")
    except Exception as exc:  # praatio raises many kinds (its own, ValueError, IndexError) for a broken file
        raise VersionRefused("This is not a TextGrid that Praat could open.") from exc


def _editable(grid):
    """The names of `grid`'s interval tiers that the editor shows: all but the "<tier> confidence" ones."""
    names = exports.export_names(grid)
    return [name for name, exported in names.items() if exports.confidence_of(exported, set(names.values())) is None]


def editor_tiers(path):
    """{"start", "end", "tiers": [{"name", "kind", "words" (a phone tier's word tier's position or None),
    "intervals": [{"start", "end", "label", "confidence"}]}], "points": [{"name", "points": [{"time", "label"}]}]}
    of the TextGrid at `path`. The point tiers are shown, not edited: a save keeps them as they were."""
    return _tiers_of(_open(path))


# Bumped when what `editor_tiers` gives changes, so that tiers kept by older code are not read.
TIERS_FORMAT = 2


def kept_editor_tiers(path, folder):
    """`editor_tiers(path)`, kept as JSON in `folder` under the file's path, size and modification time: parsing an
    hour's TextGrid with praatio takes seconds, and a version's file never changes once written."""
    stat = os.stat(path)
    key = hashlib.sha256(os.path.abspath(str(path)).encode()).hexdigest()[:16]
    kept = os.path.join(folder, f"{key}.{stat.st_size}.{stat.st_mtime_ns}.v{TIERS_FORMAT}.json")
    try:
        with open(kept, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        pass  # not kept yet, or cut short by a crash: read below
    tiers = editor_tiers(path)
    os.makedirs(folder, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=folder, suffix=".part", delete=False) as handle:
        json.dump(tiers, handle)
    os.replace(handle.name, kept)  # whole or not at all, for a second tab reading it meanwhile
    return tiers


def _tiers_of(grid):
    values = pictures.confidences(grid)
    tiers = []
    for name in _editable(grid):
        confidence = values.get(name, {})
        intervals = [{"start": float(e.start), "end": float(e.end), "label": e.label,
                      "confidence": confidence.get(pictures._key(e.start, e.end)) if e.label.strip() else None}
                     for e in grid.getTier(name).entries]
        kind, prefix = _kind(name)
        tiers.append({"name": name, "kind": kind, "prefix": prefix, "intervals": intervals})
    for tier in tiers:  # a phone tier is the child of the first word tier of its prefix
        tier["words"] = next((n for n, t in enumerate(tiers) if tier["kind"] == "phones" and t["kind"] == "words"
                              and t["prefix"] == tier["prefix"]), None)
    for tier in tiers:
        del tier["prefix"]
    points = [{"name": name, "points": [{"time": float(p.time), "label": p.label} for p in grid.getTier(name).entries]}
              for name in grid.tierNames if isinstance(grid.getTier(name), textgrid.PointTier)]
    return {"start": float(grid.minTimestamp), "end": float(grid.maxTimestamp), "tiers": tiers, "points": points}


def _number(value, what):
    try:
        # float() of an integer too large for a float (1e400 written out) overflows rather than giving inf.
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
            raise OverflowError
    except OverflowError:
        raise VersionRefused(f"{what} must be a number of seconds.") from None
    return float(value)


def _seconds(value):
    """`value` seconds with as many decimals (3 to 6) as tell it apart from its neighbours."""
    for decimals in range(3, 7):
        if abs(round(value, decimals) - value) < EPSILON / 2:
            break
    return f"{value:.{decimals}f}"


def _text(value, what):
    """`value` if it can be written as UTF-8 (a lone surrogate from JSON's "\\ud800" cannot)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise VersionRefused(f"{what} has a character that is not text (a lone UTF-16 surrogate); "
                             "retype it.") from None
    return value


def check(base, submitted, audio_duration):
    """The tiers of `submitted` (parsed JSON: a list of {"name", "intervals"}) cleaned, or VersionRefused with
    what is wrong and where. `base`: editor_tiers of the version it was made from."""
    if not isinstance(submitted, list) or not all(isinstance(t, dict) for t in submitted):
        raise VersionRefused("Send the tiers as a list of {\"name\", \"intervals\"}.")
    names = [t.get("name") for t in submitted]
    expected = [t["name"] for t in base["tiers"]]
    if names != expected:
        raise VersionRefused(f"The tiers must be those of the result, in its order: {', '.join(expected)}; "
                             f"these are: {', '.join(str(n) for n in names) or 'none'}.")
    cleaned = []
    for tier in submitted:
        cleaned.append({"name": tier["name"], "intervals": _check_tier(tier, base, audio_duration)})
    for position, tier in enumerate(base["tiers"]):
        if tier["words"] is not None:
            _check_phones(cleaned[position], cleaned[tier["words"]])
    return cleaned


def _check_tier(tier, base, audio_duration):
    name, intervals = tier["name"], tier.get("intervals")
    if not isinstance(intervals, list) or not intervals:
        raise VersionRefused(f"Tier “{name}” has no intervals: send them as a list of {{\"start\", \"end\", \"label\"}}.")
    cleaned, time = [], base["start"]
    for interval in intervals:
        if not isinstance(interval, dict):
            raise VersionRefused(f"Tier “{name}”: each interval is an object with a start, an end and a label.")
        start = _number(interval.get("start"), f"Tier “{name}”: the start of each interval")
        end = _number(interval.get("end"), f"Tier “{name}”: the end of each interval")
        label = interval.get("label", "")
        confidence = interval.get("confidence")
        if not isinstance(label, str):
            raise VersionRefused(f"Tier “{name}”: the label of the interval at {start:.3f} s must be text.")
        _text(label, f"Tier “{name}”: the label of the interval at {start:.3f} s")
        if len(label) > MAX_LABEL:
            raise VersionRefused(f"Tier “{name}”: the label at {start:.3f} s is {len(label)} characters long; "
                                 f"a label has at most {MAX_LABEL}.")
        if confidence is not None and not (isinstance(confidence, (int, float)) and not isinstance(confidence, bool)
                                           and 0 <= confidence <= 1):
            raise VersionRefused(f"Tier “{name}”: a confidence is a number from 0 to 1, or null.")
        if abs(start - time) > EPSILON:
            where = "the start of the recording" if not cleaned else f"where the one before it ends ({time:.3f} s)"
            raise VersionRefused(f"Tier “{name}”: the interval at {start:.3f} s does not start {where}: "
                                 "intervals follow each other without gaps or overlaps.")
        # Against `time`, not `start`: the start within the tolerance may be a hair before the previous end.
        if end <= time:
            raise VersionRefused(f"Tier “{name}”: the interval at {_seconds(time)} s ends at {_seconds(end)} s, not "
                                 "after it starts: boundaries must stay in order.")
        if end - time < MIN_INTERVAL - EPSILON:
            raise VersionRefused(f"Tier “{name}”: the interval at {_seconds(time)} s is {(end - time) * 1000:.3f} ms "
                                 f"long; an interval lasts at least {MIN_INTERVAL * 1000:g} ms.")
        cleaned.append({"start": time, "end": end, "label": label, "confidence": confidence})
        time = end
    if abs(time - base["end"]) > EPSILON:
        raise VersionRefused(f"Tier “{name}” ends at {time:.3f} s; it must run to the end of the result, "
                             f"{base['end']:.3f} s.")
    cleaned[-1]["end"] = base["end"]
    # The last interval ends where the grid ends, even when the aligner made that a hair past the audio's end.
    for interval in cleaned[:-1]:
        if interval["end"] > audio_duration + EPSILON:
            raise VersionRefused(f"Tier “{name}”: a boundary at {interval['end']:.3f} s is after the end of the "
                                 f"recording ({audio_duration:.3f} s).")
    return cleaned


def _check_phones(phones, words):
    """Every labelled phone inside one interval of its word tier: no word boundary may cut a phone."""
    edges = [w["end"] for w in words["intervals"][:-1]]  # in order: checked before
    for phone in phones["intervals"]:
        if not phone["label"].strip():
            continue
        after = bisect.bisect_right(edges, phone["start"] + EPSILON)
        cut = edges[after] if after < len(edges) and edges[after] < phone["end"] - EPSILON else None
        if cut is not None:
            raise VersionRefused(f"The phone “{phone['label']}” at {_seconds(phone['start'])}–{_seconds(phone['end'])} s "
                                 f"crosses the word boundary at {_seconds(cut)} s: a phone must lie inside its word.")


def tiers_of_textgrid(text):
    """The submitted tiers of a TextGrid given as text (the API's other way to send a version)."""
    if not isinstance(text, str):
        raise VersionRefused("Send the TextGrid as text.")
    _text(text, "The TextGrid")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "version.TextGrid")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        return _tiers_of(_open(path))["tiers"]


def save(run, name, user, base_number, tiers, audio_duration, base_alignment=None, source=None):
    """Saves `tiers` (as `check` takes them) as the next version of the result `name`, made from version
    `base_number` of the alignment `base_alignment` (`alignment(run)` when the base was read; None: not checked);
    returns its number. StaleVersion when the base is not the latest (another tab saved, or the run was realigned
    since: its new result has version numbers of its own); Busy while the run is being realigned.

    `source`: the number of an older version the researcher started from (the editor opened on it, read-only, then
    "Start a new version from this one"), or None. The base is still the latest, which the page had when it
    opened, so that a save meanwhile is not overwritten unseen; the older version's intervals keep their confidence."""
    if run.stage in BUSY_STAGES:
        raise Busy()
    current = results.result_version(run, name)
    if base_number != current.number or (base_alignment is not None and base_alignment != alignment(run)):
        raise StaleVersion()
    if source is not None and (isinstance(source, bool) or not isinstance(source, int)
                               or not 0 <= source <= base_number):
        raise VersionRefused(f"There is no version “{source}” of this result to start from: \"from\" is the number "
                             f"of one of its versions, 0 to {base_number}.")
    try:
        base_grid = _open(current.path)
    except VersionRefused:
        raise VersionRefused("This result cannot be read as a TextGrid, so it cannot be edited here.") from None
    base = _tiers_of(base_grid)
    origins = [base]
    if source not in (None, base_number):
        origins.append(editor_tiers(results.result_version(run, name, source).path))
    cleaned = _drop_changed_confidence(origins, check(base, tiers, audio_duration))
    if _same(base["tiers"], cleaned):  # a version identical to its base would only lengthen the list
        raise VersionRefused(f"Nothing has changed since version {base_number}: there is nothing to save.")
    with tempfile.TemporaryDirectory() as folder:
        local = os.path.join(folder, "version.TextGrid")
        _grid(base_grid, cleaned).save(local, format="long_textgrid", includeBlankSpaces=True)
        with open(local, "rb") as handle:
            stored = default_storage.save(f"{run.folder}/versions/{uuid.uuid4().hex}.TextGrid", File(handle))
    try:
        with transaction.atomic():
            ResultVersion.objects.create(run=run, process=run.result_process, result=name, number=base_number + 1,
                                         author=user, textgrid=stored)
    except IntegrityError:  # another save on the same base got there first
        default_storage.delete(stored)
        raise StaleVersion() from None
    return base_number + 1


def _same(before, after):
    def shape(tiers):
        return [[(round(i["start"], 6), round(i["end"], 6), i["label"]) for i in t["intervals"]] for t in tiers]
    return shape(before) == shape(after)


def alignment(run):
    """Which alignment of the run its results are (the first pass or the realignment): with a version number,
    what a save names as its base, as the numbers start again at 0 after a realignment."""
    return str(run.result_process.pk)


def _drop_changed_confidence(origins, tiers):
    """`tiers` with no confidence on an interval whose start, end or label is in none of `origins` (the base, and the
    older version a save started from): the aligner's confidence was about the interval it made (the editor's page
    clears it as well; an API client may not)."""
    for position, tier in enumerate(tiers):
        kept = {(round(i["start"], 6), round(i["end"], 6), i["label"])
                for origin in origins for i in origin["tiers"][position]["intervals"]}
        for interval in tier["intervals"]:
            if (round(interval["start"], 6), round(interval["end"], 6), interval["label"]) not in kept:
                interval["confidence"] = None
    return tiers


def _grid(base, tiers):
    """A praatio TextGrid with the tiers of `base` in its order: the edited ones from `tiers`, their confidence
    tiers rebuilt from the submitted values, the point tiers as they were."""
    edited = {t["name"]: t["intervals"] for t in tiers}
    exported = exports.export_names(base)
    by_export = {exported[n]: n for n in edited}
    grid = textgrid.Textgrid(base.minTimestamp, base.maxTimestamp)
    for name in base.tierNames:
        tier = base.getTier(name)
        source = edited.get(name)
        if source is None and name in exported:
            of = exports.confidence_of(exported[name], set(exported.values()))
            if of is not None and of in by_export:
                values = [(i["start"], i["end"], f"{i['confidence']:.3f}") for i in edited[by_export[of]]
                          if i["confidence"] is not None and i["label"].strip()]
                tier = textgrid.IntervalTier(name, values, base.minTimestamp, base.maxTimestamp)
        elif source is not None:
            # Empty intervals too: left out, two empty neighbours (a word emptied next to a pause) became one,
            # and the boundary the researcher put between them was lost.
            tier = textgrid.IntervalTier(name, [(i["start"], i["end"], i["label"]) for i in source],
                                         base.minTimestamp, base.maxTimestamp)
        grid.addTier(tier)
    return grid


def parse_body(body):
    """(base version, its alignment or None, submitted tiers, the older version it started from or None) of a JSON
    body {"base": n, "alignment": a, "from": m, "tiers": [...]} or {"base": n, "alignment": a, "textgrid": "..."}."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise VersionRefused("Send the version as JSON: {\"base\": the version you edited, \"tiers\": [...]}.") from None
    if not isinstance(data, dict):
        raise VersionRefused("Send the version as a JSON object with \"base\" and \"tiers\" (or \"textgrid\").")
    base = data.get("base")
    if isinstance(base, bool) or not isinstance(base, int) or base < 0:
        raise VersionRefused("Say which version you edited: \"base\" is its number (0 for the automatic result).")
    tiers = tiers_of_textgrid(data["textgrid"]) if "textgrid" in data else data.get("tiers")
    return base, parse_alignment(data), tiers, data.get("from")


def parse_alignment(data):
    """The "alignment" of a submitted version's body (what `alignment` gave when its base was read), or None."""
    value = data.get("alignment")
    if value is not None and not isinstance(value, str):
        raise VersionRefused("\"alignment\" is the text the version you edited came with.")
    return value



def saved_files():
    """Storage names of every saved version's TextGrid: upload.cleanup must keep them."""
    return ResultVersion.objects.values_list("textgrid", flat=True).iterator()
