#!/usr/bin/env python3
"""equestria-align: align a folder of recordings and transcripts on an Equestria server, through its API.

    equestria-align recordings/ --server https://equestria.example.org --token KEY --output aligned/

Creates a project, uploads the folder's .wav/.flac recordings with their .txt/.TextGrid/.eaf transcripts (and
.dict dictionaries) in bounded batches, starts the alignment, follows it, accepts the proposed pronunciations of
unknown words (or stops with the review page's address, with --review=stop), and downloads the results (as one zip,
unpacked) into the output folder. docs/users/api.md describes it; every step is a call of the API (/api/v1/), so a
script can do the same.

Needs Python 3.9+ and requests; requests-toolbelt (streamed uploads) and tqdm (progress bars) are used when
installed. It is no part of the Django project: it imports nothing of it.
"""

import argparse
import math
import os
import shlex
import shutil
import stat
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from pathlib import Path, PurePosixPath

import requests

try:
    from requests_toolbelt import MultipartEncoder, MultipartEncoderMonitor
except ImportError:  # uploads are then built in memory, one bounded batch at a time
    MultipartEncoder = MultipartEncoderMonitor = None
try:
    from tqdm import tqdm
except ImportError:
    tqdm = None

EXTENSIONS = {".wav", ".flac", ".txt", ".textgrid", ".eaf", ".dict"}
FORMATS = ("textgrid", "eaf", "csv", "json")
ENDED = {"done", "problems", "failed", "cancelled"}
# Looks at a run: often at first (a short run ends within seconds), then each wait half as long again as the last,
# up to --poll; so a long run costs about a request per --poll seconds, well within the API's per-user throttle.
FIRST_LOOK = 0.25
SUFFIXES = {"textgrid": ".TextGrid", "eaf": ".eaf", "csv": ".csv", "json": ".json"}
RECORDINGS = {".wav", ".flac"}
UMASK = os.umask(0o022)
os.umask(UMASK)
BACK_OFF = 1.5

# Exit codes: say what happened to a script that runs this one.
OK = 0  # every recording aligned
PROBLEMS = 1  # done, but some files were refused, left out or not aligned (each is listed)
USAGE = 2  # bad arguments, or nothing that can be aligned (argparse's own code too)
AUTHENTICATION = 3  # the token was refused
SERVER = 4  # the server cannot be reached, or refused a request (its message is shown)
FAILED = 5  # the run failed or was cancelled
REVIEW = 6  # stopped for the review of pronunciations (--review=stop, or proposals the server refused)
TIMEOUT = 7  # the run did not end within --timeout


