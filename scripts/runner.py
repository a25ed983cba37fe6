"""The steps of running a CLAM process; the background task (scripts.tasks) calls `advance`.

Each step is idempotent, so running one twice (django-background-tasks runs
tasks at least once) does no harm:

- start: (re)create the CLAM project under the process's fixed name, upload
  every input as a stream, start it with the stored parameter values;
- poll: read CLAM's status and completion, first POLL_MIN_SECONDS after the
  start, then again after a twentieth of the job's run time so far;
- download: stream each output into a temporary folder with a byte cap, then
  rename the folder into place; delete the CLAM project (also on failure).

`advance` holds a lease on the process (a conditional UPDATE), counts the
attempts of the current step before running it, retries servers that are
down or answer 5xx with backoff up to PROCESS_MAX_ATTEMPTS, and fails at once
on rejected credentials.
"""

import errno
import glob
import json
import logging
import os
import re
import shutil
import time
import uuid
from datetime import timedelta
from urllib.parse import quote

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from requests_toolbelt import MultipartEncoder

from scripts import clamnames, workers
from scripts.clam import (
    AuthenticationFailed,
    ClamConnection,
    ClamError,
    MalformedResponse,
    NotAClamService,
    RequestRefused,
    ServerError,
    ServerTimeout,
    ServerUnreachable,
    parse_xml,
    transfer_seconds,
    upload_read_timeout,
)
from scripts.crypto import PasswordUnreadable
from scripts.filenames import extension_of, stem_of
from scripts.models import InputTemplate, OutputTemplate, Process
from scripts.plainwords import GENERIC_FAILURE, plain
from scripts.signals import process_finished

log = logging.getLogger(__name__)

TRANSIENT = (ServerUnreachable, ServerTimeout, ServerError)
# The first poll, and the shortest wait between polls: a job of a second or less (the bundled services'
# on a short recording) is collected within tens of milliseconds of its end.
POLL_MIN_SECONDS = 0.02
Status = Process.Status


class StepFailed(ClamError):
    """The process cannot succeed; str() is the reason for the user."""


def _connection(process):
    try:
        return ClamConnection.for_script(process.script)
    except PasswordUnreadable as exc:
        raise StepFailed(f"the password of {process.script} must be entered again by an administrator ({exc})") from None


def _save(process, **fields):
    for name, value in fields.items():
        setattr(process, name, value)
    if fields.get("status") not in (None, *Process.FINISHED):
        # A cancel (or the deletion of the project) may have ended the process during the step: a
        # step's progress must not bring it back to life.
        Process.objects.filter(pk=process.pk).exclude(status__in=Process.FINISHED).update(
            **fields, updated_at=timezone.now()
        )
        return
    process.save(update_fields=[*fields, "updated_at"])


def _path(*segments):
    """A path below the service's URL, every segment quoted: a name's # ? % / must not change the URL."""
    return "/".join(quote(segment, safe="") for segment in segments)


def _still_wanted(process):
    """Whether the process's results are still wanted: its row exists and was not cancelled.

    Call inside a transaction: the row stays locked until its end (on SQLite, the transaction holds
    the database's write lock), so a cancel, or the deletion of the project, happens wholly before
    this check or after the write that follows it.
    """
    row = _locked_row(process)
    return row is not None and not row["cancel_requested"] and row["status"] not in Process.FINISHED


def _locked_row(process):
    """The process's status and cancel flag, its row locked until the transaction ends (None: deleted)."""
    return Process.objects.select_for_update().filter(pk=process.pk).values("status", "cancel_requested").first()


def _remove_empty_parents(path):
    """Remove the empty folders above `path` inside the storage (a deleted project's, made again for a download)."""
    root = os.path.abspath(default_storage.path(""))
    folder = os.path.dirname(os.path.abspath(path))
    # Not the top folder ("projects/"): other projects' uploads make their folders in it at any time.
    while os.path.dirname(folder).startswith(root + os.sep):
        try:
            os.rmdir(folder)
        except OSError:
            return  # not empty, or gone
        folder = os.path.dirname(folder)


class _NotWanted(Exception):
    """The process was cancelled (or its project deleted) during the download."""


