"""Each recording's outcome in a run, read from what a forced-alignment process delivered.

The bundled FA service writes `report.json` beside the TextGrids (one entry per recording, see
/tmp/issue12-spec.md §1). A third-party CLAM service may not: then the outcomes are derived from
the outputs (an audio input with a `<stem>.TextGrid` is aligned, one without is not).

A report is the service's word, so it is checked entry by entry: whatever is missing, odd or
not JSON at all falls back to the derived outcome and is logged, never raised — this runs in the
worker, inside the transaction that finishes the process.
"""

import csv
import io
import json
import logging
import os
import shutil

from django.core.files.storage import default_storage
from django.db import transaction

from pipelines import exports, pictures
from pipelines.models import RecordingOutcome, ResultVersion, Run
from scripts.clamnames import NameMap
from scripts.filenames import extension_of
from scripts.models import InputTemplate
from scripts.plainwords import looks_technical
from upload.models import ProjectFile
from upload.checks import kind_of
from upload.names import stem_of

log = logging.getLogger(__name__)
Status = RecordingOutcome.Status

REPORT_NAME = "report.json"
REPORT_MAX_BYTES = 20 * 1024 * 1024  # about 40 000 recordings; a larger "report" is not one

# Plain words for each code of the report, when its reason is missing or not fit to show.
REASONS = {
    "unknown_words": "its transcript has words the aligner does not know",
    "no_transcript": "there is no transcript for this recording (add one with the same name: .txt, .TextGrid or .eaf)",
    "no_audio": "there is no recording for this transcript",
    "unreadable_audio": "the audio file cannot be read",
    "too_long": "the recording is longer than the aligner accepts",
    "too_short": "the recording is too short to align",
    "silent": "the recording is silent",
    "empty_transcript": "the transcript is empty",
    "unreadable_transcript": "the transcript cannot be read as text",
    "no_match": "the transcript does not match the audio",
    "pronunciation": "a pronunciation from your dictionary does not fit the audio",
    "internal": "the aligner stopped on this recording with an internal error; an administrator can see "
    "the details in the alignment log",
    "no_result": "the service produced no result for it; its log may say why",
    "deleted_in_review": "its files were deleted during the review, so it was not aligned",
}
DELETED_IN_REVIEW = "deleted_in_review"
STOPPED = "the alignment stopped before it produced a result for it"
FIRST_RESULT_GONE = ("its result of the first alignment is no longer on the server, and it was not aligned again; "
                     "start a new alignment of the project to get one")
DELETED_IN_REVIEW_END = "deleted during the review, so it was not aligned"


def deleted_in_review(audio, transcript):
    """The message of a recording that waited for the review and whose files `audio`, `transcript` (names, "" for
    one that is still there) were deleted during it: it was never aligned, and is not now."""
    if audio and transcript:
        return f"its recording {audio} and its transcript {transcript} were {DELETED_IN_REVIEW_END}"
    return f"its {'recording' if audio else 'transcript'} {audio or transcript} was {DELETED_IN_REVIEW_END}"


def deleted_files(run, present):
    """{recording: (its audio's name, its transcript's name)} of the run's recordings whose audio or transcript the
    first alignment was given and is no longer among `present` (the project's file names), each "" for the one still
    there: the one rule of the realignment (neither file is sent), the review page and the delete's message."""
    if run.fa_process is None:
        return {}
    stored = {str(i.get("name", "")) for i in run.fa_process.inputs}
    first_audio, first_texts = inputs_by_kind(run, run.fa_process)
    gone = {}
    for outcome in run.outcomes.exclude(code=LEFT_OUT):
        stem = stem_of(outcome.recording)
        audio = outcome.recording if outcome.recording in first_audio.values() else first_audio.get(stem)
        pair = tuple(n if n and n in stored and n not in present else ""
                     for n in (audio, outcome.transcript or first_texts.get(stem)))
        if any(pair):
            gone[outcome.recording] = pair
    return gone


def deletion_note(project, name):
    """What deleting the file `name` of `project` means for a run of it waiting for the review, or "": a recording
    that waited for the review is not aligned after it without its audio or its transcript (upload.models.
    DELETION_NOTES)."""
    present = set(project.files.values_list("name", flat=True))
    for run in Run.objects.filter(project=project, stage=Run.Stage.REVIEW):
        for recording, pair in deleted_files(run, present).items():
            if name in pair and run.outcomes.filter(recording=recording, status=Status.WAITING).exists():
                what = "recording" if name == pair[0] else "transcript"
                return (f"{recording} waits for your review of the pronunciations; without its {what} it will not be "
                        f"aligned when you send the review. Upload {name} again before then to have it aligned.")
    return ""


