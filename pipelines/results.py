"""A run's results as downloads: one result in one format, the zip of them all, and the words to check of each.

The run page (pipelines.views) and the API (api.views) both call these, so a download is the same bytes under
the same name and headers whichever asked for it. A refusal is an Http404 of a kind of its own, whose message
the API shows (the site's 404 page shows none).
"""

import functools
import io
import logging
import os
import re
import time
import zipfile
from dataclasses import dataclass

from django.core.files.storage import default_storage
from django.db import connections
from django.http import Http404

from pipelines import exports, outcomes, pictures
from pipelines.models import ResultVersion
from scripts.clamnames import input_of, kept_service_names, kept_service_names_text
from scripts.filenames import split_name, stem_of
from upload import downloads
from upload.checks import SNIFF_BYTES, template_for, text_fault

log = logging.getLogger(__name__)

# The formats a result is downloaded in: its TextGrid (as the service delivered it or as last corrected), or a
# conversion.
FORMATS = {"textgrid": "TextGrid", **{key: label for key, (label, _, _) in exports.FORMATS.items()}}
ZIP_FOLDERS = {key: label for key, (label, _, _) in exports.FORMATS.items()}  # ELAN/a.eaf, CSV/a.csv, JSON/a.json
ALL_INTERVALS = "all-intervals.csv"
NOT_CONVERTED = "This result cannot be converted; download its TextGrid instead."


class NoSuchResult(Http404):
    """No output of that name in the run (yet)."""


class UnknownFormat(Http404):
    """A format that is not one of FORMATS (or "all", for the zip)."""

    def __init__(self, chosen, *, zip=False):
        choices = [*FORMATS, *(["all"] if zip else [])]
        super().__init__(f"There is no format “{chosen}”: choose one of {', '.join(choices)}.")


class NotConverted(Http404):
    """A result that cannot be written in the format asked for; it can still be downloaded as it is."""


@dataclass(frozen=True)
class Download:
    """What goes out as an attachment: a file at `path`, or the bytes `data`, or `handle`: an open file, or an
    iterator of bytes (a stream, as the results zip)."""

    name: str
    content_type: str = "application/octet-stream"
    path: str | None = None
    data: bytes | None = None
    handle: object = None


def attachment(download):
    """`download` as a response, whatever characters its name has."""
    if download.path is not None:
        try:
            content = open(download.path, "rb")
        except OSError:  # gone from the disk since the run listed it
            raise NoSuchResult(f"This run has no result named “{download.name}” any more.") from None
    elif download.data is not None:
        content = io.BytesIO(download.data)
    else:
        content = download.handle
    return downloads.attachment(content, download.name, download.content_type)


class NoSuchVersion(Http404):
    """A version number that the result does not have."""


@dataclass(frozen=True)
class Version:
    """One version of a result: 0 is the service's output, each save in the editor the next number."""

    number: int
    path: str
    author: str = ""
    created: object = None


def _output_path(run, name):
    # Outputs are listed only once their download is complete, also of a job that failed half-way.
    process = run.result_process
    if process is None or name not in process.outputs:
        raise NoSuchResult(f"This run has no result named “{name}”.")
    return os.path.join(default_storage.path(process.output_folder), name)


def _version(row):
    author = row.author.get_username() if row.author is not None else ""
    return Version(row.number, default_storage.path(row.textgrid.name), author, row.created_at)


def _saved(run):
    """The saved versions of the run's results: of its result process (a realignment's results are new ones)."""
    return ResultVersion.objects.filter(run=run, process=run.result_process).select_related("author")


def latest_versions(run, names):
    """{name: its latest Version} of the run's outputs `names`: the one place that decides which TextGrid of a
    recording every reader (picture, editor, downloads, exports, zip, API) reads. An output that is not a
    TextGrid has version 0 only."""
    saved = {}
    for row in _saved(run).filter(result__in=list(names)).order_by("number"):
        saved[row.result] = row  # ordered by number: the last one stays
    return {name: _version(saved[name]) if name in saved else Version(0, _output_path(run, name)) for name in names}