def _delete_remote(connection, process, *, hang_ends_step=False):
    """Delete the process's CLAM project; False when the server could not be asked (down, hanging)."""
    try:
        connection.request("DELETE", _path(process.clam_project, ""))
    except NotAClamService:
        pass  # 404: already gone
    except ServerTimeout:
        if hang_ends_step:
            raise
        log.warning("Could not delete CLAM project %s: the server did not answer", process.clam_project)
        return False
    except TRANSIENT as exc:
        log.warning("Could not delete CLAM project %s: %s", process.clam_project, exc)
        return False
    except ClamError as exc:
        log.warning("Could not delete CLAM project %s: %s", process.clam_project, exc)
    return True


def delete_remote_later(process_id):
    """Ask the server again to delete an ended process's CLAM project (scripts.tasks.delete_clam_project).

    A cancelled or failed process's inputs (a researcher's recordings) must not stay on the service
    because it was down at that moment. Returns False when it should be tried again.
    """
    process = Process.objects.select_related("script").filter(pk=process_id).first()
    if process is None:
        return True
    try:
        return _delete_remote(_connection(process), process)
    except StepFailed:
        return True  # the password is unreadable: no attempt can succeed until an administrator acts


def step_start(process):
    connection = _connection(process)
    retry = process.started_at is not None
    _save(process, status=Status.UPLOADING, started_at=process.started_at or timezone.now())
    if retry:
        # A retry after a crash or timeout finds the project of the earlier attempt: start afresh.
        # A server that still hangs ends this attempt here instead of hanging the PUT too.
        _delete_remote(connection, process, hang_ends_step=True)
    if any("clam_name" not in item for item in process.inputs):
        _save(process, inputs=clamnames.assign(process.inputs, reserved=_reserved_stems(process),
                                               extensions=_template_extensions(process)))
    connection.request("PUT", _path(process.clam_project, ""))
    not_converted = []
    earlier = [item.pop("not_converted") for item in process.inputs if "not_converted" in item]  # an earlier attempt's
    for item in process.inputs:
        sent = clamnames.clam_name(item)
        with default_storage.open(item["storage_name"], "rb") as f:
            # An input template's parameters (per-file metadata) go with the file, as the `clam` client's addinput
            # sends them; the file's fields come last, so that a parameter named "file" cannot replace them. A
            # chosen converter goes as CLAM's own web page sends it: `converter=<id>`.
            converter = {"converter": item["converter"]} if item.get("converter") else {}
            body = MultipartEncoder(
                fields={**item.get("metadata", {}), **converter, "file": (sent, f, "application/octet-stream"),
                        "inputtemplate": item["template"]}
            )
            try:
                response = connection.request(
                    "POST", _path(process.clam_project, "input", sent), data=body,
                    headers={"Content-Type": body.content_type},
                    read_timeout=upload_read_timeout(body.len),
                )
            except RequestRefused as exc:
                reason = RequestRefused.reason(exc)
                if converter and reason.startswith(CLAM_INVALID_CONVERTER):
                    # Re-imported since the upload, the service no longer declares it; CLAM stored nothing.
                    label = _converter_label(_input_template(process, item["template"]), item)
                    item["not_converted"] = (f"{item['name']} was left out: the service no longer offers the conversion "
                                             f"chosen for it (“{label}”); upload it again, choosing what its files are")
                    not_converted.append(item["not_converted"])
                    continue
                if converter and CLAM_UNABLE_TO_CONVERT in reason.split("; "):
                    template = _input_template(process, item["template"])
                    item["not_converted"] = _not_converted(item, template)
                    not_converted.append(item["not_converted"])
                    # CLAM answers no more than this; staff find the reason in the service's own output.
                    _save(process, log=f"{process.log}{_CONVERSION_MARK}{item['name']} (sent as {sent}, converter "
                                       f"{item['converter']}): CLAM answered “{reason}”; the service's own log (its "
                                       "standard error) says why, e.g. “sh: 1: pdftotext: not found” when the program "
                                       "the converter runs is missing\n")
                    # CLAM keeps the file it could not convert, and its job would then fail on it (it has no
                    # metadata). A template with a fixed name stores it under that name.
                    _delete_input(connection, process, template.filename if template and template.filename else sent)
                    continue
                # Which file: a constraint or a per-file value (its template's parameters) is the file's own.
                reason = _with_labels(process, reason)
                raise StepFailed(f"the service refused {item['name']}: {reason}") from None
        root = parse_xml(response.content, "upload answer")
        errors = [e.text or "" for e in root.iter("error")] + [
            p.get("error") for p in root.iter() if p.get("error")
        ]
        if errors or any((v.text or "").strip() == "no" for v in root.iter("valid")):
            raise StepFailed(f"the server refused {item['name']}: {'; '.join(errors) or 'invalid file'}")
    if not_converted or earlier:
        _save(process, inputs=process.inputs)
    if not_converted:
        if len(not_converted) == len(process.inputs):
            raise StepFailed("; ".join(not_converted))
    try:
        response = connection.request("POST", _path(process.clam_project, ""), data=process.parameters)
    except ServerError as exc:
        raise StartFailed(str(exc)) from None
    except RequestRefused as exc:
        reason = f"the service refused the settings: {_with_labels(process, RequestRefused.reason(exc))}"
        if not_converted:  # e.g. the service needs a file of the kind that could not be converted
            reason = f"{'; '.join(not_converted)}; without {'it' if len(not_converted) == 1 else 'them'}, {reason}"
        raise StepFailed(reason) from None
    root = parse_xml(response.content, "start answer")
    problems = [f"{p.get('id')}: {p.get('error')}" for p in root.iter() if p.get("error") and p.get("id")]
    if problems:
        raise StepFailed(f"the service refused the settings: {_with_labels(process, '; '.join(problems))}")
    _save(process, status=Status.RUNNING, completion=0)


