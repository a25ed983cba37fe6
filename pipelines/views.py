"""Alignment runs of a project: start, follow, review the dictionary, cancel, results; the project list
and the project page, which show the runs.

Lookups go through `upload.access.get_project_for_user` and `pipelines.access.get_run_for_user`: 404 to
anyone but the owner.
"""

import base64
import logging
import math
import re

import numpy as np

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.db.models import Count, OuterRef, Prefetch, Subquery
from csp.constants import NONCE
from csp.decorators import csp_update
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from praatio.utilities.errors import PraatioException

from pipelines import audio as audio_files
from pipelines import outcomes, pictures, results, review, services, versions
from pipelines.access import get_run_for_user
from pipelines.forms import AlignmentForm, DictionaryForm, dictionary_too_large_message
from pipelines.models import Run
from scripts import clamnames
from scripts.models import BaseParameter, Pipeline
from upload.access import get_project_for_user
from upload.checks import accepted_extensions, conversion_options, input_templates
from upload.forms import UploadForm
from upload.models import Project, ProjectFile
from upload.readiness import readiness
from upload.services import ProjectGone

log = logging.getLogger(__name__)


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
                                               project.file_count > 0, unavailable[project.pipeline_id],
                                               single=project.pipeline.single)
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
    templates = input_templates(project.pipeline)[0] if project.pipeline.single else []
    context = {
        "project": project,
        "files": files,
        "busy": busy,
        "active_run": services.active_run(project) if busy else None,
        "readiness": state,
        "unavailable": unavailable,
        "state": services.project_state(state, project.runs.first(), bool(files), unavailable,
                                        single=project.pipeline.single),
        "templates": templates,
        # A one-service project's files are what the service calls them, not "transcript".
        "template_labels": {t.template_id: t.label for t in templates},
        # The upload form's “… files are” choice, and each file's chosen conversion in the list (upload.checks).
        "conversions": {t.template_id: conversion_options(t) for t in templates if t.converters},
        "converter_labels": {t.template_id: dict(t.converters) for t in templates},
        "form": UploadForm(),
        "accepted": accepted_extensions(project),
        "total_size": sum(f.size for f in files),
        # A one-service pipeline pairs nothing, and its files are often no recordings: no empty columns.
        "audio_column": not project.pipeline.single or any(f.kind == ProjectFile.Kind.AUDIO for f in files),
    }
    return render(request, "pipelines/project.html", context)


@login_required
@require_POST
def start_run(request, project_id):
    project = get_project_for_user(request, project_id)
    form = AlignmentForm(request.POST, script=project.pipeline.fa_script, templates=True)
    if not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(request, f"{form.fields[field].label if field in form.fields else field}: {' '.join(errors)}")
        return redirect(project)
    only_pairs = request.POST.get("only_complete_pairs") == "yes"
    try:
        run = services.start_alignment(project, form.clam_values(), only_complete_pairs=only_pairs,
                                       template_values=form.template_values())
    except services.CannotStart as exc:
        messages.error(request, str(exc))
        return redirect(project)
    except ProjectGone as exc:  # deleted (in another tab) while this start was on its way
        messages.error(request, str(exc))
        return redirect("upload-project-list")
    sent = {i["name"] for i in run.fa_process.inputs}
    left_out = sorted(f.name for f in project.files.all() if f.name not in sent)
    note = f" Left out, as you chose: {', '.join(left_out)}." if left_out else ""
    started = f"The service “{project.pipeline.fa_script}” started" if project.pipeline.single else "Alignment started"
    messages.success(request, f"{started}.{note} This page follows its progress.")
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
    run = get_run_for_user(request, project_id, run_id)
    if run.pipeline.single:
        return render(request, "pipelines/run.html", {
            "run": run, "project": run.project, "outputs": results.outputs(run, limit=results.OUTPUTS_LISTED_MAX),
            "outputs_total": len(run.result_process.outputs) if run.result_process else 0,
            # Outputs that kept the service's names, since the users' would clash: whose they are.
            "service_names": clamnames.kept_service_names_text(results.service_names(run)),
            "audio_stems": {f.stem for f in run.project.files.filter(kind="audio")},
        })
    # During review the first pass's TextGrids (files without unknown words) are already useful.
    process = run.result_process
    recordings = list(run.outcomes.all())
    textgrids = sorted(n for n in (process.outputs if process else []) if n.lower().endswith(".textgrid"))
    # Runs from before outcomes were recorded list their TextGrids only.
    grids = [] if recordings else textgrids
    saved = results.saved_versions(run)
    kept = outcomes.kept_from_first_pass(run, recordings)
    deleted = outcomes.deleted_in_review_of(run)
    for outcome in recordings:
        outcome.label = outcomes.status_label(outcome, run, deleted)
        outcome.kept = outcome.recording in kept
        outcome.versions = saved.get(outcome.textgrid, [])
    to_check = [{"recording": outcome.recording, "textgrid": outcome.textgrid, **found}
                for outcome, found in results.words_to_check(run, recordings) if found["words"]]
    return render(request, "pipelines/run.html", {
        "run": run, "project": run.project, "outcomes": recordings,
        "summary": outcomes.summary(recordings, realigning=run.stage == Run.Stage.REALIGNING),
        # The zip is offered for its TextGrids: when every recording failed, a zip of logs would only disappoint.
        "grids": grids, "has_results": bool(textgrids),
        "to_check": to_check[:results.RECORDINGS_TO_CHECK_LISTED], "to_check_recordings": len(to_check),
        "to_check_words": sum(check["count"] for check in to_check),
        "low_confidence": pictures.LOW_CONFIDENCE,
    })