def result_version(run, name, number=None):
    """The Version `number` of the run's result `name`, or its latest one (number None)."""
    if number is None:
        return latest_versions(run, [name])[name]
    path = _output_path(run, name)
    if number == 0:
        return Version(0, path)
    row = _saved(run).filter(result=name, number=number).first()
    if row is None:
        raise NoSuchVersion(f"“{name}” has no version {number}.")
    return _version(row)


def versions(run, name):
    """Every Version of the result `name`, the service's output (0) first."""
    rows = _saved(run).filter(result=name).order_by("number")
    return [Version(0, _output_path(run, name)), *(_version(row) for row in rows)]


def saved_versions(run):
    """{result name: [its saved ResultVersion rows, in order]} for the run page's lists."""
    listed = {}
    for row in _saved(run).order_by("number"):
        listed.setdefault(row.result, []).append(row)
    return listed


def result_path(run, name, number=None):
    """The file of the result `name`: its latest version, or the version `number`."""
    return result_version(run, name, number).path


def version_number(value):
    """The `?version=` of a download or a picture: None (the latest) or a number; anything else is a 404."""
    if value in (None, ""):
        return None
    if not re.fullmatch(r"[0-9]+", str(value)):  # not isdigit(): "²" is a digit that int() refuses
        raise NoSuchVersion(f"There is no version “{value}”: a version is a number, 0 for the automatic result.")
    return int(value)


def recording_of(run, name):
    """The project's audio file (upload.models.ProjectFile) of the result TextGrid `name`, or Http404."""
    if not name.lower().endswith(".textgrid"):
        raise Http404("Only TextGrids can be shown; download this result instead.")
    outcome = run.outcomes.filter(textgrid=name).first()
    stem = stem_of(name)
    if outcome is not None:
        audio = run.project.files.filter(kind="audio", name=outcome.recording).first()
    else:
        audio = next((f for f in run.project.files.filter(kind="audio", name__startswith=stem + ".") if f.stem == stem), None)
    if audio is None:
        raise Http404("The recording of this result is no longer in the project.")
    return outcome, audio


def check_format(chosen, *, zip=False):
    if chosen not in FORMATS and not (zip and chosen == "all"):
        raise UnknownFormat(chosen, zip=zip)
    return chosen


def export(run, name, format, version=None):
    """The Download of the run's result `name` in `format` (a key of FORMATS): "textgrid" is the output as the
    service delivered it (any output, as the run page's link) or as last corrected; the others are conversions
    of a TextGrid. `version`: a number of an older version (pipelines.models.ResultVersion), None the latest."""
    check_format(format)
    path = result_path(run, name, version)
    # A version asked for by number is saved under a name of its own: the browser's copies of versions 1 and 2
    # must not be two "a (1).TextGrid"s that cannot be told apart.
    shown = name if version is None else _with_version(name, version)
    if format == "textgrid":
        return Download(shown, path=path)
    if not name.lower().endswith(".textgrid"):
        raise NotConverted(f"Only TextGrids are converted to other formats; download {name} as it is.")
    try:
        alignment = read_alignment(run, path, name, recordings(run))
        data = exports.write(alignment, format)
    except exports.NotConvertible:
        log.warning("Cannot write %s of run %s as %s", name, run.pk, format, exc_info=True)
        raise NotConverted(NOT_CONVERTED) from None
    return Download(exports.export_name(shown, format), content_type=exports.FORMATS[format][2], data=data)


def _with_version(name, number):
    """a.TextGrid, 2 -> a.v2.TextGrid"""
    stem, extension = split_name(name)
    return f"{stem}.v{number}.{extension}" if extension else f"{name}.v{number}"