# CLAM's whole answer (clamservice.py) to an upload whose converter failed (pdftotext missing, a damaged PDF …).
CLAM_UNABLE_TO_CONVERT = "Unable to convert"
# … and to a converter the input template does not declare (before it stores anything).
CLAM_INVALID_CONVERTER = "Invalid converter specified"


def _input_template(process, template_id):
    return InputTemplate.objects.filter(profile__script_id=process.script_id, template_id=template_id).first()


def _converter_label(template, item):
    # The template's, else the one the researcher chose it by (kept with the file: a re-import may have dropped it).
    declared = dict(template.converters) if template else {}
    return declared.get(item["converter"]) or item.get("converter_label") or item["converter"]


def _not_converted(item, template):
    """What a researcher is told of a file the service could not convert: its name and the converter's label."""
    label = _converter_label(template, item)
    return (f"{item['name']} was left out: the service could not convert it (“{label}”); check that it is a file of "
            "that kind and not damaged, or upload it in the format the service takes, or ask your administrator (the "
            "service may lack the program it needs)")


def _delete_input(connection, process, name):
    try:
        connection.request("DELETE", _path(process.clam_project, "input", name))
    except NotAClamService:
        pass  # CLAM did not keep it


def _template_extensions(process):
    """{template id: extension} of the script's input templates, so that a file's name keeps its multi-part one."""
    extensions = {}
    for template_id, extension in InputTemplate.objects.filter(profile__script_id=process.script_id).values_list(
            "template_id", "extension"):
        extensions.setdefault(template_id, extension)
    return extensions


# CLAM's summary of a refusal of parameters, said before its reasons for each: these say it better.
_CLAM_PARAMETERS_INVALID = "One or more parameters are invalid"


def _with_labels(process, reason):
    """CLAM's reasons ("minlength: Number must be …") with each parameter named as the run form showed it
    ("Minimum word length: …"): the researcher never saw the service's ids."""
    labels = dict(process.script.parameters.values_list("clam_id", "name"))
    parts = []
    for part in reason.split("; "):
        clam_id, colon, rest = part.partition(": ")
        parts.append(f"{labels[clam_id]}: {rest}" if colon and clam_id in labels else part)
    if len(parts) > 1 and _CLAM_PARAMETERS_INVALID in parts:
        parts.remove(_CLAM_PARAMETERS_INVALID)
    return "; ".join(parts)


def _reserved_stems(process):
    """Stems of the script's outputs with a fixed name (report.json, oov.txt …): no input may be sent under one."""
    names = OutputTemplate.objects.filter(profile__script_id=process.script_id).exclude(filename="")
    return {stem_of(name) for name in names.values_list("filename", flat=True)}