def record_pass(run, process, *, review=False):
    """Replace `run`'s outcomes with those of its FA `process` (first pass or realignment).

    `review`: the run goes on to the review of unknown words, so recordings that have some wait for it.
    A process that delivered nothing (failed or cancelled before the download) leaves the earlier
    outcomes, and only settles those still waiting.
    """
    failed = process.status != process.Status.DONE
    earlier = run.outcomes.exclude(code=LEFT_OUT).exists()
    try:
        with transaction.atomic():  # a savepoint: a failure here must not undo the finished process
            if failed and earlier and process.pk == run.realign_process_id:
                # A realignment that failed keeps the first pass's results (Run.result_process stays
                # the first pass); only the recordings that waited for it end without one.
                settle_waiting(run, STOPPED)
            elif process.outputs:
                _replace(run, process, _outcomes(run, process, review, failed))
            elif earlier:
                settle_waiting(run, STOPPED)
            else:
                _replace(run, process, derived(run, process, failed=True))
        return
    except Exception:
        log.exception("Outcomes of run %s from process %s could not be recorded; deriving them", run.pk, process.pk)
    try:
        with transaction.atomic():
            _replace(run, process, derived(run, process, failed=failed, review=review))
    except Exception:
        log.exception("Outcomes of run %s could not be derived either", run.pk)


def merge_first_pass(run, process):
    """Give the realignment's folder the first pass's outputs of the recordings it did not align again, and a
    report.json of every recording, so that every reader of the run's results still reads one process
    (Run.result_process): the list, the zip, the exports, the pictures, the editor, the API.

    The outputs are hard links (a copy only where the file system has none): an hour's TextGrid is not written
    twice. Run in the transaction that finishes the realignment (scripts.runner._finish), after the service's
    job was deleted: when that transaction does not commit (an OSError here, the first pass's files that cannot be
    linked or copied; a worker killed before the commit), the runner's retry of the download finds no job on the
    service and runs the realignment's job again (scripts.runner._start_again), rather than end the run with
    results lost. This then runs again on the new job's folder, which the download replaced whole, and finds any
    link of the first attempt gone; only the versions carried (database rows) were undone with the transaction.
    """
    first = run.fa_process
    if first is None or process.pk != run.realign_process_id or not process.output_folder:
        return
    # The recordings sent, not the dictionary: equestria.wav may be a recording the realignment was not given.
    audio, texts = inputs_by_kind(run, process)
    sent = {*audio.values(), *texts.values()}
    kept = [o for o in run.outcomes.exclude(code=LEFT_OUT)
            if o.recording not in sent and not (o.transcript and o.transcript in sent)]
    if not kept:
        return
    kept_stems = {stem_of(os.path.basename(n)).lower() for o in kept for n in (o.recording, o.transcript, o.textgrid)
                  if n}
    sent_stems = {stem.lower() for stem in (*audio, *texts)}
    source, target = default_storage.path(first.output_folder), default_storage.path(process.output_folder)
    own = {name.lower() for name in process.outputs}
    added = []
    for name in first.outputs:
        stem = stem_of(os.path.basename(name)).lower()
        # Only a kept recording's own outputs: the run-wide ones (log, unknown words) are the realignment's.
        if name.lower() in own or stem not in kept_stems or stem in sent_stems or name == REPORT_NAME:
            continue
        if _link(os.path.join(source, name), os.path.join(target, name)):
            added.append(name)
    # The first pass's log is the only account of how the kept results were made: it stays, under its own name.
    for name in first.outputs:
        log_name = _first_pass_log_name(name)
        if not log_name or log_name.lower() in own:
            continue
        if _link(os.path.join(source, name), os.path.join(target, log_name)):
            added.append(log_name)
    if REPORT_NAME in process.outputs:
        _merge_report(os.path.join(target, REPORT_NAME), _report_data(first) or {}, {o.recording: o for o in kept})
    if added:
        process.outputs = [*process.outputs, *added]
        type(process).objects.filter(pk=process.pk).update(outputs=process.outputs)
    _carry_versions(run, first, process, {o.textgrid for o in kept if o.textgrid} & set(added))