def listed(run, recorded):
    """[(recording, result TextGrid)] of the run's results: of the outcomes (`recorded`) that have one, or, of runs
    from before outcomes were recorded, every TextGrid the run delivered."""
    if recorded:
        return [(o.recording, o.textgrid) for o in recorded if o.has_result]
    process = run.result_process
    named = recordings(run)
    grids = sorted(n for n in (process.outputs if process else []) if n.lower().endswith(".textgrid"))
    return [(named.get(name.lower()) or name[: -len(".textgrid")] or name, name) for name in grids]


def recordings(run):
    """{result TextGrid: the name of its recording}, from the outcomes, or the process's audio inputs of runs
    from before outcomes were recorded."""
    named = {o.textgrid: o.recording for o in run.outcomes.all() if o.textgrid}
    if named or run.result_process is None:
        return named
    return {f"{stem}.TextGrid".lower(): name for stem, name in outcomes.audio_inputs(run, run.result_process).items()}


def read_alignment(run, path, name, recordings):
    # A result of no recording is its own recording's name: ".TextGrid" has no stem, and a name must not be ""
    # (the JSON schema's "file" has minLength 1).
    recording = recordings.get(name) or recordings.get(name.lower()) or name[: -len(".textgrid")] or name
    try:
        return exports.read_result(path, recording=recording, result=name)
    except FileNotFoundError:  # gone from the disk since the run listed it
        raise NoSuchResult(f"This run has no result named “{name}” any more.") from None
    except exports.NotConvertible:
        log.warning("Cannot convert %s of run %s", name, run.pk, exc_info=True)
        raise


# Every output of a run (of a pipeline that runs one service)

# The text viewer shows at most this much of an output; the rest is in its download.
TEXT_VIEW_MAX_BYTES = 256 * 1024


@dataclass(frozen=True)
class Output:
    name: str
    label: str  # the label of the service's output template it is of, "" when none matches
    size: int
    text: bool  # readable as text: the text viewer shows it
    textgrid: bool
    # The name of the researcher's file it is an output of, when it kept the service's name ("memo-2.count" of
    # "memo.txt": two of their files had one name on the service, see service_names); else "".
    of_file: str = ""


# The run page lists at most this many outputs (each is looked at on the disk); the zip holds them all.
OUTPUTS_LISTED_MAX = 1000


def service_names(run):
    """[(the service's stem, the name of the researcher's file)] of the files some of whose outputs kept their names
    on the service (scripts.clamnames.kept_service_names): the run page says whose they are, as do `outputs` and so
    the API's results list."""
    process = run.result_process
    return kept_service_names(process.inputs, process.outputs) if process is not None else []


def outputs(run, limit=None):
    """[Output] of every file the run's service delivered (error.log aside: it is the job's log, and what it says
    of a failure is the run's reason), in name order; the first `limit` only."""
    process = run.result_process
    if process is None:
        return []
    kept = service_names(run)
    folder = default_storage.path(process.output_folder)
    templates = list(_output_templates(run))
    # A TextGrid's download is its latest version: its size is that one's.
    latest = latest_versions(run, [name for name in process.outputs if name.lower().endswith(".textgrid")])
    listed = []
    for name in sorted(process.outputs)[:limit]:
        path = latest[name].path if name in latest else os.path.join(folder, name)
        try:
            key = _file_key(path)
            text = _is_text_file(key)
        except OSError:
            continue  # gone from the disk: nothing to offer
        template = template_for(templates, name)
        listed.append(Output(name, template.label if template else "", key[1], text,
                             name.lower().endswith(".textgrid"), input_of(kept, name)))
    return listed


@functools.lru_cache(maxsize=4 * OUTPUTS_LISTED_MAX)
def _is_text_file(key):
    """Whether the file `key` names (`_file_key`) is text (the text viewer's "View"), kept while it stays as it is
    (outputs are written once; a saved version is a file of its own): the run page is shown again and again, with up
    to OUTPUTS_LISTED_MAX outputs, and their contents do not change."""
    with open(key[0], "rb") as f:
        return not text_fault(f.read(SNIFF_BYTES))