@login_required
def run_status(request, project_id, run_id):
    run = get_run_for_user(request, project_id, run_id)
    return render(request, "pipelines/_run_status.html", {"run": run, "project": run.project})


@login_required
def review_dictionary(request, project_id, run_id):
    run = get_run_for_user(request, project_id, run_id)
    try:
        services.check_in_review(run)
    except services.NotInReview as exc:
        messages.info(request, str(exc))
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
            # What is aligned and why is said once, under the run's status (outcomes.realignment), not here too.
            messages.success(request, f"Your review is saved.{skipped}")
        return redirect("pipelines-run", project_id=project_id, run_id=run_id)
    return render(request, "pipelines/review.html", {
        "run": run, "project": run.project, "form": form, "rows": review.review_rows(run, outcomes.deleted_in_review_of(run)),
        "phone_note": review.phone_note(run.pipeline),
        # The choice to leave words out is offered once a submission left some out, never up front.
        "offer_skip": bool(form.missing) or form["skip_missing"].value(),
    })


# What upload.middleware says when a pasted dictionary is over the request size limit.
review_dictionary.too_large_message = lambda: f"{dictionary_too_large_message()} Nothing was aligned yet."


@login_required
@require_POST
def cancel_run(request, project_id, run_id):
    run = get_run_for_user(request, project_id, run_id)
    try:
        services.cancel(run)
    except services.NotCancellable as exc:
        messages.info(request, str(exc))
    else:
        messages.success(request, "The run was cancelled.")
    return redirect("pipelines-run", project_id=project_id, run_id=run_id)


@login_required
def download_result(request, project_id, run_id, name):
    run = get_run_for_user(request, project_id, run_id)
    return results.attachment(results.export(run, name, "textgrid", results.version_number(request.GET.get("version"))))


@login_required
def export_result(request, project_id, run_id, format, name):
    """One result TextGrid in another format (pipelines.results.FORMATS)."""
    run = get_run_for_user(request, project_id, run_id)
    return results.attachment(results.export(run, name, format, results.version_number(request.GET.get("version"))))


@login_required
def download_results(request, project_id, run_id):
    """The zip of the run's results (pipelines.results.results_zip); `?format=` keeps one format only."""
    run = get_run_for_user(request, project_id, run_id)
    return results.attachment(results.results_zip(run, request.GET.get("format") or "all"))


@login_required
def download_words_to_check(request, project_id, run_id):
    """Every word to check of the run as CSV (pipelines.results.words_to_check_csv); the run page lists ten a
    recording."""
    run = get_run_for_user(request, project_id, run_id)
    return results.attachment(results.words_to_check_csv(run))