def _status(connection, process):
    root = connection.index_of(process.clam_project)
    status = root.find("status")
    if status is None:
        raise MalformedResponse("the project page has no <status>")
    return root, status


def step_poll(process):
    connection = _connection(process)
    try:
        root, status = _status(connection, process)
    except NotAClamService:
        _start_again(process, connection, "the service answered 404 for the project: it no longer has it")
    code = status.get("code")
    completion = int(status.get("completion") or 0)
    if code == "0":
        # CLAM writes the job's .pid before it answers the start: a project that is ready again has no job.
        _start_again(process, connection, "the project is ready again: the service has no job for it")
    if code == "2":
        if status.get("errors") == "yes":
            lost = _job_lost(connection, process, _output_names(root))
            if lost:
                _start_again(process, connection, lost)
        message = clamnames.NameMap(process.inputs).text(status.get("message", ""))
        _save(process, status=Status.DOWNLOADING, completion=100, message=message[:1000])
        return True
    # Never backwards: a job's status lines without a figure count as 0 % (our wrappers' "Could not align
    # …"), which made the bar jump back and stay near 0 in a run.
    completion = max(process.completion, min(100, completion))
    _save(process, completion=completion, message=clamnames.NameMap(process.inputs).text(status.get("message", ""))[:1000])
    return False


class StartFailed(ServerError):
    """The service answered the start of the job (after the uploads) with an internal error."""


# A start answered with an internal error is the same request again at the next attempt, which rarely goes
# better: give up after this many, rather than PROCESS_MAX_ATTEMPTS over minutes.
START_ERROR_MAX_ATTEMPTS = 2


class JobLost(ServerError):
    """The service lost the job (it stopped while the job ran, or lost the project); the process starts again.

    A ServerError, so that advance() retries it like a server that is down: with a delay, which gives a
    service that is starting up again a moment.
    """


def _open_result(path):
    """The file one downloaded output is written to (a seam for tests of a full disk)."""
    return open(path, "wb")


# How a CLAM dispatcher's last words in error.log begin once the job has ended, in any way: CLAM's own
# (clam.clamdispatcher) and the bundled services' (clamservices/dispatcher.py, "Job ended").
_DISPATCHER = "[CLAM Dispatcher]"
_DISPATCHER_ENDED = re.compile(
    r"^\[CLAM Dispatcher\] (?:Process ended|Process lost|Job ended|Unable to launch|ABORTING|PROCESS TIMED OUT"
    r"|PROCESS EXCEEDS|FATAL ERROR|ERROR)",
    re.MULTILINE,
)
# Enough of the end of error.log to hold the dispatcher's last words, which follow the job's.
_LOG_TAIL_BYTES = 64 * 1024
# Lines of the process log (Process.log) that count the times the service lost the job; step_download keeps them.
_LOST_MARK = "The service lost the job: "
# … and those of inputs the service could not convert (step_start).
_CONVERSION_MARK = "The service could not convert an input: "


def _output_names(root):
    """The names of the outputs in a CLAM project page: a file's path relative to the output folder (CLAM lists
    subfolders' files as "sub/name"); a name that could leave the run's folder (absolute, "..") is left out."""
    names = []
    output = root.find("output")
    for f in output.findall("file") if output is not None else []:
        name = (f.findtext("name") or "").strip()
        parts = name.split("/")
        if name and "\\" not in name and all(part not in ("", ".", "..") for part in parts):
            names.append(name)
    return names


