"""Alignment runs of a project: start, follow, review the dictionary, cancel, results; the project list
and the project page, which show the runs.

Lookups go through `upload.access.get_project_for_user` and `_get_run_for_user`: 404 to anyone but the owner.
"""

import functools
import io
import re
import logging
import os
import shutil
import tempfile
import zipfile

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.db.models import Count, OuterRef, Prefetch, Subquery
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from praatio.utilities.errors import PraatioException

from pipelines import exports, outcomes, pictures, review, services
from pipelines.forms import AlignmentForm, DictionaryForm, dictionary_too_large_message
from pipelines.models import Run
from scripts.models import BaseParameter, Pipeline
from upload.access import get_project_for_user
from upload.checks import accepted_extensions
from upload.forms import UploadForm
from upload.models import Project, ProjectFile
from upload.readiness import readiness
from upload.services import ProjectGone

log = logging.getLogger(__name__)


def _get_run_for_user(request, project_id, run_id):
    return get_object_or_404(
        Run.objects.select_related("project", "pipeline", "fa_process", "g2p_process", "realign_process"),
        pk=run_id, project_id=project_id, project__owner=request.user,
    )


def _result_path(run, name):
    # Outputs are listed only once their download is complete, also of a job that failed half-way.
    process = run.result_process
    if process is None or name not in process.outputs:
        raise Http404("No such result.")
    return os.path.join(default_storage.path(process.output_folder), name)