def _output_templates(run):
    from scripts.models import OutputTemplate

    return OutputTemplate.objects.filter(profile__script_id=run.result_process.script_id).order_by(
        "profile__index", "order")


def text_of(run, name):
    """(the start of output `name` as text, whether that is all of it) for the text viewer; Http404 when it is no
    text."""
    path = result_path(run, name)
    try:
        with open(path, "rb") as f:
            data = f.read(TEXT_VIEW_MAX_BYTES + 1)
    except OSError:  # gone from the disk since the run listed it
        raise NoSuchResult(f"This run has no result named “{name}” any more.") from None
    if text_fault(data[:SNIFF_BYTES]):
        raise NoSuchResult("This output is not text; download it instead.")
    whole = len(data) <= TEXT_VIEW_MAX_BYTES
    return data[:TEXT_VIEW_MAX_BYTES].decode("utf-8-sig", errors="replace"), whole


# Words to check


def words_to_check(run, recorded):
    """[(outcome, {"words": [{label, confidence, at, time(, speaker)}], "count": n})] of the outcomes (`recorded`)
    that have a readable result, as the worker recorded them with the outcome (pipelines.outcomes.words_to_check),
    or of its latest corrected version."""
    checks = []
    corrected = set(saved_versions(run)) if recorded else set()
    for outcome in recorded:
        if not outcome.has_result:
            continue
        found = outcome.to_check
        # Recorded before outcomes kept them, or corrected since: read from the (latest) result, once per file.
        if found is None or outcome.textgrid in corrected:
            try:
                found = _least_confident(_file_key(result_path(run, outcome.textgrid)))
            except (Http404, exports.NotConvertible, OSError):  # a result gone or unreadable has its own row
                continue
        checks.append((outcome, found))
    return checks


# The run page lists the words to check of this many recordings (ten each, pictures.WORDS_TO_CHECK); the CSV has
# every word of every recording.
RECORDINGS_TO_CHECK_LISTED = 100
WORDS_TO_CHECK_CSV = "words-to-check.csv"
WORDS_TO_CHECK_COLUMNS = ["recording", "speaker", "word", "start", "end", "confidence", "result"]


def words_to_check_csv(run):
    """The Download of every word to check of the run (below pictures.LOW_CONFIDENCE), recording by recording, the
    least confident first, from each result's latest version: the run page shows ten a recording."""
    def parts():
        # Only the results with words to check are read (as the run page knows them: most have none).
        for outcome, found in words_to_check(run, list(run.outcomes.order_by("recording"))):
            if not found["count"]:
                continue
            try:
                yield _every_word_to_check(_file_key(result_path(run, outcome.textgrid)), outcome.recording,
                                           outcome.textgrid)
            except (Http404, exports.NotConvertible, OSError):  # a result gone or unreadable has its own row
                continue

    data = (outcomes.spreadsheet_csv(WORDS_TO_CHECK_COLUMNS, []) + "".join(parts())).encode()
    return Download(WORDS_TO_CHECK_CSV, "text/csv; charset=utf-8", data=data)


def _file_key(path):
    """(path, size, mtime_ns, inode, ctime_ns) of the file at `path`: what is read from a file is cached by it, kept
    while the file stays as it is. A file rewritten within the clock's resolution (or its time set back) keeps its
    size and mtime, not its ctime; one renamed into its place (a result, a saved version) has another inode."""
    stat = os.stat(path)
    return path, stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_ctime_ns


@functools.lru_cache(maxsize=512)
def _every_word_to_check(key, recording, result):
    """The CSV rows (outcomes.spreadsheet_rows) of every word to check of the result file `key` names (`_file_key`),
    least confident first: kept, as the run page's ten are (`_least_confident`), since the CSV reads every result with
    words to check, and hundreds of hour-long ones take minutes, near the web server's timeout, on each download. Kept
    as text, a few dozen bytes a word, so that 512 hour-long results hold tens of megabytes, not hundreds."""
    alignment = exports.read_result(key[0], recording=recording, result=result)
    return outcomes.spreadsheet_rows(
        [recording, speaker, span.label, f"{span.start:.3f}", f"{span.end:.3f}", f"{span.confidence:.2f}", result]
        for span, _, _, speaker in pictures.words_to_check(alignment, limit=None)[0])