def _job_lost(connection, process, names):
    """Why a job that CLAM reports done with errors did not really end, or "" when it did (a genuine failure).

    CLAM cannot tell a job that failed from one whose service was killed with it: on the next status
    request it finds the job's pid gone without an exit status and records a failure itself, and
    reports the job's last status line (or "Done") as if it were the job's own. What tells them apart
    is error.log: a dispatcher writes its last words there when the job ends, and a job that fails
    says why; one killed with its service does neither.
    """
    if "error.log" not in names:
        return "the job is done but its output folder is gone"
    try:
        response = connection.request("GET", _path(process.clam_project, "output", "error.log"), stream=True)
    except NotAClamService:
        return "the service answered 404 for error.log: it no longer has the project"
    marker = _DISPATCHER.encode()
    dispatched, tail, total, began = False, b"", 0, time.monotonic()
    with response:
        for chunk in connection.chunks(response):
            total += len(chunk)
            if total > settings.CLAM_MAX_OUTPUT_BYTES or time.monotonic() - began > transfer_seconds(total):
                return ""  # the download says what is wrong with it
            # The dispatcher's first line may be far from the end: a job's own log can be long.
            window = tail + chunk
            dispatched = dispatched or marker in window
            tail = window[-_LOG_TAIL_BYTES:]
    text = tail.decode("utf-8", errors="replace")
    if dispatched:
        if _DISPATCHER_ENDED.search(text):
            return ""
        return "the job's dispatcher never said that the job ended"
    if not text.strip() and names == ["error.log"]:
        return "the job failed without a word and without any output"
    return ""


def _times_lost(process):
    return sum(1 for line in process.log.splitlines() if line.startswith(_LOST_MARK))


def _start_again(process, connection, why):
    """Start a job that its service lost once more, from the start step (the inputs are still here); or give up.

    Each loss counts, in the process log, up to PROCESS_MAX_ATTEMPTS: a job that kills its service
    every time must not run for ever. Raises JobLost (retried by advance) or StepFailed.
    """
    lost = _times_lost(process) + 1
    log.warning("CLAM project %s: %s (%d time(s))", process.clam_project, why, lost)
    service = f'the service "{process.script.name}"'
    history = f"{process.log}{_LOST_MARK}{why}\n"
    if lost >= settings.PROCESS_MAX_ATTEMPTS:
        process.log = history
        Process.objects.filter(pk=process.pk).update(log=history)
        raise StepFailed(
            f"{service} stopped while it was working on this run, {lost} times; try again later, or ask an "
            "administrator to look at the service"
        )
    _delete_remote(connection, process)
    # advance() words its "retrying (attempt n)" with the attempts of the current step: make n this job's.
    _save(process, status=Status.QUEUED, completion=0, attempts=lost, log=history)
    raise JobLost(f"{service} stopped while it was working on this run; starting it again")


def _local_path(name):
    return default_storage.path(name)