@login_required
def view_text(request, project_id, run_id, name):
    """An output as text (of any service), escaped, up to results.TEXT_VIEW_MAX_BYTES; the rest is in its download."""
    run = get_run_for_user(request, project_id, run_id)
    text, whole = results.text_of(run, name)
    return render(request, "pipelines/text.html", {
        "run": run, "project": run.project, "name": name, "text": text, "whole": whole,
        "shown": results.TEXT_VIEW_MAX_BYTES,
    })


@login_required
def view_result(request, project_id, run_id, name):
    run = get_run_for_user(request, project_id, run_id)
    outcome, audio = results.recording_of(run, name)
    version = results.result_version(run, name, results.version_number(request.GET.get("version")))
    grid_path = version.path
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
                                                     "version": version,
                                                     "warnings": warnings,
                                                     "window_seconds": int(pictures.WINDOW_SECONDS),
                                                     "low_confidence": pictures.LOW_CONFIDENCE})


# The result editor: one recording's result, corrected in the browser and saved as a new version.

# Waveform columns per second of the outline sent with the editor's page, and at most this many (an hour's
# recording: 28 a second). Zoomed in further, the page asks for the stretch it shows (result_peaks).
PEAKS_PER_SECOND = 100
MAX_PEAKS = 100_000
# What the page may ask of result_peaks at once: about three screens' width of columns, and a stretch whose
# samples read in a fraction of a second (two minutes of 48 kHz stereo: 11.5 M samples, in blocks).
MAX_DETAIL_COLUMNS = 10_000
MAX_DETAIL_SECONDS = 120
MAX_VERSION_BYTES = versions.MAX_VERSION_BYTES


def _editor_folder(run):
    """Where the editor keeps what it computes once per recording or version (the outline, the parsed tiers).
    Not referenced by any row: the hourly cleanup (upload.cleanup) removes it once old, and it is made again."""
    return default_storage.path(f"{run.folder}/editor")


@login_required
# wavesurfer.js styles its waveform with a <style> of its own, given this nonce; for the spectrogram it fetches the
# whole recording and plays it from a blob: URL of that copy.
@csp_update({"style-src": [NONCE], "media-src": ["'self'", "blob:"]})
def edit_result(request, project_id, run_id, name):
    """The result editor, on the latest version; `?version=N` shows an older one read-only, from which the
    researcher may start a new version (saved as the next after the latest, so the stale-base rule still holds)."""
    run = get_run_for_user(request, project_id, run_id)
    _, audio = results.recording_of(run, name)
    latest = results.result_version(run, name)
    version = results.result_version(run, name, results.version_number(request.GET.get("version")))
    audio_path = default_storage.path(audio.file.name)
    try:
        duration = pictures.duration(audio_path)
        columns = max(1, min(MAX_PEAKS, int(duration * PEAKS_PER_SECOND)))
        outline, loudest = audio_files.outline(audio_path, _editor_folder(run), columns)
        tiers = versions.kept_editor_tiers(version.path, _editor_folder(run))
    except (versions.VersionRefused, ValueError, OSError, RuntimeError, IndexError, KeyError):
        log.warning("Cannot open %s of run %s in the editor", name, run.pk, exc_info=True)
        raise Http404("This result cannot be edited here; download it instead.") from None
    data = {
        **tiers, "duration": duration, "alignment": versions.alignment(run),
        # The version shown, and the latest, on which a save is based (the same unless an older one is shown).
        "version": version.number, "latest": latest.number, "read_only": version.number != latest.number,
        "low": pictures.LOW_CONFIDENCE,
        # Each column as its lowest and highest sample, in the order wavesurfer.js draws them, in 1/127ths of the
        # loudest sample, as base64 of signed bytes: an hour's 200 000 values are 270 KB, not 1.5 MB of JSON.
        "peaks": base64.b64encode(np.round(outline.reshape(-1) * 127).astype(np.int8).tobytes()).decode("ascii"),
        "loudest": loudest,
        "audio": reverse("pipelines-result-audio", args=[project_id, run_id, name]),
        "detail": reverse("pipelines-result-peaks", args=[project_id, run_id, name]),
        "detail_columns": MAX_DETAIL_COLUMNS, "detail_seconds": MAX_DETAIL_SECONDS,
        "save": reverse("pipelines-save-version", args=[project_id, run_id, name]),
    }
    return render(request, "pipelines/editor.html", {"run": run, "project": run.project, "name": name, "audio": audio,
                                                     "version": version, "latest": latest, "data": data,
                                                     "max_label": versions.MAX_LABEL})