@functools.lru_cache(maxsize=512)
def _least_confident(key):
    """pictures.words_to_check of the result file `key` names (`_file_key`), kept while the file stays as it is
    (results are written once, by a rename): an hour's TextGrid takes about a second to read, and the run page is
    shown often."""
    return outcomes.words_to_check(key[0])


# The zip


def results_zip(run, chosen="all"):
    """The Download of a zip of every output of the run, each TextGrid in the other formats (one folder per
    format), its per-recording report as CSV and the pronunciations it used.

    `chosen` keeps one format only (a key of FORMATS); the report and the dictionary are always in.

    The zip is streamed: its first bytes leave before the first result is read, so that a run of hundreds of long
    recordings neither keeps the researcher waiting with nothing (nor a proxy, which cuts a silent request after
    a minute), nor fills the memory or the disk. What the database knows is read here, before the first byte: the
    stream reads files only, and holds no database connection (SQLite's workers write meanwhile). A refusal
    (unknown format, no results) is therefore known before anything is sent; a result that turns out to be gone
    or unreadable while streaming is named in a note at the zip's end.
    """
    check_format(chosen, zip=True)
    process = run.result_process
    if process is None or not process.outputs:
        raise NoSuchResult("This run has no results yet." if run.active or run.stage == run.Stage.REVIEW
                           else "This run ended without results.")
    names = sorted(process.outputs)
    recorded = list(run.outcomes.all())
    # Each TextGrid as last corrected in the editor (pipelines.versions), or as the service delivered it.
    paths = {name: version.path for name, version in latest_versions(run, names).items()}
    in_zip = zip_names(names)
    single = run.pipeline.single
    plan = _ZipPlan(
        run=run, names=names, paths=paths, in_zip=in_zip,
        textgrids=chosen in ("all", "textgrid"),
        # A service's outputs other than alignments are only themselves: no folders of conversions.
        formats=() if single else tuple(key for key in ZIP_FOLDERS if chosen in ("all", key)),
        recordings=recordings(run),
        report=outcomes.report_csv(recorded, in_zip, outcomes.kept_from_first_pass(run, recorded)) if recorded else None,
        dictionary=run.dictionary if run.dictionary.strip() and process == run.realign_process else None,
        inputs=process.inputs if single else None,
    )
    suffix = "" if chosen == "all" else f"-{FORMATS[chosen]}"
    stem = _file_name_part(run.project.name)
    return Download(f"{stem}-results{suffix}.zip" if stem else f"results{suffix}.zip", content_type="application/zip",
                    handle=_zip_stream(plan))


@dataclass(frozen=True)
class _ZipPlan:
    """All that the zip's stream needs from the database, read before it starts."""

    run: object  # the Run, for its pk in the log only: the stream makes no query
    names: list  # the run's outputs, in name order
    paths: dict  # {name: the file of its latest version}
    in_zip: dict  # {name: its name in the zip} (zip_names)
    textgrids: bool  # the outputs themselves go in (at the zip's top)
    formats: tuple  # the keys of ZIP_FOLDERS each TextGrid is converted to
    recordings: dict  # {result TextGrid: its recording's name} (recordings)
    report: str | None  # report.csv
    dictionary: str | None  # dictionary.dict
    inputs: list | None  # a one-service run's inputs, for names-on-the-service.txt


# A file goes into the zip this much at a time, and what is compressed of it leaves before the next part is read:
# a result of any size costs this much memory.
_CHUNK = 1 << 20