def step_download(process):
    connection = _connection(process)
    try:
        root, status = _status(connection, process)
    except NotAClamService:
        _start_again(process, connection, "the service answered 404 for the project: it no longer has it")
    errors = status.get("errors") == "yes"
    names = _output_names(root)
    # Outputs are kept under the users' names (don_t.TextGrid → don't.TextGrid); a name that would
    # then clash with another output keeps the service's.
    mapping = clamnames.NameMap(process.inputs)
    local = {}
    for name in names:
        mapped = mapping.name(name)
        local[name] = mapped if mapped == name or (mapped not in names and mapped not in local.values()) else name
    final = _local_path(process.output_folder)
    for stale in glob.glob(f"{glob.escape(final)}.part-*"):
        # An earlier attempt's, whose worker was killed mid-download; this worker holds the lease now.
        shutil.rmtree(stale, ignore_errors=True)
    temporary = f"{final}.part-{uuid.uuid4().hex[:8]}"
    os.makedirs(temporary)
    try:
        total = 0
        started = time.monotonic()
        for name in names:
            response = connection.request("GET", _path(process.clam_project, "output", *name.split("/")), stream=True)
            target_path = os.path.join(temporary, local[name])
            os.makedirs(os.path.dirname(target_path), exist_ok=True)
            with response, _open_result(target_path) as target:
                for chunk in connection.chunks(response):
                    total += len(chunk)
                    if total > settings.CLAM_MAX_OUTPUT_BYTES:
                        raise StepFailed(
                            f"the outputs are larger than the limit of {settings.CLAM_MAX_OUTPUT_BYTES} bytes; "
                            "nothing was kept"
                        )
                    target.write(chunk)
                    # The read limit bounds each wait only: a server that trickles a few bytes at a time
                    # would hold the worker for ever. Outputs must arrive at the rate uploads are allowed.
                    if time.monotonic() - started > transfer_seconds(total):
                        raise ServerTimeout(
                            f"{connection.where()} sent the results too slowly (less than "
                            f"{1024 / settings.CLAM_UPLOAD_SECONDS_PER_GB:.0f} MiB/s)"
                        )
        _with_user_names_inside(temporary, [local[n] for n in names if n != "error.log"], mapping)
        _rename_into_place(process, temporary, final)
    except BaseException as exc:
        shutil.rmtree(temporary, ignore_errors=True)
        _remove_empty_parents(temporary)
        if isinstance(exc, OSError):
            # Deleting the project removes the temporary folder too: that is no disk problem to retry.
            with transaction.atomic():
                if not _still_wanted(process):
                    exc = _NotWanted()
        if isinstance(exc, _NotWanted):
            _delete_remote(connection, process)
            _finish(process, Status.CANCELLED, error="cancelled")
            return
        if isinstance(exc, NotAClamService):
            _start_again(process, connection, "the service answered 404 for an output: it no longer has the project")
        raise
    logs = []
    for name in ("error.log",):
        path = os.path.join(final, local.get(name, name))
        if os.path.exists(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                logs.append(f.read()[-20000:])
    statuslog = mapping.text(" / ".join(s.get("message", "") for s in root.iter("status") if s.get("message")))
    _delete_remote(connection, process)
    outputs = [local[n] for n in names if n != "error.log"]
    # The times the service lost the job, and the inputs it could not convert, stay in the log, for staff.
    lost = "".join(line + "\n" for line in process.log.splitlines()
                   if line.startswith((_LOST_MARK, _CONVERSION_MARK)))
    if errors:
        reason = mapping.text(_failure_reason(status, logs))
        _finish(process, Status.FAILED, error=reason, detail=mapping.text("\n".join(logs)), log=lost + statuslog,
                outputs=outputs)
    else:
        _finish(process, Status.DONE, log=lost + mapping.text("\n".join(logs)), outputs=outputs)


# Outputs larger than this keep the service's names inside: a report or log is far smaller.
MAP_INSIDE_MAX_BYTES = 20 * 1024 * 1024


def _with_user_names_inside(folder, names, mapping):
    """JSON and log outputs (report.json, alignment.log) name the files as the service had them: name the users'.

    JSON stays JSON: parsed, each string that is a file name mapped as one, other strings as text
    (whatever the service's schema); a file that does not parse is left as it is. error.log is not
    among `names`: it is read, and mapped, by step_download itself.
    """
    for name in names:
        kind = extension_of(name)
        path = os.path.join(folder, name)
        if kind not in ("json", "log") or os.path.getsize(path) > MAP_INSIDE_MAX_BYTES:
            continue
        with open(path, "rb") as f:
            raw = f.read()
        if kind == "log":
            text = mapping.text(raw.decode("utf-8", "surrogateescape"))
            with open(path, "wb") as f:
                f.write(text.encode("utf-8", "surrogateescape"))
            continue
        try:
            data = json.loads(raw.decode("utf-8-sig"))
        except (ValueError, RecursionError):
            log.info("Output %s is not valid JSON; its file names are left as the service wrote them", name)
            continue

        def user(value):
            if isinstance(value, str):
                return mapping.value(value)
            if isinstance(value, list):
                return [user(v) for v in value]
            if isinstance(value, dict):
                return {user(k): user(v) for k, v in value.items()}
            return value

        try:
            text = json.dumps(user(data), ensure_ascii=False, indent=2 if b"\n" in raw.strip() else None)
        except RecursionError:
            continue
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)


def _rename_into_place(process, temporary, final):
    """Move the downloaded folder into place, unless the process was cancelled or its project deleted meanwhile.

    Checked as late as possible and under the row's lock: a result renamed into a deleted project's
    folder would stay there for good, unreachable.
    """
    with transaction.atomic():
        if not _still_wanted(process):
            raise _NotWanted
        if os.path.isdir(final):
            shutil.rmtree(final)  # a half-finished earlier attempt never renamed; this one did
        os.makedirs(os.path.dirname(final), exist_ok=True)
        os.rename(temporary, final)


NO_REASON = "the job on the service ended with an error without saying why; ask your administrator"