def _carry_versions(run, first, process, names):
    """The saved versions of the kept results `names`, now of the realignment (pipelines.results reads the
    result process's): the same files, their numbers, authors and times kept. Versions of the first pass are
    refused between it and the realignment today (pipelines.versions.BUSY_STAGES); this keeps them if ever not."""
    done = set(ResultVersion.objects.filter(process=process).values_list("result", "number"))
    for version in ResultVersion.objects.filter(run=run, process=first, result__in=names).order_by("pk"):
        if (version.result, version.number) in done:
            continue  # carried by an earlier attempt of this step
        carried = ResultVersion.objects.create(run=run, process=process, result=version.result,
                                               number=version.number, author_id=version.author_id,
                                               textgrid=version.textgrid.name)
        ResultVersion.objects.filter(pk=carried.pk).update(created_at=version.created_at)


def _link(source, target):
    """`target` is `source`'s file (a hard link, else a copy); False when `source` is gone from the disk."""
    try:
        if os.path.exists(target) and os.path.samefile(source, target):
            return True  # linked by an earlier attempt of this step
    except FileNotFoundError:
        return False
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if os.path.lexists(target):
        os.remove(target)
    try:
        os.link(source, target)
    except FileNotFoundError:
        return False
    except OSError:  # no hard links here (another file system, a share): a copy
        shutil.copy2(source, target)
    return True


FIRST_PASS_LOG_SUFFIX = "-first-pass"


def _first_pass_log_name(name):
    """The name a log of the first pass has in the realignment's folder (alignment.log: alignment-first-pass.log),
    or "" for an output that is no log."""
    if extension_of(name) != "log" or "/" in name:
        return ""
    return f"{name[:-len('.log')]}{FIRST_PASS_LOG_SUFFIX}.log"


def _entry_recording(entry):
    return (_name(entry.get("audio")) or _name(entry.get("transcript"))) if isinstance(entry, dict) else ""


def _merge_report(path, first, not_sent):
    """The realignment's report.json with the first pass's (`first`: its report's data) entries of the recordings
    it was not given, `not_sent` ({recording: its outcome}; theirs replaced, if an earlier attempt merged them
    already), and the first pass's run-wide warnings; its summary of them all, and `kept_from_first_pass`: the
    results kept, as a list and on each entry. An entry of one that waited for the review and was left out says
    what its outcome says (skipped, or its files deleted), not the first pass's "unknown words"."""
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read().decode("utf-8-sig"))
    except (OSError, ValueError, RecursionError):
        log.warning("Report %s is unusable; the first pass's entries are not added to it", path)
        return
    if not isinstance(data, dict) or not isinstance(data.get("recordings"), list):
        return
    first_entries = first.get("recordings") if isinstance(first.get("recordings"), list) else []
    entries = [e for e in data["recordings"] if _entry_recording(e) not in not_sent]
    entries += [_as_outcome(dict(e), not_sent[_entry_recording(e)]) for e in first_entries
                if isinstance(e, dict) and _entry_recording(e) in not_sent]
    data["recordings"] = sorted(entries, key=_entry_recording)

    def aligned(entry):
        return isinstance(entry, dict) and entry.get("status") in (Status.ALIGNED, Status.WARNINGS)

    kept = sorted(_entry_recording(e) for e in entries if aligned(e) and _entry_recording(e) in not_sent)
    data["kept_from_first_pass"] = kept
    for entry in entries:
        if isinstance(entry, dict):
            entry["kept_from_first_pass"] = _entry_recording(entry) in kept
    done = sum(1 for e in entries if aligned(e))
    data["summary"] = (f"Aligned {done} of {len(entries)} recordings; {len(kept)} of them kept from the first "
                       f"alignment, {done - len(kept)} aligned again with the reviewed pronunciations")
    warnings = data.get("warnings") if isinstance(data.get("warnings"), list) else []
    earlier = first.get("warnings") if isinstance(first.get("warnings"), list) else []
    # Marked, as the kept results' are the first alignment's; found already when an earlier attempt merged them.
    marked = (f"first alignment: {w}" if isinstance(w, str) else w for w in earlier)
    warnings += [w for w in marked if w not in warnings]
    if warnings:
        data["warnings"] = warnings
    temporary = f"{path}.merging"
    with open(temporary, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=1)
    os.replace(temporary, path)