class Stop(Exception):
    """Ends the client with a message for the researcher and an exit code."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


# A stage's bar: its share done, how long it has run and what it does; no rate, which of a server's percentages
# ("1.11s/%") foretells nothing.
STAGE_BAR = "{desc}: {percentage:3.0f}%|{bar}| {elapsed}{postfix}"


class Progress:
    """A progress bar: tqdm's when it is installed, else a line per tenth on stderr. `rate`: show the rate and the
    time left (of bytes sent or received), else the STAGE_BAR."""

    def __init__(self, total, description, unit="", quiet=False, rate=True):
        self.bar = None
        self.total, self.n, self.shown, self.description, self.quiet = total, 0, -1, description, quiet
        self.note = ""
        if tqdm is not None and not quiet:
            scale = {"unit": "B", "unit_scale": True, "unit_divisor": 1024} if unit == "B" else {"unit": unit or "%"}
            if not rate:
                scale["bar_format"] = STAGE_BAR
            self.bar = tqdm(total=total, desc=description, file=sys.stderr, **scale)

    def set(self, value, description=None, note=None):
        """`note`: what is under way, after the bar (shortened to the terminal's width); None leaves it as it is."""
        value = min(value, self.total) if self.total is not None else value
        if note is not None:
            note = _fit(note, len(description or self.description) + 30)  # ": 100%|", a 10-wide bar, "| 00:00, "
        self.n = value
        if self.bar is not None:
            # Description, note and value drawn at once: never the new stage's name beside the old stage's share.
            changed = False
            if description and description != self.bar.desc:
                self.bar.set_description(description, refresh=False)
                changed = True
            if note is not None and note != self.note:
                self.note = note
                self.bar.set_postfix_str(note, refresh=False)
                changed = True
            if value != self.bar.n:
                self.bar.update(value - self.bar.n)
            if changed:
                self.bar.refresh()
            return
        if self.total is None:  # a length not known ahead (the results' zip, made while it is sent): a line per 10 MB
            if not self.quiet and value // (10 << 20) != self.shown:
                self.shown = value // (10 << 20)
                print(f"{self.description}: {value / (1 << 20):.0f} MB", file=sys.stderr)
            return
        tenth = int(10 * value / self.total) if self.total else 10
        told = (description and description != self.description) or (note is not None and note != self.note)
        if not self.quiet and (tenth != self.shown or told):
            self.shown, self.description = tenth, description or self.description
            self.note = self.note if note is None else note
            print(f"{self.description}: {10 * tenth}%{f' ({self.note})' if self.note else ''}", file=sys.stderr)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _fit(text, taken):
    """`text` on one line, shortened with "…" to what the terminal leaves beside `taken` characters."""
    text = " ".join(str(text).split())
    room = max(10, shutil.get_terminal_size((80, 24)).columns - taken)
    return text if len(text) <= room else text[:room - 1].rstrip() + "…"


class Api:
    """Calls of the API with the token; an error answer becomes a Stop with the server's message."""

    def __init__(self, server, token, timeout=60, retries=5):
        self.base = server.rstrip("/") + "/api/v1/"
        self.token, self.timeout, self.retries = token, timeout, retries
        self.local = threading.local()  # a session per thread: requests' sessions are not made to be shared

    @property
    def session(self):
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
            self.local.session.headers["Authorization"] = f"Token {self.token}"
            self.local.session.headers["User-Agent"] = "equestria-align"
        return self.local.session

    def url(self, path):
        return path if path.startswith(("http://", "https://")) else self.base + path

    def call(self, method, path, *, expect=(200, 201), stream=False, body=None, **kwargs):
        """The answer to one request; a throttled one is tried again after the wait the server asks for.
        `body`: a function giving the request's body arguments, called for each attempt (an upload's files are
        read to their end by one)."""
        for attempt in range(self.retries + 1):
            if body is not None:
                kwargs.update(body())
            try:
                response = self.session.request(method, self.url(path), timeout=self.timeout, stream=stream, **kwargs)
            except requests.ConnectionError as exc:
                raise Stop(f"Cannot reach the server at {self.base}: {_reason(exc)}. Check --server and that the "
                           "server runs.", SERVER) from None
            except requests.Timeout:
                raise Stop(f"The server at {self.base} did not answer within {self.timeout} s; try again later.",
                           SERVER) from None
            if response.status_code == 429 and attempt < self.retries:
                time.sleep(retry_after(response.headers.get("Retry-After")))
                continue
            break
        if response.status_code in expect:
            return response
        raise self.refusal(response)

    def refusal(self, response):
        body = _json(response)
        code, detail = body.get("code", ""), body.get("detail") or f"HTTP {response.status_code}"
        if response.status_code == 401:
            return Stop(f"The server refused the token: {detail}", AUTHENTICATION)
        if response.status_code == 404 and not body:
            return Stop(f"There is no Equestria API at {self.base} (HTTP 404). Check --server.", SERVER)
        error = Stop(f"The server refused: {detail}", SERVER)
        error.code_name, error.body = code, body
        return error

    def json(self, method, path, **kwargs):
        response = self.call(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise Stop(f"The server at {self.base} did not answer as Equestria's API does (HTTP "
                       f"{response.status_code}, {response.headers.get('Content-Type', 'no type')}). Check --server.",
                       SERVER) from None


def _reason(exc):
    text = str(exc)
    return "connection refused" if "refused" in text.lower() else "no connection"


def _json(response):
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def retry_after(value):
    """The seconds to wait that a Retry-After header asks for (at most 2 minutes); 5 when it gives none in seconds
    (it may be an HTTP date)."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return 5
    return min(120, seconds) if math.isfinite(seconds) and seconds >= 0 else 5


def say(message, quiet=False):
    if not quiet:
        print(message, file=sys.stderr)


# The steps


def find_files(folder):
    """(files to upload, names skipped) of a folder (not its subfolders)."""
    files, skipped = [], []
    for path in sorted(Path(folder).iterdir()):
        if path.is_file() and not path.name.startswith("."):
            (files if path.suffix.lower() in EXTENSIONS else skipped).append(path)
    return files, [p.name for p in skipped]


def batches(files, max_bytes, max_files):
    """The files in groups of at most `max_files` and `max_bytes` (a larger file goes alone), pairs kept together
    where they fit."""
    group, size = [], 0
    for path in files:
        length = path.stat().st_size
        if group and (size + length > max_bytes or len(group) >= max_files):
            yield group
            group, size = [], 0
        group.append(path)
        size += length
    if group:
        yield group


def choose_pipeline(api, name):
    pipelines = [p["name"] for p in api.json("GET", "pipelines/")]
    if not pipelines:
        raise Stop("The server offers no pipeline yet; ask its administrator.", SERVER)
    if name is None:
        if len(pipelines) == 1:
            return pipelines[0]
        raise Stop(f"Choose a pipeline with --pipeline: {', '.join(pipelines)}.", USAGE)
    matches = [p for p in pipelines if p.lower() == name.lower()]
    if not matches:
        raise Stop(f"The server has no pipeline “{name}”; it has: {', '.join(pipelines)}.", USAGE)
    return matches[0]


def create_project(api, name, pipeline):
    try:
        return api.json("POST", "projects/", json={"name": name, "pipeline": pipeline})
    except Stop as exc:
        if getattr(exc, "code_name", "") == "duplicate_name":
            raise Stop(f"You already have a project named “{name}”; choose another with --project (or delete it on "
                       "the site).", USAGE) from None
        raise


def upload(api, project, files, *, max_bytes, max_files, quiet):
    """Upload every file; the refused ones as (name, the server's message)."""
    total = sum(p.stat().st_size for p in files)
    bar = Progress(total, f"Uploading {len(files)} files", unit="B", quiet=quiet)
    done, refused, notes = 0, [], []
    url = f"projects/{project['id']}/files/"
    try:
        for group in batches(files, max_bytes, max_files):
            handles = [open(path, "rb") for path in group]

            def body(group=group, handles=handles, start=done):
                # Each attempt reads the files from their start: a throttled attempt read them to their end.
                for handle in handles:
                    handle.seek(0)
                fields = [("files", (path.name, handle, "application/octet-stream"))
                          for path, handle in zip(group, handles)]
                if MultipartEncoder is None:
                    return {"files": fields}
                monitor = MultipartEncoderMonitor(MultipartEncoder(fields), lambda m: bar.set(start + m.bytes_read))
                return {"data": monitor, "headers": {"Content-Type": monitor.content_type}}

            try:
                response = api.call("POST", url, expect=(201, 400, 413), body=body)
            finally:
                for handle in handles:
                    handle.close()
            done += sum(p.stat().st_size for p in group)
            bar.set(done)
            body = _json(response)
            if response.status_code != 201 and body.get("code") != "files_refused":
                raise api.refusal(response)
            refused += [(r["name"], r["detail"]) for r in body.get("refused", [])]
            notes += body.get("notes", [])
    finally:
        bar.close()
    return refused, notes


# The readiness badges (upload/readiness.py) of a recording without its transcript, and of a transcript without its
# recording: what the file left out is, and the extensions of the partner it misses.
PARTNER_MISSING = {"no transcript": ("recording", EXTENSIONS - RECORDINGS - {".dict"}),
                   "no audio": ("transcript", RECORDINGS)}


def _split(name):
    """(stem, extension in lower case with its dot) as the server pairs a recording and its transcript
    (scripts/filenames.py: at the last dot)."""
    stem, dot, extension = name.rpartition(".")
    return (stem, f".{extension.lower()}") if dot and stem and extension else (name, "")


def upload_lines(refused, unpaired):
    """What to say of the files the server refused (name, its message) and of those its readiness leaves out: one line
    per recording. A recording left out because the server refused its transcript (or a transcript whose recording it
    refused) is told on the refusal's line: the readiness alone would ask to "add blank.txt", the file just refused."""
    alone = {_split(u["names"][0])[0]: u for u in unpaired
             if u.get("badge") in PARTNER_MISSING and len(u["names"]) == 1}
    lines, told = [], set()
    for name, detail in refused:
        # The server's message names the file itself ("bad.wav: this is not audio …"), as on the upload page.
        line = f"Refused: {detail}" if detail.startswith(f"{name}:") else f"Refused: {name}: {detail}"
        stem, extension = _split(name)
        partner = alone.get(stem)
        if partner is not None and extension in PARTNER_MISSING[partner["badge"]][1]:
            del alone[stem]
            left_out = partner["names"][0]
            line += f"; its {PARTNER_MISSING[partner['badge']][0]} {left_out} is left out"
            told.add(left_out)
        lines.append(line)
    lines += [f"Left out: {u['message']}" for u in unpaired if not told & set(u["names"])]
    return lines


def wait(api, run, *, poll, timeout, quiet, stop_at_review=False, clock=time.monotonic, sleep=time.sleep):
    """Follow the run until it ends (or, with stop_at_review, waits for the review); its detail. Looks every
    FIRST_LOOK seconds at first and at each new step, backing off to every `poll` seconds, and when the step's
    progress foresees its end before the next look, at that moment."""
    deadline = clock() + timeout
    # One bar per stage, which never goes back and stays below 100 % until its stage has ended; none for the review.
    bar, shown = None, None
    delay, step, began, end_foreseen = min(FIRST_LOOK, poll), None, None, False
    try:
        while True:
            run = api.json("GET", run["url"])
            now, progress = clock(), run.get("progress") or {}
            percent = progress.get("percent", 0)
            if run["stage"] != shown and bar is not None:
                if run["stage"] != "failed" and run["stage"] != "cancelled":
                    bar.set(100)  # its stage has ended
                bar.close()
                bar = None
            if run["stage"] in ENDED or run["stage"] == "review":
                return run
            if bar is None:
                bar, shown = Progress(100, run["stage_label"], quiet=quiet, rate=False), run["stage"]
            bar.set(max(bar.n, min(percent, 99)), run["stage_label"],
                    note=progress.get("message") or "")
            if now > deadline:
                raise Stop(f"The run did not end within {timeout:g} s; it goes on on the server: {run['page']}",
                           TIMEOUT)
            # A new stage, or a new state of its step (running, then downloading the service's results: the run
            # ends moments later), may be short too; a run has only a few of them, so the looks stay few.
            if (run["stage"], progress.get("status")) != step:
                delay, step, began, end_foreseen = min(FIRST_LOOK, poll), (run["stage"], progress.get("status")), \
                    (now, percent), False
            # Where the step's progress so far says it ends before the next look, look then, and often again for
            # a moment (once per step: a step stuck at 99 % goes back to looking every `poll` seconds).
            elif not end_foreseen and percent > began[1]:
                left = (100 - percent) * (now - began[0]) / (percent - began[1])
                if left < delay:
                    sleep(max(min(FIRST_LOOK, poll), left))
                    delay, end_foreseen = min(FIRST_LOOK, poll), True
                    continue
            sleep(delay)
            # The service's results on their way (the run ends within moments of their last file, measured 1.3–2.5 s
            # for 100 short recordings): backing off would see the end up to a second late, about as long again.
            # Only for its first 4 s: a big download does not turn into a request every FIRST_LOOK.
            if progress.get("status") != "downloading" or now - began[0] >= 4:
                delay = min(delay * BACK_OFF, poll)
    finally:
        if bar is not None:
            bar.close()


def review(api, run, accept, quiet, resume=None):
    """Accept the proposed pronunciations (leaving out words without one), or stop with the review page (and the
    command `resume` that downloads the results once the review is done there)."""
    proposals = api.json("GET", run["url"] + "review/")
    words = [w["word"] for w in proposals["words"]]
    if not accept:
        then = f"\nOnce it is reviewed there, get the results with:\n  {resume}" if resume else ""
        raise Stop(f"The run waits for your review of the pronunciations of {len(words)} unknown word(s) "
                   f"({', '.join(words)}): {proposals['page']}{then}", REVIEW)
    body = {"dictionary": proposals["dictionary"]}
    for attempt in range(2):
        try:
            return api.json("POST", run["url"] + "review/", json=body)
        except Stop as exc:
            refused = getattr(exc, "body", {})
            if refused.get("code") == "dictionary_refused" and refused.get("missing") and attempt == 0 \
                    and len(refused.get("problems", [])) == 1:
                say(f"No pronunciation was proposed for {', '.join(refused['missing'])}: the recordings with "
                    f"{'it' if len(refused['missing']) == 1 else 'them'} are left out.", quiet)
                body["skip_missing"] = True
                continue
            if refused.get("code") == "dictionary_refused":
                problems = "\n  ".join(refused.get("problems", []))
                raise Stop(f"The proposed pronunciations were refused:\n  {problems}\nReview them on the site: "
                           f"{proposals['page']}", REVIEW) from None
            raise


def download(api, run, output, format, quiet, overwrite=False):
    """Download the run's results in `format` into `output`, as one zip (one request, however many results: a
    request per result would run into the API's per-user throttle); the names written. The zip is unpacked only
    when every name in it stays inside `output`; a file of a result's name already there is kept (a Stop, before
    anything is written) unless `overwrite`: it may be an earlier run's result, or corrected by hand."""
    # The list's first result only: its page has the zip's address, and says what kind of results these are.
    listing = api.json("GET", run["results"], params={"page_size": 1})
    output.mkdir(parents=True, exist_ok=True)
    if not listing.get("zip"):  # no result at all (every recording refused, say): nothing to download
        return []
    # A one-service pipeline's outputs (recording null) are files of its own kinds: there are no formats of them.
    single = any(result["recording"] is None for result in listing["results"])
    with tempfile.TemporaryFile(dir=output, prefix=".equestria-align-", suffix=".zip") as handle:
        _fetch(api, listing["zip"]["all" if single else format], handle, quiet)
        try:
            with zipfile.ZipFile(handle) as archive:
                members = [info for info in archive.infolist() if not info.is_dir()]
                for info in members:
                    _check_member(info, output)
                wanted = _outputs(api, run["results"], archive) if single else None
                chosen = {}  # {path in output: the member}
                for info in members:
                    name = _result_name(info.filename, format, wanted)
                    if name is not None:
                        chosen[name] = info
                _keep_existing(output, chosen, overwrite)
                for name, info in sorted(chosen.items()):
                    _unpack(archive, info, output / name)
        # NotImplementedError: a compression this Python cannot read.
        except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError):
            raise Stop("The results' zip the server sent cannot be read (damaged, or cut off); nothing more was "
                       "written. Try again.", SERVER) from None
    return sorted(chosen)


def _fetch(api, url, handle, quiet):
    """The zip at `url` into `handle`, with a progress bar."""
    with api.call("GET", url, stream=True) as response:
        # The server makes the zip while it sends it: no length ahead, the bar counts what came.
        length = response.headers.get("Content-Length")
        bar = Progress(int(length) if length else None, "Downloading the results", unit="B", quiet=quiet)
        try:
            for chunk in response.iter_content(1 << 16):
                handle.write(chunk)
                bar.set(handle.tell())
        except requests.RequestException:
            raise Stop("The download of the results was cut off; nothing was written. Try again.", SERVER) from None
        finally:
            bar.close()
    handle.seek(0)


def _check_member(info, output):
    """Stop at a name in the zip that would be written outside `output`, or at a link: a zip is the server's, and
    what it names must not land anywhere else on this computer."""
    name = info.filename
    # As the zip names it, and as this computer reads it (on Windows, "\\" separates folders and "c:" is a drive).
    posix, native = PurePosixPath(name), Path(name)
    if (not name or "\0" in name or posix.is_absolute() or native.is_absolute() or native.drive or ".." in posix.parts
            or ".." in native.parts or not (output / name).resolve().is_relative_to(output.resolve())):
        raise Stop(f"The results' zip the server sent holds “{name}”, which would be written outside {output}; "
                   "nothing was written.", SERVER)
    if stat.S_ISLNK(info.external_attr >> 16):
        raise Stop(f"The results' zip the server sent holds a link, “{name}”; nothing was written.", SERVER)


def _result_name(member, format, wanted):
    """Where the zip's `member` goes in the output folder, or None when it is not one of the results asked for.

    The zip (pipelines/results.py, results_zip) has the TextGrids at its top, each other format in a folder of its
    own (ELAN/a.eaf) next to the run's report.csv, dictionary.dict and notes; a zip of one format holds only its
    folder. The output folder has the results alone, without folders, as they download one by one. A
    one-service pipeline's outputs (`wanted`: their names) keep their subfolders: they are the service's."""
    if wanted is not None:
        return member if member in wanted else None
    folder, _, name = member.rpartition("/")
    if format == "textgrid":
        return member if not folder and member.lower().endswith(".textgrid") else None
    return name if folder and "/" not in folder else None


def _outputs(api, url, archive):
    """The names in the zip of a one-service run's outputs: those its results list (`url`) names, every page of it,
    and those renamed in the zip because their names differ from others' only in letter case (renamed-files.txt)."""
    names, listing = set(), api.json("GET", url, params={"page_size": 1000})
    while True:
        names |= {result["name"] for result in listing["results"]}
        if not listing.get("next"):
            break
        listing = api.json("GET", listing["next"])
    renamed = set()
    for member in archive.namelist():
        if member.lower().endswith("renamed-files.txt") and "/" not in member:
            for line in archive.read(member).decode("utf-8", "replace").splitlines():
                arcname, sep, name = line.partition("\tis the result named\t")
                if sep and name in names:
                    renamed.add(arcname)
    return names | renamed


def _keep_existing(output, chosen, overwrite):
    existing = [output / name for name in sorted(chosen) if (output / name).exists() or (output / name).is_symlink()]
    if existing and not overwrite:
        others = f" (and {len(existing) - 1} more result(s))" if len(existing) > 1 else ""
        raise Stop(f"{existing[0]} exists already{others}; nothing was overwritten. Choose another --output, or add "
                   "--overwrite.", USAGE)


def _unpack(archive, info, path):
    """The member `info` as `path`, whole or not at all: written next to it under another name, then renamed (a
    link of that name is replaced, not followed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(descriptor, "wb") as f, archive.open(info) as member:
            shutil.copyfileobj(member, f, 1 << 16)
        os.chmod(partial, 0o666 & ~UMASK)  # mkstemp's 0600 would hide the results from a lab's shared folder
        os.replace(partial, path)
    except BaseException:
        os.unlink(partial)
        raise


def align(args):
    quiet = args.quiet
    if args.resume:
        return resume(args)
    folder = Path(args.folder)
    if not folder.is_dir():
        raise Stop(f"{folder} is not a folder.", USAGE)
    files, skipped = find_files(folder)
    if skipped:
        say(f"Not uploaded (not a recording, transcript or dictionary): {', '.join(skipped)}", quiet)
    if not files:
        raise Stop(f"{folder} has no .wav, .flac, .txt, .TextGrid, .eaf or .dict files.", USAGE)
    if Path(args.output).resolve() == folder.resolve():
        raise Stop(f"--output is the folder of the recordings ({folder}): the results would replace its TextGrids. "
                   "Choose another folder.", USAGE)
    if not args.overwrite:  # before anything is uploaded: an alignment's results are named after the recordings
        _keep_existing(Path(args.output), {p.stem + SUFFIXES[args.format] for p in files
                                           if p.suffix.lower() in RECORDINGS}, False)
    api = Api(args.server, args.token, timeout=args.request_timeout)
    pipeline = choose_pipeline(api, args.pipeline)  # the token is checked here, before anything is created
    project = create_project(api, args.project or folder.resolve().name, pipeline)
    say(f"Project “{project['name']}” ({pipeline}): {project['page']}", quiet)

    refused, notes = upload(api, project, files, max_bytes=args.batch_mb * 1024**2, max_files=args.batch_files,
                            quiet=quiet)
    for note in notes:
        say(f"Note: {note}", quiet)
    detail = api.json("GET", f"projects/{project['id']}/")
    for line in upload_lines(refused, detail["readiness"]["unpaired"]):
        say(line, quiet)
    try:
        run = api.json("POST", f"projects/{project['id']}/runs/",
                       json={"parameters": dict(args.parameter), "only_complete_pairs": True})
    except Stop as exc:
        if getattr(exc, "code_name", "") == "cannot_start":
            raise Stop(f"The alignment cannot start: {exc.body['detail']}", USAGE) from None
        raise
    say(f"Alignment started: {run['page']}", quiet)
    return finish(api, run, args, refused, detail["readiness"]["unpaired"])


def resume(args):
    """Follow on a run this command started before (stopped at its review, or timed out): its API address, or its
    page's, as printed."""
    api = Api(args.server, args.token, timeout=args.request_timeout)
    site = api.base[: -len("api/v1/")]
    url = args.resume if args.resume.endswith("/") else args.resume + "/"
    if url.startswith(site + "projects/"):  # the run page's address: the API's is the same under api/v1/
        url = api.base + url[len(site):]
    if not url.startswith(api.base + "projects/"):  # the token goes only to --server's API
        raise Stop(f"--resume takes the run's address that equestria-align printed, under {site}projects/.", USAGE)
    run = api.json("GET", url)
    say(f"Following the run {run['page']}", args.quiet)
    return finish(api, run, args, refused=[], unpaired=[])


def finish(api, run, args, refused, unpaired):
    """Follow `run` to its end (through its review), download its results; the exit status."""
    quiet = args.quiet
    deadline = time.monotonic() + args.timeout
    run = wait(api, run, poll=args.poll, timeout=args.timeout, quiet=quiet)
    if run["stage"] == "review":
        run = review(api, run, args.review == "accept", quiet, resume=_resume_hint(args, run))
        # Which recordings (those with unknown words), of how many: the others keep their first result.
        say(run.get("realignment") or "Aligning again with the proposed pronunciations.", quiet)
        run = wait(api, run, poll=args.poll, timeout=max(1, deadline - time.monotonic()), quiet=quiet)
    if run["stage"] in ("failed", "cancelled"):
        why = f": {run['error']}" if run.get("error") else ""
        raise Stop(f"The run {run['stage_label']}{why}. See {run['page']}", FAILED)

    try:
        written = download(api, run, Path(args.output), args.format, quiet, overwrite=args.overwrite)
    except Stop as exc:
        if exc.code == USAGE:  # a result's name taken in --output: the run is done; only its download is left
            raise Stop(f"{exc}\nThe run is done; get its results with:\n  "
                       f"{_resume_hint(args, run, output='ANOTHER_FOLDER')}", USAGE) from None
        raise
    not_aligned = [o for o in run["outcomes"] if not o["result"]]
    # Those left out before the run started were said then (upload_lines), with the reason its outcome repeats.
    told = {name for u in unpaired for name in u["names"]}
    for outcome in (o for o in not_aligned if o["recording"] not in told):
        say(f"Not aligned: {outcome['recording']}: {outcome['message'] or outcome['status_label']}", quiet)
    for outcome in run["outcomes"]:
        for warning in outcome.get("warnings") or []:
            say(f"Warning: {outcome['recording']}: {warning}", quiet)
    kept = [o["recording"] for o in run["outcomes"] if o.get("kept_from_first_alignment")]
    if kept:
        more = f" and {len(kept) - 10} more" if len(kept) > 10 else ""
        say(f"Kept from the first alignment (not aligned again after the review): {', '.join(kept[:10])}{more}", quiet)
    say(f"{run['summary']}. {len(written)} result(s) in {args.output}", quiet)
    return PROBLEMS if refused or not_aligned or unpaired else OK


def _resume_hint(args, run, output=None):
    """The command that follows this run on once it is reviewed: the same one, with --resume."""
    review = " --review stop" if args.review == "stop" else ""
    return (f"equestria-align --server {args.server} --output {shlex.quote(output or str(args.output))}{review} "
            f"--resume {run['url']}")


def _parameter(text):
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"“{text}” is not name=value")
    for convert in (int, float):
        try:
            return name, convert(value)
        except ValueError:
            pass
    return name, {"true": True, "false": False}.get(value.lower(), value)


def parser():
    p = argparse.ArgumentParser(prog="equestria-align", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=(
                                    "Exit codes: 0 all aligned, 1 done with problems (each listed), 2 bad "
                                    "arguments or nothing to align, 3 token refused, 4 server unreachable or refused, 5 run failed, "
                                    "6 stopped for the review, 7 timed out."))
    p.add_argument("folder", nargs="?",
                   help="the folder of recordings and their transcripts (a.wav with a.txt, …); not with --resume")
    p.add_argument("--server", default=os.environ.get("EQUESTRIA_SERVER", "http://127.0.0.1:8000"),
                   help="the site's address (default: $EQUESTRIA_SERVER or http://127.0.0.1:8000)")
    p.add_argument("--token", default=os.environ.get("EQUESTRIA_TOKEN"),
                   help="a personal access token from the site's “API tokens” page (default: $EQUESTRIA_TOKEN)")
    p.add_argument("--pipeline", help="the pipeline's name, e.g. English (default: the server's only one)")
    p.add_argument("--project", help="the new project's name (default: the folder's name)")
    p.add_argument("--format", choices=FORMATS, default="textgrid", help="of the results (default: textgrid)")
    p.add_argument("--output", help="where the results go (default: <folder>/aligned)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace results already in the output folder (default: stop before overwriting one)")
    p.add_argument("--review", choices=("accept", "stop"), default="accept",
                   help="unknown words: accept the proposed pronunciations (default), or stop with the review page's "
                        "address")
    p.add_argument("--parameter", "-p", action="append", type=_parameter, default=[], metavar="NAME=VALUE",
                   help="a parameter of the pipeline (as /api/v1/pipelines/ lists them); may be repeated")
    p.add_argument("--batch-mb", type=int, default=64, help="most megabytes per upload request (default: 64)")
    # The server takes up to 1000 (UPLOAD_MAX_FILES); each request more is time before the run.
    p.add_argument("--batch-files", type=int, default=500, help="most files per upload request (default: 500)")
    p.add_argument("--poll", type=float, default=1.0,
                   help="the most seconds between looks at the run: it looks every 0.25 s at first, then less and "
                        "less often, up to this (default: 1)")
    p.add_argument("--timeout", type=float, default=24 * 3600,
                   help="seconds to wait for the run (default: a day); it goes on on the server after that")
    p.add_argument("--request-timeout", type=float, default=300, help="seconds to wait for one answer (default: 300)")
    p.add_argument("--resume", metavar="RUN_URL",
                   help="follow a run this command started before (its API address, printed when it stopped at the "
                   "review) instead of uploading again: waits, reviews as --review says, downloads the results")
    p.add_argument("--quiet", "-q", action="store_true", help="print errors only")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    if not args.token:
        print("equestria-align: give a token with --token or $EQUESTRIA_TOKEN (make one on the site's “API tokens” "
              "page).", file=sys.stderr)
        return USAGE
    if args.batch_mb < 1 or args.batch_files < 1 or args.poll <= 0 or args.timeout <= 0:
        print("equestria-align: --batch-mb, --batch-files, --poll and --timeout must be positive.", file=sys.stderr)
        return USAGE
    if not args.folder and not args.resume:
        print("equestria-align: give the folder of recordings to align (or --resume RUN_URL).", file=sys.stderr)
        return USAGE
    if not args.output and not args.folder:
        print("equestria-align: --resume needs --output, the folder its results go to.", file=sys.stderr)
        return USAGE
    args.output = args.output or str(Path(args.folder) / "aligned")
    try:
        return align(args)
    except Stop as exc:
        print(f"equestria-align: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("equestria-align: interrupted; a run that started goes on on the server.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