def _attachment(path, name, *, data=None, content_type="application/octet-stream"):
    """The file at `path` (or the bytes `data`) as a download named `name`, whatever characters it has."""
    response = FileResponse(open(path, "rb") if data is None else io.BytesIO(data), as_attachment=True, filename=name,
                            content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    return response


# The project list and the project page: projects (`upload`) with their runs, so they are here,
# above `upload`, while their URLs stay those of the projects.


@login_required
def project_list(request):
    # Queries: session, user, projects with file counts, their pipelines with
    # what Pipeline.problems() reads, their files, the FA scripts' profiles and
    # templates, and their parameters (the length limit): 8, however many
    # projects and files there are.
    projects = list(
        Project.objects.filter(owner=request.user)
        .annotate(file_count=Count("files"), **_latest_run_fields())
        .prefetch_related(
            Prefetch("pipeline", queryset=Pipeline.objects.with_parts()),
            Prefetch("files", queryset=ProjectFile.objects.only("id", "project_id", "template_id", "name", "kind", "file",
                                                                "duration")),
            "pipeline__fa_script__profiles__input_templates",
            Prefetch("pipeline__fa_script__parameters",
                     queryset=BaseParameter.objects.select_related("integerparameter", "floatparameter")),
        )
    )
    unavailable = {}  # by pipeline: projects share their pipeline's (prefetched) row
    for project in projects:
        if project.pipeline_id not in unavailable:
            unavailable[project.pipeline_id] = services.unavailable(project.pipeline)
        project.latest_run = None
        if project.latest_run_id:
            # An unsaved Run, so that the page draws its state with the runs' own badge.
            project.latest_run = Run(pk=project.latest_run_id, project=project, stage=project.latest_run_stage)
        # Reads transcripts only the first time (cached by file id), to tell "ready" from "no words".
        project.state = services.project_state(readiness(project, project.files.all()), project.latest_run,
                                               project.file_count > 0, unavailable[project.pipeline_id])
    return render(request, "pipelines/project_list.html", {"projects": projects})


def _latest_run_fields():
    """The id and stage of each project's latest run, as subqueries of the project query (no extra query)."""
    latest = Run.objects.filter(project=OuterRef("pk")).order_by("-created_at")
    return {"latest_run_id": Subquery(latest.values("pk")[:1]),
            "latest_run_stage": Subquery(latest.values("stage")[:1])}


@login_required
def project_files(request, project_id):
    project = get_project_for_user(request, project_id)
    files = list(project.files.all())
    # The rule that refuses uploads, deletes and starts during a run (Project.busy_reason) also
    # decides what the page offers; the run is only looked up to link to it.
    busy = project.busy_reason()
    state = readiness(project, files)
    unavailable = services.unavailable(project.pipeline)
    context = {
        "project": project,
        "files": files,
        "busy": busy,
        "active_run": services.active_run(project) if busy else None,
        "readiness": state,
        "unavailable": unavailable,
        "state": services.project_state(state, project.runs.first(), bool(files), unavailable),
        "form": UploadForm(),
        "accepted": accepted_extensions(project),
        "total_size": sum(f.size for f in files),
    }
    return render(request, "pipelines/project.html", context)


@login_required
@require_POST
def start_run(request, project_id):
    project = get_project_for_user(request, project_id)
    form = AlignmentForm(request.POST, script=project.pipeline.fa_script)
    if not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(request, f"{form.fields[field].label if field in form.fields else field}: {' '.join(errors)}")
        return redirect(project)
    only_pairs = request.POST.get("only_complete_pairs") == "yes"
    try:
        run = services.start_alignment(project, form.clam_values(), only_complete_pairs=only_pairs)
    except services.CannotStart as exc:
        messages.error(request, str(exc))
        return redirect(project)
    except ProjectGone as exc:  # deleted (in another tab) while this start was on its way
        messages.error(request, str(exc))
        return redirect("upload-project-list")
    sent = {i["name"] for i in run.fa_process.inputs}
    left_out = sorted(f.name for f in project.files.all() if f.name not in sent)
    note = f" Left out, as you chose: {', '.join(left_out)}." if left_out else ""
    messages.success(request, f"Alignment started.{note} This page follows its progress.")
    return redirect("pipelines-run", project_id=project.pk, run_id=run.pk)


@login_required
def project_runs(request, project_id):
    """The runs table of a project page, fetched again while something runs."""
    project = get_project_for_user(request, project_id)
    runs = list(project.runs.select_related("fa_process", "g2p_process", "realign_process"))
    return render(request, "pipelines/_runs.html", {"project": project, "runs": runs,
                                                    "any_active": any(run.active for run in runs)})


@login_required
def run_detail(request, project_id, run_id):
    run = _get_run_for_user(request, project_id, run_id)
    # During review the first pass's TextGrids (files without unknown words) are already useful.
    process = run.result_process
    results = sorted(process.outputs) if process else []
    recordings = list(run.outcomes.all())
    textgrids = [n for n in results if n.lower().endswith(".textgrid")]
    # Runs from before outcomes were recorded list their TextGrids only.
    grids = [] if recordings else textgrids
    return render(request, "pipelines/run.html", {
        "run": run, "project": run.project, "outcomes": recordings,
        "summary": outcomes.summary(recordings, realigning=run.stage == Run.Stage.REALIGNING),
        "realigning_note": outcomes.REALIGNING_NOTE,
        # The zip is offered for its TextGrids: when every recording failed, a zip of logs would only disappoint.
        "grids": grids, "has_results": bool(textgrids),
        "to_check": _words_to_check(run, recordings), "low_confidence": pictures.LOW_CONFIDENCE,
    })


def _words_to_check(run, recordings):
    """[{recording, textgrid, words: [{label, confidence, at, time}], count}] of the recordings whose results have
    words of low confidence, as the worker recorded them with the outcome (pipelines.outcomes.words_to_check)."""
    checks = []
    for outcome in recordings:
        if not outcome.has_result:
            continue
        found = outcome.to_check
        if found is None:  # recorded before outcomes kept them: read from the result, once per file
            try:
                path = _result_path(run, outcome.textgrid)
                stat = os.stat(path)
                found = _least_confident(path, stat.st_mtime_ns, stat.st_size)
            except (Http404, exports.NotConvertible, OSError):  # a result gone or unreadable has its own row
                continue
        if found["words"]:
            checks.append({"recording": outcome.recording, "textgrid": outcome.textgrid, "words": found["words"],
                           "count": found["count"]})
    return checks


@login_required
def run_status(request, project_id, run_id):
    run = _get_run_for_user(request, project_id, run_id)
    return render(request, "pipelines/_run_status.html", {"run": run, "project": run.project})


@login_required
def review_dictionary(request, project_id, run_id):
    run = _get_run_for_user(request, project_id, run_id)
    if run.stage != Run.Stage.REVIEW:
        messages.info(request, "This run is not waiting for a review.")
        return redirect("pipelines-run", project_id=project_id, run_id=run_id)
    form = DictionaryForm(request.POST or None, initial={"dictionary": run.dictionary},
                          phone_set=run.pipeline.phone_set, unknown_words=run.oov_words)
    if request.method == "POST" and form.is_valid():
        try:
            run = services.realign(run, form.cleaned_data["dictionary"], skip_missing=form.cleaned_data["skip_missing"])
        except (services.CannotStart, review.DictionaryRefused) as exc:
            messages.error(request, str(exc))
        except ProjectGone as exc:
            messages.error(request, str(exc))
            return redirect("upload-project-list")
        else:
            skipped = f" Left out, as you chose: the recordings with {', '.join(run.skipped_words)}." if run.skipped_words else ""
            messages.success(request, f"Aligning again with your pronunciations.{skipped}")
        return redirect("pipelines-run", project_id=project_id, run_id=run_id)
    return render(request, "pipelines/review.html", {
        "run": run, "project": run.project, "form": form, "rows": review.review_rows(run),
        # The choice to leave words out is offered once a submission left some out, never up front.
        "offer_skip": bool(form.missing) or form["skip_missing"].value(),
    })


# What upload.middleware says when a pasted dictionary is over the request size limit.
review_dictionary.too_large_message = lambda: f"{dictionary_too_large_message()} Nothing was aligned yet."


@login_required
@require_POST
def cancel_run(request, project_id, run_id):
    run = _get_run_for_user(request, project_id, run_id)
    if run.active or run.stage == Run.Stage.REVIEW:
        services.cancel_run(run)
        messages.success(request, "The run was cancelled.")
    return redirect("pipelines-run", project_id=project_id, run_id=run_id)


@login_required
def download_result(request, project_id, run_id, name):
    run = _get_run_for_user(request, project_id, run_id)
    return _attachment(_result_path(run, name), name)


@login_required
def export_result(request, project_id, run_id, format, name):
    """One result TextGrid in another format (pipelines.exports.FORMATS)."""
    run = _get_run_for_user(request, project_id, run_id)
    if format not in exports.FORMATS or not name.lower().endswith(".textgrid"):
        raise Http404("No such format of this result.")
    path = _result_path(run, name)
    alignment = _read_alignment_or_404(run, path, name, _recordings(run))
    try:
        data = exports.write(alignment, format)
    except exports.NotConvertible:
        log.warning("Cannot write %s of run %s as %s", name, run.pk, format, exc_info=True)
        raise Http404("This result cannot be converted; download its TextGrid instead.") from None
    return _attachment(path, exports.export_name(name, format), data=data, content_type=exports.FORMATS[format][2])


def _recordings(run):
    """{result TextGrid: the name of its recording}, from the outcomes, or the process's audio inputs of runs
    from before outcomes were recorded."""
    named = {o.textgrid: o.recording for o in run.outcomes.all() if o.textgrid}
    if named or run.result_process is None:
        return named
    return {f"{stem}.TextGrid".lower(): name for stem, name in outcomes.audio_inputs(run, run.result_process).items()}


def _read_alignment_or_404(run, path, name, recordings):
    try:
        return _read_alignment(run, path, name, recordings)
    except exports.NotConvertible:
        raise Http404("This result cannot be converted; download its TextGrid instead.") from None


def _read_alignment(run, path, name, recordings):
    # A result of no recording is its own recording's name: ".TextGrid" has no stem, and a name must not be ""
    # (the JSON schema's "file" has minLength 1).
    recording = recordings.get(name) or recordings.get(name.lower()) or name[: -len(".textgrid")] or name
    try:
        return exports.read_result(path, recording=recording, result=name)
    except exports.NotConvertible:
        log.warning("Cannot convert %s of run %s", name, run.pk, exc_info=True)
        raise


@functools.lru_cache(maxsize=512)
def _least_confident(path, mtime_ns, size):
    """pictures.words_to_check of the result at `path`, kept while the file stays as it is (results are written
    once, by a rename): an hour's TextGrid takes about a second to read, and the run page is shown often."""
    return outcomes.words_to_check(path)


ZIP_FORMATS = {"textgrid": "TextGrid", **{key: label for key, (label, _, _) in exports.FORMATS.items()}}
ZIP_FOLDERS = {key: label for key, (label, _, _) in exports.FORMATS.items()}  # ELAN/a.eaf, CSV/a.csv, JSON/a.json
ALL_INTERVALS = "all-intervals.csv"


@login_required
def download_results(request, project_id, run_id):
    """Every output of the run, each TextGrid in the other formats (one folder per format), its
    per-recording report as CSV and the pronunciations it used.

    `?format=` keeps one format only (a key of ZIP_FORMATS); the report and the dictionary are always in.
    """
    run = _get_run_for_user(request, project_id, run_id)
    process = run.result_process
    if process is None or not process.outputs:
        raise Http404("No results yet.")
    chosen = request.GET.get("format") or "all"
    if chosen != "all" and chosen not in ZIP_FORMATS:
        raise Http404("No such format.")
    folder = default_storage.path(process.output_folder)
    in_zip = zip_names(sorted(process.outputs))
    taken = {name.lower() for name in in_zip.values()}
    renamed = {}
    handle = tempfile.TemporaryFile()
    with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
        if chosen in ("all", "textgrid"):
            for name, arcname in in_zip.items():
                archive.write(os.path.join(folder, name), arcname=arcname)
            renamed = {name: arcname for name, arcname in in_zip.items() if name != arcname}
        formats = [key for key in ZIP_FOLDERS if chosen in ("all", key)]
        if formats:
            taken |= {label.lower() for label in ZIP_FOLDERS.values()}
            renamed |= _add_exports(archive, run, folder, sorted(process.outputs), formats, taken)
        recordings = list(run.outcomes.all())
        if recordings:
            archive.writestr(_free_name("report.csv", taken), outcomes.report_csv(recordings, in_zip))
        if run.dictionary.strip() and process == run.realign_process:  # before that, only proposals
            archive.writestr(_free_name("dictionary.dict", taken), run.dictionary)
        if renamed:
            archive.writestr(_free_name("renamed-files.txt", taken), _renamed_note(renamed))
    handle.seek(0)
    suffix = "" if chosen == "all" else f"-{ZIP_FORMATS[chosen]}"
    stem = _file_name_part(run.project.name)
    response = FileResponse(handle, as_attachment=True, filename=f"{stem}-results{suffix}.zip" if stem
                            else f"results{suffix}.zip",
                            content_type="application/zip")
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _add_exports(archive, run, folder, outputs, formats, taken):
    """Each result TextGrid in `formats`, in a folder per format; returns {name: name in the zip} of those
    whose names had to change. One result is read (once) and written at a time, so that a run of many long
    recordings does not hold them all in memory."""
    grids = [name for name in outputs if name.lower().endswith(".textgrid")]
    recordings = _recordings(run)
    in_folders = {key: zip_names([exports.export_name(name, key) for name in grids]) for key in formats}
    renamed, failed = {}, []
    with tempfile.TemporaryFile() as combined:
        for name in grids:
            try:
                alignment = _read_alignment(run, os.path.join(folder, name), name, recordings)
            except exports.NotConvertible:
                failed.append(name)
                continue
            try:
                # Every format written before any goes in, so that a result is in all of them or in none.
                written = {key: exports.write(alignment, key) for key in formats}
            except exports.NotConvertible:
                log.warning("Cannot write %s of run %s", name, run.pk, exc_info=True)
                failed.append(name)
                continue
            for key in formats:
                exported = exports.export_name(name, key)
                arcname = f"{ZIP_FOLDERS[key]}/{in_folders[key][exported]}"
                archive.writestr(arcname, written[key])
                if in_folders[key][exported] != exported:
                    renamed[f"{ZIP_FOLDERS[key]}/{exported}"] = arcname
            if "csv" in formats:
                combined.write(exports.to_csv([alignment], header=combined.tell() == 0))
        if combined.tell():
            combined.seek(0)
            with archive.open(_free_name(ALL_INTERVALS, taken), "w", force_zip64=True) as entry:
                shutil.copyfileobj(combined, entry)
    if failed:
        archive.writestr(_free_name("not-converted.txt", taken),
                         "These results cannot be read as TextGrids, so they are not in the other formats "
                         "(the TextGrids are as the alignment service wrote them):\n\n" + "\n".join(failed) + "\n")
    return renamed


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
            stem, dot, extension = name.rpartition(".")
            if not dot or not stem:
                stem, dot, extension = name, "", ""
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


@login_required
def view_result(request, project_id, run_id, name):
    run = _get_run_for_user(request, project_id, run_id)
    if not name.lower().endswith(".textgrid"):
        raise Http404("Only TextGrids can be shown; download this result instead.")
    grid_path = _result_path(run, name)
    outcome = run.outcomes.filter(textgrid=name).first()
    stem = name.rsplit(".", 1)[0]
    if outcome is not None:
        audio = run.project.files.filter(kind="audio", name=outcome.recording).first()
    else:
        audio = next((f for f in run.project.files.filter(kind="audio", name__startswith=stem + ".") if f.stem == stem), None)
    if audio is None:
        raise Http404("The recording of this result is no longer in the project.")
    audio_path = default_storage.path(audio.file.name)
    note, warnings = "", []
    try:
        seconds = pictures.duration(audio_path)
        if seconds <= pictures.WHOLE_SECONDS:
            data = pictures.picture(audio_path, grid_path)
        else:
            start, note = pictures.window_start(request.GET.get("at", ""), seconds)
            data = pictures.window(audio_path, grid_path, start)
            warnings = pictures.linked_warnings(outcome.warnings if outcome else [])
    except (PraatioException, ValueError, OSError, RuntimeError, IndexError, KeyError):
        # A service's output that does not parse is no server error; it can still be downloaded.
        log.warning("Cannot draw %s of run %s", name, run.pk, exc_info=True)
        raise Http404("This result cannot be shown; download it instead.") from None
    return render(request, "pipelines/result.html", {"run": run, "project": run.project, "name": name,
                                                     "audio": audio, "picture": data, "note": note,
                                                     "warnings": warnings,
                                                     "window_seconds": int(pictures.WINDOW_SECONDS),
                                                     "low_confidence": pictures.LOW_CONFIDENCE})