def _as_outcome(entry, outcome):
    """The first pass's report `entry` of a recording not sent again, agreeing with its `outcome` where the review
    settled it (it waited, and was left out)."""
    if outcome.status == Status.NOT_ALIGNED and entry.get("status") != Status.NOT_ALIGNED or (
            outcome.status == Status.NOT_ALIGNED and outcome.message and entry.get("reason") != outcome.message):
        entry["status"], entry["code"], entry["reason"] = Status.NOT_ALIGNED, outcome.code or "no_result", \
            outcome.message
    return entry


def settle_first_report(run):
    """The first pass's report.json, the run's own when the review sent no job (nothing could change), made to agree
    with the outcomes the review settled (left out: skipped, or its files deleted), as a merged one does."""
    process = run.fa_process
    data = _report_data(process) if process is not None else None
    if data is None:
        return
    settled = {o.recording: o for o in run.outcomes.filter(status=Status.NOT_ALIGNED)}
    entries = [_as_outcome(dict(e), settled[_entry_recording(e)]) if _entry_recording(e) in settled else e
               for e in data["recordings"]]
    if entries == data["recordings"]:
        return
    data["recordings"] = entries
    path = os.path.join(default_storage.path(process.output_folder), REPORT_NAME)
    temporary = f"{path}.settling"
    with open(temporary, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=1)
    os.replace(temporary, path)


def kept_from_first_pass(run, recorded):
    """The recordings of `recorded` (the run's outcomes) that keep the first alignment's result after the review:
    every one with a result that the realignment was not given. The one source of the run page's, report.csv's,
    the API's and report.json's marker; empty before the review is sent."""
    if run.realign_process_id is None and not (run.g2p_process_id and run.stage in run.COMPLETE):
        return set()
    names = {str(i.get("name", "")) for i in run.realign_process.inputs} if run.realign_process_id else set()
    return {o.recording for o in recorded if o.has_result and o.code != LEFT_OUT
            and o.recording not in names and not (o.transcript and o.transcript in names)}


def final_stage(run):
    """How a run whose last pass finished ends: "done with problems" when any recording was not aligned."""
    if run.outcomes.filter(status=Status.NOT_ALIGNED).exists():
        return run.Stage.PROBLEMS
    return run.Stage.DONE


REALIGNING_NOTE = "being aligned with your pronunciations"


def status_label(outcome, run, deleted=None):
    """What the run page calls the outcome's status: a recording that waited for the review is being aligned
    once the review is done, and will not be when its files were deleted during it (`deleted`: deleted_files of a
    run in review)."""
    if outcome.status == Status.WAITING and run.stage == run.Stage.REALIGNING:
        return REALIGNING_NOTE
    if outcome.status == Status.WAITING and outcome.recording in (deleted or {}):
        names = " and ".join(n for n in deleted[outcome.recording] if n)
        return f"will not be aligned: {names} deleted during the review"
    return outcome.get_status_display()


def deleted_in_review_of(run):
    """deleted_files of `run` while it waits for the review (its project's files now), else {}."""
    if run.stage != run.Stage.REVIEW:
        return {}
    return deleted_files(run, set(run.project.files.values_list("name", flat=True)))