class _Pipe:
    """Where zipfile writes the zip, to be taken away in parts. It cannot tell or seek: zipfile then writes each
    member's sizes after its data (a data descriptor) and never goes back, which is what a stream needs."""

    def __init__(self):
        self.parts = []

    def write(self, data):
        self.parts.append(bytes(data))
        return len(data)

    def flush(self):
        pass

    def take(self):
        data = b"".join(self.parts)
        self.parts.clear()
        return data


def _zip_stream(plan):
    """The bytes of the zip of `plan` (a _ZipPlan), a part at a time, none empty (to a WSGI server an empty part
    may look like the end)."""
    parts = _zip_parts(plan)
    try:
        for part in parts:
            if part:
                yield part
    finally:
        parts.close()  # a download cut off closes the files it had open at once


def _zip_parts(plan):
    _close_database_connections()
    pipe = _Pipe()
    taken = {name.lower() for name in plan.in_zip.values()}
    if plan.formats:
        taken |= {ZIP_FOLDERS[key].lower() for key in ZIP_FOLDERS}
    missing, failed, renamed = [], [], {}
    with zipfile.ZipFile(pipe, "w", zipfile.ZIP_DEFLATED) as archive:
        if plan.textgrids:
            for name in plan.names:
                try:
                    yield from _copy_file(archive, pipe, plan.paths[name], plan.in_zip[name])
                except OSError:  # gone from the disk since the run listed it
                    missing.append(name)
            renamed = {name: arcname for name, arcname in plan.in_zip.items()
                       if name != arcname and name not in missing}
        # Before the conversions, which read each result: a zip of one format starts at once too.
        if plan.report is not None:
            archive.writestr(_free_name("report.csv", taken), plan.report)
        if plan.dictionary is not None:
            archive.writestr(_free_name("dictionary.dict", taken), plan.dictionary)
        yield pipe.take()
        if plan.formats:
            exported = yield from _add_exports(archive, pipe, plan, taken, missing, failed)
            renamed |= exported
        if renamed:
            archive.writestr(_free_name("renamed-files.txt", taken), _renamed_note(renamed))
        present = [name for name in plan.names if name not in missing]
        if plan.inputs is not None and (kept := kept_service_names_text(kept_service_names(plan.inputs, present))):
            archive.writestr(_free_name("names-on-the-service.txt", taken),
                             f"Two of your files have one name on the service, so their outputs keep the service's "
                             f"names: {kept}.\n")
        if failed:
            archive.writestr(_free_name("not-converted.txt", taken),
                             "These results cannot be read as TextGrids, so they are not in the other formats "
                             "(the TextGrids are as the alignment service wrote them):\n\n" + "\n".join(failed) + "\n")
        # Last: a result can be found gone at any point of the stream.
        if missing:
            archive.writestr(_free_name("missing-files.txt", taken),
                             "These results are no longer on the server, so they are not in this zip; ask your "
                             "administrator if you need them:\n\n" + "\n".join(missing) + "\n")
    yield pipe.take()