def _failure_reason(status, logs):
    """CLAM's generic "an error occurred" is useless: prefer the wrapper's own last words.

    The reason is shown to researchers, so a traceback, or a last line with an exception name or a
    server path, gives a generic message instead (the log itself stays in `detail`, for staff).
    Our wrappers start their last words with "Failed: ", which the page already says.
    """
    reason = ""
    for text in logs:
        if "Traceback (most recent call last)" in text:
            return GENERIC_FAILURE  # a crash: its last line names an exception, not a cause
        for line in reversed(text.strip().splitlines()):
            if line.strip() and not line.startswith("[CLAM Dispatcher]"):
                reason = line.strip()
                break
        if reason:
            break
    message = status.get("message", "")
    if message == "Done":
        message = ""  # CLAM's word for a job that wrote no status line, not the job's
    # CLAM's errormsg ("… inspect the error log …") points at a log the researcher cannot see.
    reason = reason or message or NO_REASON
    reason = re.sub(r"^(?:failed:\s*)+", "", reason, flags=re.IGNORECASE)
    return plain(reason)[:2000]


def _finish(process, status, **fields):
    """End the process and tell its listeners, once: a process already finished (or deleted) stays as it is,
    and one whose cancel was requested meanwhile ends cancelled, whatever the step found."""
    with transaction.atomic():
        row = _locked_row(process)
        if row is None or row["status"] in Process.FINISHED:
            return
        if row["cancel_requested"] and status != Status.CANCELLED:
            status, fields = Status.CANCELLED, {"error": "cancelled"}
        if status == Status.DONE:
            fields.setdefault("detail", "")  # a retry's transient error, over now
        _save(process, status=status, finished_at=timezone.now(), attempts=0, lease_until=None, leased_by="", **fields)
        process_finished.send(sender=Process, process=process)


def cancel(process, reason="cancelled"):
    """Stop a process: delete its CLAM project; the worker sees the flag and stops too."""
    Process.objects.filter(pk=process.pk).update(cancel_requested=True)
    if not process.finished:
        _cleanup_after_failure(process)
        _finish(process, Status.CANCELLED, error=reason)


def advance(process_id):
    """Do the next step of a process. Returns seconds until the next call, or None when finished."""
    now = timezone.now()
    free = _lease_free(now)
    if workers.current_name:
        free |= Q(leased_by=workers.current_name)  # a lease of ours is left only by a step that ended badly
    claimed = Process.objects.filter(pk=process_id).exclude(status__in=Process.FINISHED).filter(free).update(
        lease_until=workers.lease_until(now), leased_by=workers.current_name or ""
    )
    if not claimed:
        process = Process.objects.filter(pk=process_id).first()
        if process is None or process.finished:
            return None
        if workers.is_alive(process.leased_by):
            # A live worker is on a step of it, from a task of its own that carries the process on:
            # this one is a second chain (a task taken over from a worker that was only slow).
            return None
        # Its holder died: the lease ends within moments of the task lock that let this task run.
        left = (process.lease_until - timezone.now()).total_seconds() if process.lease_until else 0
        return max(0.1, left + 0.1)
    workers.current_process = process_id  # the heartbeat keeps this lease, and no other
    try:
        return _advance_claimed(process_id)
    except BaseException:
        # Not one of the step's expected errors (a bug, the database gone, the worker stopping): let the
        # task's next attempt, on any worker, have the process at once.
        Process.objects.filter(pk=process_id, leased_by=workers.current_name or "").update(
            lease_until=None, leased_by=""
        )
        raise
    finally:
        workers.current_process = None