def realignment(run):
    """What is said of the alignment after the review, the one source of the message when the review is sent, of the
    run page and of the API's `realignment` (which the client prints): how many recordings it aligns (or aligned)
    with the reviewed pronunciations and why, and how many keep the first alignment's results; "" for a run without
    a review sent. Its figures add up to `summary`'s: the recordings aligned are those sent and those kept.
    The recordings that waited for the review were never aligned, so it is "aligned", not "aligned again", unless
    every recording is sent (`everything_realigned_because`)."""
    Stage = run.Stage
    if run.realign_process_id is None and not (run.g2p_process_id and run.stage in run.COMPLETE):
        return ""
    recorded = list(run.outcomes.all())
    total = len(recorded)
    of_total = f"of {total} recording" if total == 1 else f"of the {total} recordings"

    def were(count):
        return f"{count} {'was' if count == 1 else 'were'}"

    def keeping(kept, verb):
        return f"; {kept} {verb} the result of the first alignment" if kept else ""

    if run.realign_process_id is None:
        kept = sum(1 for o in recorded if o.has_result)
        waited = [o for o in recorded if o.unknown_words and o.status == Status.NOT_ALIGNED]
        skipped = sum(1 for o in waited if skipped_message(o.unknown_words, run.skipped_words))
        deleted = sum(1 for o in waited if o.code == DELETED_IN_REVIEW)
        why = [part for count, part in ((skipped, f"{were(skipped)} left out, as you chose"),
                                        (deleted, f"{were(deleted)} deleted during the review")) if count]
        if not why:
            return f"No recording needed aligning with your pronunciations{keeping(kept, 'kept')}."
        return (f"No recording was aligned with your pronunciations: of those that waited for the review, "
                f"{' and '.join(why)}{keeping(kept, 'kept')}.")
    process = run.realign_process
    names = {str(i.get("name", "")) for i in process.inputs}
    sent = [o for o in recorded if o.recording in names or (o.transcript and o.transcript in names)]
    kept = sum(1 for o in recorded if o.has_result and o not in sent)
    again = len(audio_inputs(run, process))
    because = run.everything_realigned_because
    keeps = "keeps" if kept == 1 else "keep"
    if run.stage == Stage.REALIGNING:
        if because:
            return f"Aligning every recording again with your pronunciations ({again}), since {because}."
        if not kept and again >= total:
            if again == 1:
                return "Aligning the recording with your pronunciations."
            replaced = " or had a file replaced during the review" if replaced_in_review(run) else ""
            return f"Aligning all {again} recordings with your pronunciations: each needs them{replaced}."
        return (f"Aligning {again} {of_total} with your pronunciations, those that need them"
                f"{keeping(kept, keeps)}.")
    if run.stage in run.COMPLETE:
        aligned = sum(1 for o in sent if o.has_result)
        failed = f" ({were(again - aligned)} sent, and did not align)" if again > aligned else ""
        since = f" again, since {because}" if because else ""
        return (f"{aligned} {of_total} {'was' if aligned == 1 else 'were'} aligned with your pronunciations"
                f"{since}{failed}{keeping(kept, 'kept')}.")
    return (f"The alignment of {again} recording{'' if again == 1 else 's'} with your pronunciations did not end"
            f"{f', which was of every recording since {because}' if because else ''}{keeping(kept, keeps)}.")


def replaced_in_review(run):
    """Whether a file the first alignment was given was replaced before the realignment was sent (another stored
    file under the same name)."""
    if run.fa_process is None or run.realign_process is None:
        return False
    dictionary = run.pipeline.fa_dictionary_input
    skip = dictionary.template_id if dictionary is not None else None  # the review replaces it on purpose
    first = {i.get("name"): i.get("storage_name") for i in run.fa_process.inputs}
    return any(i.get("name") in first and first[i.get("name")] != i.get("storage_name") and i.get("template") != skip
               for i in run.realign_process.inputs)


def summary(outcomes, *, realigning=False):
    """One line for the run page, e.g. "3 of 5 recordings aligned (1 with warnings); 2 not aligned".

    `realigning`: the run is past the review, so the recordings that waited for it are being aligned.
    """
    counts = {status: 0 for status in Status.values}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    total = sum(counts.values())
    aligned = counts[Status.ALIGNED] + counts[Status.WARNINGS]
    noun = "recording" if total == 1 else "recordings"
    parts = [f"{aligned} of {total} {noun} aligned"
             + (f" ({counts[Status.WARNINGS]} with warnings)" if counts[Status.WARNINGS] else "")]
    if counts[Status.WAITING]:
        waiting = counts[Status.WAITING]
        parts.append(f"{waiting} {'is' if waiting == 1 else 'are'} {REALIGNING_NOTE}" if realigning
                     else f"{waiting} wait{'s' if waiting == 1 else ''} for your review")
    if counts[Status.NOT_ALIGNED]:
        parts.append(f"{counts[Status.NOT_ALIGNED]} not aligned")
    return "; ".join(parts)


CSV_COLUMNS = ["recording", "transcript", "status", "message", "warnings", "textgrid", "kept_from_first_alignment"]


def report_csv(outcomes, in_zip=None, kept=()):
    """The outcomes as CSV text, one row per recording, for the results zip.

    `in_zip`: {result name: its name in the zip}, where they differ (see pipelines.results.zip_names).
    `kept`: the recordings that kept the first alignment's result after the review (`kept_from_first_pass`), "yes"
    in the last column.

    A table for a spreadsheet (`spreadsheet_csv`).
    """
    rows = ([o.recording, o.transcript, o.status, o.message, "; ".join(o.warnings),
             (in_zip or {}).get(o.textgrid, o.textgrid), "yes" if o.recording in kept else ""] for o in outcomes)
    return spreadsheet_csv(CSV_COLUMNS, rows)