def _close_database_connections():
    """The stream needs no database: a connection kept open for the minutes it may take would count against
    PostgreSQL's connections for nothing. One inside a transaction (a test's) is left alone."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()


def _copy_file(archive, pipe, path, arcname):
    """The file at `path` into `archive` as `arcname`, a part at a time (OSError when it cannot be read)."""
    with open(path, "rb") as source:
        info = zipfile.ZipInfo.from_file(path, arcname)  # its time, as ZipFile.write gives it
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w") as entry:
            yield pipe.take()
            while chunk := source.read(_CHUNK):
                entry.write(chunk)
                yield pipe.take()


def _add_exports(archive, pipe, plan, taken, missing, failed):
    """Each result TextGrid in `plan.formats`, in a folder per format, and all-intervals.csv when CSV is one
    (a generator of the zip's parts); adds to `missing` and `failed` the results gone from the disk and those that
    cannot be converted; returns {name: name in the zip} of those whose names had to change. One result is read
    and written at a time, so that a run of many long recordings does not hold them all in memory."""
    grids = [name for name in plan.names if name.lower().endswith(".textgrid")]
    in_folders = {key: zip_names([exports.export_name(name, key) for name in grids]) for key in plan.formats}
    renamed, converted = {}, []
    for name in grids:
        alignment = _alignment(plan, name, missing, failed)
        if alignment is None:
            continue
        try:
            # Every format written before any goes in, so that a result is in all of them or in none.
            written = {key: exports.write(alignment, key) for key in plan.formats}
        except exports.NotConvertible:
            log.warning("Cannot write %s of run %s", name, plan.run.pk, exc_info=True)
            failed.append(name)
            continue
        del alignment
        for key in plan.formats:
            exported = exports.export_name(name, key)
            arcname = f"{ZIP_FOLDERS[key]}/{in_folders[key][exported]}"
            archive.writestr(arcname, written.pop(key))
            if in_folders[key][exported] != exported:
                renamed[f"{ZIP_FOLDERS[key]}/{exported}"] = arcname
            yield pipe.take()
        converted.append(name)
    if "csv" in plan.formats and converted:
        # Each result is read again rather than kept since its CSV went in: kept, a run's intervals would grow the
        # memory or the disk with the run. One that is gone by now is named with the missing ones.
        # A ZipInfo of its own: opened by name, the entry is dated 1980-01-01 (writestr dates the others now).
        info = zipfile.ZipInfo(_free_name(ALL_INTERVALS, taken), date_time=time.localtime(time.time())[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as entry:
            header = True
            for name in converted:
                alignment = _alignment(plan, name, missing, failed)
                if alignment is not None:
                    entry.write(exports.to_csv([alignment], header=header))
                    header = False
                    yield pipe.take()
    return renamed


def _alignment(plan, name, missing, failed):
    """The Alignment of the result `name`, or None, and `name` in `missing` or `failed`."""
    try:
        return read_alignment(plan.run, plan.paths[name], name, plan.recordings)
    except (NoSuchResult, OSError):
        gone = True
    except exports.NotConvertible:
        # praatio's refusal of a file that is not there is one of the many it has, which read_result takes for
        # a file that is no TextGrid.
        gone = not os.path.isfile(plan.paths[name])
        if not gone:
            failed.append(name)
    if gone and name not in missing:
        missing.append(name)
    return None


def _free_name(name, taken):
    """`name`, or `equestria-name` when an output of the service already has that name (in any letter case)."""
    name = name if name.lower() not in taken else f"equestria-{name}"
    taken.add(name.lower())
    return name


def _file_name_part(name):
    """`name` (a project's) as part of a file name: browsers keep only what follows a path separator, and
    Windows refuses a few more characters."""
    return re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "-", name).strip(" .-")


def zip_names(names):
    """{name: name in the zip}: unique without regard to letter case.

    The results keep the users' names, and names that differ only in case (Take1.TextGrid,
    take1.TextGrid) are two results; unpacked on Windows or macOS, one would overwrite the other. The
    first (in `names`' order) keeps its name; the next becomes "take1 (2).TextGrid".
    """
    taken = {name.lower() for name in names}
    result, used = {}, set()
    for name in names:
        if name.lower() not in used:
            result[name] = name
        else:
            stem, extension = split_name(name)
            dot = "." if extension else ""
            number = 2
            while f"{stem} ({number}){dot}{extension}".lower() in taken:
                number += 1
            result[name] = f"{stem} ({number}){dot}{extension}"
            taken.add(result[name].lower())
        used.add(result[name].lower())
    return result


def _renamed_note(renamed):
    lines = ["Some results have names that differ from others' only in letter case. Windows and macOS do not tell",
             "such names apart, so these have other names in this zip (report.csv names them as here):", ""]
    lines += [f"{arcname}\tis the result named\t{name}" for name, arcname in renamed.items()]
    return "\n".join(lines) + "\n"