def _detail_request(query, duration):
    """(start, end, columns) of a result_peaks query, or ValueError saying what is wrong."""
    def seconds(key):
        try:
            value = float(query.get(key, ""))
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise ValueError(f"“{key}” must be a number of seconds, as in ?start=12.5&end=13&columns=1000.")
        return value

    start, end = seconds("start"), seconds("end")
    if not 0 <= start < duration:
        raise ValueError(f"“start” must lie inside the recording, from 0 to {duration:.3f} s.")
    if end <= start:
        raise ValueError("“end” must be after “start”.")
    if end - start > MAX_DETAIL_SECONDS:
        raise ValueError(f"At most {MAX_DETAIL_SECONDS} s at a time: ask for a shorter stretch (the page's outline "
                         "covers views wider than this).")
    columns = query.get("columns", "")
    if not re.fullmatch(r"[0-9]{1,6}", columns) or not 1 <= int(columns) <= MAX_DETAIL_COLUMNS:
        raise ValueError(f"“columns” must be a whole number from 1 to {MAX_DETAIL_COLUMNS}.")
    return start, min(end, duration), int(columns)


@login_required
def result_peaks(request, project_id, run_id, name):
    """The waveform of a stretch of a result's recording in detail, for the editor zoomed in past its outline:
    {"start", "end", "samples" (one sample a column), "peaks": [min, max, ...]} in -1..1 of full scale
    (pipelines.audio.detail)."""
    run = get_run_for_user(request, project_id, run_id)
    _, audio = results.recording_of(run, name)
    audio_path = default_storage.path(audio.file.name)
    try:
        start, end, columns = _detail_request(request.GET, pictures.duration(audio_path))
    except ValueError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    try:
        start, end, peaks, samples = audio_files.detail(audio_path, start, end, columns)
    except (OSError, RuntimeError, ValueError):
        log.warning("Cannot read the waveform of %s of run %s", name, run.pk, exc_info=True)
        return JsonResponse({"error": "The recording could not be read here; its download still works."}, status=404)
    response = JsonResponse({"start": start, "end": end, "samples": samples,
                             "peaks": [round(v, 4) for v in peaks.reshape(-1).tolist()]})
    response["Cache-Control"] = "private, max-age=3600"  # scrolling back and forth asks for the same stretches
    return response


@login_required
def result_audio(request, project_id, run_id, name):
    """The recording of a result, with range requests (pipelines.audio)."""
    run = get_run_for_user(request, project_id, run_id)
    _, audio = results.recording_of(run, name)
    return audio_files.ranged_response(request, default_storage.path(audio.file.name), audio.name)


@login_required
@require_POST
def save_version(request, project_id, run_id, name):
    """Saves the editor's JSON ({"base": version, "from": older version or null, "tiers": [...]}) as the result's next
    version."""
    run = get_run_for_user(request, project_id, run_id)
    _, audio = results.recording_of(run, name)
    # Read here rather than through request.body, whose limit (DATA_UPLOAD_MAX_MEMORY_SIZE, a few MB for the
    # site's forms) an hour's corrected tiers pass.
    body = request.read(MAX_VERSION_BYTES + 1)
    if len(body) > MAX_VERSION_BYTES:
        return JsonResponse({"error": versions.too_large(MAX_VERSION_BYTES)}, status=413)
    try:
        base, alignment, tiers, source = versions.parse_body(body)
        number = versions.save(run, name, request.user, base, tiers, pictures.duration(default_storage.path(audio.file.name)),
                               alignment, source)
    except (versions.StaleVersion, versions.Busy) as exc:
        return JsonResponse({"error": str(exc)}, status=409)
    except versions.VersionRefused as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"version": number, "message": f"Saved as version {number}."}, status=201)