def spreadsheet_csv(header, rows):
    """CSV text of a table that researchers open in a spreadsheet program (rows of strings).

    Starts with a byte-order mark so that spreadsheet programs read the names as UTF-8; cells that
    a spreadsheet would take for a formula get a leading apostrophe (OWASP "CSV injection").
    """
    out = io.StringIO()
    csv.writer(out).writerow(header)
    return "\ufeff" + out.getvalue() + spreadsheet_rows(rows)


def spreadsheet_rows(rows):
    """The rows of a `spreadsheet_csv` as CSV text: for a table put together from parts kept apart."""
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow(["'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell for cell in row])
    return out.getvalue()


def settle_waiting(run, message):
    """The run ends without the second pass: recordings waiting for it are not aligned after all."""
    for outcome in run.outcomes.filter(status=Status.WAITING):
        skipped = skipped_message(outcome.unknown_words, run.skipped_words)
        outcome.status = Status.NOT_ALIGNED
        outcome.message = skipped or message
        outcome.save(update_fields=["status", "message"])


LEFT_OUT = "left_out"


def record_left_out(run, unpaired):
    """Outcomes for the files a run of the complete pairs only leaves out (upload.readiness.Unpaired)."""
    RecordingOutcome.objects.bulk_create(
        RecordingOutcome(run=run, recording=u.names[0][:150], transcript=", ".join(u.names[1:])[:150],
                         status=Status.NOT_ALIGNED, code=LEFT_OUT, message=f"left out of this run: {u.message}")
        for u in _unique_unpaired(unpaired)
    )


def _unique_unpaired(unpaired):
    seen = set()
    for u in unpaired:
        if u.names and u.names[0] not in seen:
            seen.add(u.names[0])
            yield u


def _replace(run, process, outcomes):
    outcomes = _unique(outcomes)
    folder = default_storage.path(process.output_folder) if process.output_folder else None
    for outcome in outcomes:
        # Before the first write: reading an hour's TextGrid takes seconds, and no lock is held yet.
        if folder and outcome.has_result and outcome.to_check is None and outcome.textgrid in process.outputs:
            outcome.to_check = _to_check(os.path.join(folder, outcome.textgrid), run)
    seen = {o.recording for o in outcomes}
    for old in run.outcomes.filter(code=LEFT_OUT).exclude(recording__in=seen):
        old.pk = None  # files left out at the start stay in the record of every pass
        outcomes.append(old)
    if process.pk == run.realign_process_id:
        # The second pass aligned the recordings that needed the review (services.realign); the others keep what
        # the first said, to_check included, not the entries merge_first_pass copied into the report.
        sent = {str(i.get("name", "")) for i in process.inputs}
        earlier = {o.recording for o in run.outcomes.all()}
        outcomes = [o for o in outcomes if o.recording in sent or (o.transcript and o.transcript in sent)
                    or o.recording not in earlier]
        seen = {o.recording for o in outcomes}
        for old in run.outcomes.exclude(recording__in=seen):
            if old.status == Status.WAITING:
                old.status = Status.NOT_ALIGNED
                old.message = skipped_message(old.unknown_words, run.skipped_words) or \
                    "it was left out of the alignment with your pronunciations"
            elif old.textgrid and old.textgrid not in process.outputs:
                # Its first result was gone from the disk when merge_first_pass would have kept it.
                old.status, old.code, old.textgrid = Status.NOT_ALIGNED, "no_result", ""
                old.message = FIRST_RESULT_GONE
            old.pk = None
            outcomes.append(old)
    run.outcomes.all().delete()
    for outcome in outcomes:
        outcome.run = run
    RecordingOutcome.objects.bulk_create(outcomes)


def words_to_check(path):
    """The run page's words to check of the result TextGrid at `path` (pictures.words_to_check), as JSON data:
    {"words": [{"label", "confidence", "at", "time"(, "speaker")}], "count": how many in all}; NotConvertible or
    OSError when it cannot be read. "speaker" only of a result with a word tier per speaker."""
    words, count = pictures.words_to_check(exports.read_result(path, recording="", result=""))
    return {"words": [{"label": span.label, "confidence": span.confidence, "at": at, "time": time,
                       **({"speaker": speaker} if speaker else {})}
                      for span, at, time, speaker in words], "count": count}


def _to_check(path, run):
    try:
        return words_to_check(path)
    except Exception:  # an unreadable result has its own row on the page; it must not cost the run its outcomes
        log.warning("Words to check of %s (run %s) could not be read", os.path.basename(path), run.pk, exc_info=True)
        return {"words": [], "count": 0}


def _unique(outcomes):
    """One outcome per recording (the first): the database holds one, and a report may repeat one."""
    seen, unique = set(), []
    for outcome in outcomes:
        if outcome.recording in seen:
            log.warning("Report names %s twice; the first entry counts", outcome.recording)
            continue
        seen.add(outcome.recording)
        unique.append(outcome)
    return unique


def _outcomes(run, process, review, failed):
    report = read_report(process)
    if report is None:
        return derived(run, process, failed=failed, review=review)
    outcomes = []
    # step_download mapped the report's names and texts to the researcher's names (scripts.clamnames).
    # A name is mapped once more here, harmlessly (a user's name maps to itself), for an extension
    # whose case the service changed in a report it wrote another way (REC1.WAV stored as REC1.wav).
    names = NameMap(process.inputs)
    for number, entry in enumerate(report, start=1):
        outcome = from_entry(_with_user_names(entry, names), process.outputs, review=review, skipped=run.skipped_words)
        if outcome is None:
            log.warning("Report of process %s: entry %d is not a recording: %.200r", process.pk, number, entry)
        else:
            outcome.recording = outcome.recording[:150]
            outcome.transcript = outcome.transcript[:150]
            outcomes.append(outcome)
    # Recordings the report forgot still get an outcome, derived from the outputs.
    named = {o.recording.lower() for o in outcomes}
    for outcome in derived(run, process, failed=failed, review=review):
        if outcome.recording.lower() not in named:
            log.warning("Report of process %s has no entry for %s", process.pk, outcome.recording)
            outcomes.append(outcome)
    return outcomes


def _with_user_names(entry, names):
    """A report entry with its file names the user's. Texts are not mapped again: that is not harmless
    (with é.wav sent as e.wav, "a e.wav" would become "a é.wav")."""
    if not isinstance(entry, dict):
        return entry
    entry = dict(entry)
    for key in ("audio", "transcript", "textgrid"):
        if isinstance(entry.get(key), str):
            entry[key] = names.name(entry[key].strip())
    return entry


def read_report(process):
    """The list of recording entries of the process's report.json, or None (no report, or not a valid one)."""
    data = _report_data(process)
    return data["recordings"] if data is not None else None


def _report_data(process):
    """The process's report.json, a dict with a list of "recordings", or None (no report, or not a valid one)."""
    if REPORT_NAME not in process.outputs:
        return None
    path = os.path.join(default_storage.path(process.output_folder), REPORT_NAME)
    try:
        if os.path.getsize(path) > REPORT_MAX_BYTES:
            raise ValueError(f"larger than {REPORT_MAX_BYTES} bytes")
        with open(path, "rb") as f:
            data = json.loads(f.read().decode("utf-8-sig"))
        recordings = data.get("recordings") if isinstance(data, dict) else None
        if not isinstance(recordings, list):
            raise ValueError("no list of recordings")
    except (OSError, ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        log.warning("Report of process %s is unusable (%s); outcomes are derived from its outputs", process.pk, exc)
        return None
    return data


def from_entry(entry, outputs, *, review=False, skipped=()):
    """The outcome one report entry describes, or None when it names no recording."""
    if not isinstance(entry, dict):
        return None
    audio, transcript = _name(entry.get("audio")), _name(entry.get("transcript"))
    recording = audio or transcript
    if not recording:
        return None
    status, code = _text(entry.get("status")), _text(entry.get("code"))[:40]
    textgrid = _name(entry.get("textgrid"))
    if textgrid not in outputs:
        textgrid = ""
    unknown, warnings = _texts(entry.get("unknown_words")), _texts(entry.get("warnings"))
    outcome = RecordingOutcome(
        recording=recording[:150], transcript=transcript[:150], code=code, textgrid=textgrid[:200],
        unknown_words=unknown, warnings=[w for w in warnings if not looks_technical(w)],
    )
    if status in (Status.ALIGNED, Status.WARNINGS) and textgrid:
        outcome.status = Status.WARNINGS if status == Status.WARNINGS or outcome.warnings else Status.ALIGNED
        outcome.code = ""
    elif status in (Status.ALIGNED, Status.WARNINGS):
        outcome.status, outcome.code = Status.NOT_ALIGNED, "no_result"
        outcome.message = "the service reported a result for it but delivered none; its log may say why"
    elif code == "unknown_words" and review:
        outcome.status = Status.WAITING
        outcome.message = f"its transcript has words the aligner does not know ({_quoted(unknown)}); " \
            "it is aligned after your review of their pronunciations"
    else:
        outcome.status = Status.NOT_ALIGNED
        outcome.code = code or "no_result"
        outcome.message = skipped_message(unknown, skipped) if code == "unknown_words" else ""
        outcome.message = outcome.message or _reason(entry.get("reason"), outcome.code, unknown)
    return outcome


def derived(run, process, *, failed=False, review=False):
    """Outcomes from the inputs and outputs alone, for a service that wrote no (usable) report."""
    audio, texts = inputs_by_kind(run, process)
    grids = {name.lower(): name for name in process.outputs if name.lower().endswith(".textgrid")}
    outcomes = []
    for stem, name in sorted(audio.items()):
        # <stem>.TextGrid as CLAM's output templates name it, or <audio name>.TextGrid as some services do.
        grid = grids.get(f"{stem}.textgrid".lower()) or grids.get(f"{name}.textgrid".lower(), "")
        outcome = RecordingOutcome(recording=name[:150], transcript=texts.get(stem, "")[:150], textgrid=grid)
        if grid:
            outcome.status = Status.ALIGNED
        elif review and not failed:
            # Without a report, which recordings have the unknown words is not known; those without
            # a result are the likely ones, and the second pass tells for certain.
            outcome.status = Status.WAITING
            outcome.message = "it has no result yet; it is aligned after your review of the pronunciations"
        else:
            outcome.status, outcome.code = Status.NOT_ALIGNED, "no_result"
            outcome.message = STOPPED if failed else REASONS["no_result"]
        outcomes.append(outcome)
    for stem, name in sorted(texts.items()):
        if stem not in audio:
            outcomes.append(RecordingOutcome(recording=name[:150], transcript=name[:150], status=Status.NOT_ALIGNED,
                                             code="no_audio", message=REASONS["no_audio"]))
    return outcomes


def audio_inputs(run, process):
    """{stem: name} of the audio files `process` was given."""
    return inputs_by_kind(run, process)[0]


def inputs_by_kind(run, process):
    """({stem: name} of the audio inputs, {stem: name} of the transcripts), by their input templates' kinds."""
    templates = {t.template_id: t for t in InputTemplate.objects.filter(profile__script_id=process.script_id)}
    audio, texts = {}, {}
    for item in process.inputs:
        name = str(item.get("name", ""))
        template = templates.get(item.get("template"))
        kind = kind_of(template) if template is not None else None
        if kind == ProjectFile.Kind.AUDIO:
            audio.setdefault(stem_of(name), name)
        elif kind == ProjectFile.Kind.TRANSCRIPT:
            texts.setdefault(stem_of(name), name)
    return audio, texts


def skipped_message(unknown, skipped):
    """The message for a recording the researcher left out in the review, or "" if it was not: one of its
    unknown words was left without a pronunciation (the review leaves "the recordings with them" out)."""
    chosen = {w.lower() for w in skipped or ()}
    left = [w for w in unknown or () if w.lower() in chosen]
    if left:
        return f"you skipped it (no pronunciation for {_quoted(left)})"
    return ""



def _reason(reason, code, unknown):
    reason = _text(reason)
    if reason and not looks_technical(reason):
        return reason[:2000]
    default = REASONS.get(code, REASONS["no_result"])
    if code == "unknown_words" and unknown:
        return f"{default}: {_quoted(unknown)}"
    return default


def _quoted(words):
    shown = ", ".join(f"“{w}”" for w in words[:10])
    return shown + (f" and {len(words) - 10} more" if len(words) > 10 else "")


def _name(value):
    """A file name from the report: a plain name, never a path."""
    value = _text(value)
    if not value or "/" in value or "\\" in value or value in (".", ".."):
        return ""
    return value


def _text(value):
    return value.strip() if isinstance(value, str) else ""


def _texts(value):
    return [v.strip()[:500] for v in value if isinstance(v, str) and v.strip()][:1000] if isinstance(value, list) else []