def _advance_claimed(process_id):
    process = Process.objects.select_related("script").get(pk=process_id)
    if process.cancel_requested:
        # A step that was busy when the cancel came may have made the CLAM project again.
        _cleanup_after_failure(process)
        _finish(process, Status.CANCELLED, error=process.error or "cancelled")
        return None
    # Count the attempt before the step, so a step that kills the worker still counts.
    _save(process, attempts=process.attempts + 1)
    if process.attempts > settings.PROCESS_MAX_ATTEMPTS:
        _cleanup_after_failure(process)
        _finish(process, Status.FAILED, error=_gave_up(process), detail=process.detail)
        return None
    began = time.monotonic()
    step_was_start = process.status in (Status.QUEUED, Status.UPLOADING)
    try:
        with workers.stoppable():
            if step_was_start:
                step_start(process)
                delay = POLL_MIN_SECONDS
            elif process.status == Status.RUNNING:
                done = step_poll(process)
                delay = 0 if done else _next_interval(process)
            else:
                step_download(process)
                delay = None
    except (*TRANSIENT, OSError) as exc:
        if _cancelled_meanwhile(process):
            return None
        # OSError: this machine's disk is full or its folder unwritable; may clear up, like a server that is down.
        reason = _local_problem(exc, reading=step_was_start) if isinstance(exc, OSError) else str(exc)
        if isinstance(exc, StartFailed) and process.attempts >= START_ERROR_MAX_ATTEMPTS:
            _cleanup_after_failure(process)
            _finish(process, Status.FAILED, error=f"gave up after {process.attempts} attempts at starting the job: "
                                                  f"{reason}; ask your administrator")
            return None
        delay = _retry_delay(process.attempts, time.monotonic() - began)
        _save(process, message=f"retrying (attempt {process.attempts}): {reason}", detail=reason, lease_until=None, leased_by="")
        return delay
    except (AuthenticationFailed, StepFailed, MalformedResponse, NotAClamService, ClamError) as exc:
        _cleanup_after_failure(process)
        _finish(process, Status.FAILED, error=str(exc))
        return None
    if delay is None or _cancelled_meanwhile(process):
        return None
    # The step went through: the trouble of earlier attempts is over and must not stay on the page.
    _save(process, attempts=0, lease_until=None, leased_by="", detail="")
    return delay


def _retry_delay(attempts, spent):
    """Seconds before the next attempt of a step that failed after `spent` seconds.

    The wait doubles with each attempt and grows with the time the step spent: a service that hangs
    until the time limit gets at most a third of a worker at first, less and less after, and the
    worker runs other processes' steps meanwhile.
    """
    return min(settings.PROCESS_RETRY_MAX_SECONDS, 2**attempts * max(1, spent))


def _local_problem(exc, reading=False):
    if exc.errno == errno.ENOSPC:
        return "no space left on the Equestria server's disk for the results"
    if reading:
        return f"cannot read the input files on the Equestria server ({exc.strerror or exc})"
    return f"cannot write the results on the Equestria server ({exc.strerror or exc})"


def _cancelled_meanwhile(process):
    """Whether a cancel (or the deletion of the project) came while the step ran; then end the process here.

    The step may have made the CLAM project again after the cancel deleted it (CLAM creates a project
    on any upload or start), and nobody else will look at a finished process: delete it now.
    """
    if not Process.objects.filter(pk=process.pk, cancel_requested=True).exists():
        return False
    _cleanup_after_failure(process)
    _finish(process, Status.CANCELLED, error="cancelled")
    return True


def _next_interval(process):
    """Poll again after a twentieth of the time the job has run so far (POLL_MIN_SECONDS to PROCESS_POLL_MAX_SECONDS).

    So noticing that a job is done costs at most about 5 % of its run time (20 ms for short jobs),
    and a long job is not polled needlessly often.
    """
    elapsed = (timezone.now() - (process.started_at or process.created_at)).total_seconds()
    interval = max(POLL_MIN_SECONDS, min(settings.PROCESS_POLL_MAX_SECONDS, elapsed / 20))
    _save(process, poll_interval=interval)
    return interval


def _gave_up(process):
    reason = process.detail or "the worker stopped during this step each time"
    return f"gave up after {settings.PROCESS_MAX_ATTEMPTS} attempts while {process.get_status_display()}: {reason}"


def _cleanup_after_failure(process):
    """Delete the CLAM project, or have it deleted later when the server does not answer now; never let
    cleanup hide the failure."""
    try:
        deleted = _delete_remote(_connection(process), process)
    except ClamError:
        return
    if not deleted:
        from scripts.tasks import delete_clam_project  # the tasks module imports this one

        transaction.on_commit(lambda: delete_clam_project(str(process.pk)))


def _lease_free(now):
    """No worker holds the process, or its holder's lease has run out."""
    return Q(lease_until__isnull=True) | Q(lease_until__lt=now)
