"""The API's resources: pipelines, projects, their files, runs and results. Each view calls what the page's view
calls (upload.forms, upload.services, upload.access, upload.readiness, pipelines.services, pipelines.results), so a
rule or a message is written once; only the answer differs: JSON, with errors as api.errors describes them.
"""

import json
from collections.abc import Sequence

from django import forms
from django.db.models import Prefetch
from django.core.files.storage import default_storage
from django.http import Http404
from django.urls import Resolver404, resolve, reverse
from django.utils.http import urlencode
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import renderers
from rest_framework.decorators import api_view
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.forms import AccountSettingsForm
from api.errors import CODES, ApiError, error, responses
from api.serializers import (
    DeletedProjectSerializer, FileSerializer, MeSerializer, PipelineSerializer, ProjectCreateSerializer,
    ProjectDetailSerializer, ProjectRenameSerializer, ProjectSerializer, ResultListSerializer, ReviewSerializer,
    ReviewSubmitSerializer, RunDetailSerializer, RunSerializer, RunStartSerializer, UploadResultSerializer,
    UploadSerializer, VersionDetailSerializer, VersionListSerializer, VersionPutSerializer,
)
from pipelines import bundled, outcomes, pictures, results, review, versions
from pipelines import services as pipeline_services
from pipelines.access import get_run_for_user
from pipelines.forms import (
    AlignmentForm,
    DictionaryForm,
    parameter_fields,
    template_field_name,
    template_parameter_fields,
)
from pipelines.models import Run
from scripts import health
from scripts.models import Pipeline
from scripts.plainwords import plain
from upload import downloads, services
from upload.access import get_file_for_user, get_project_for_user
from upload.checks import ConverterTwice, input_templates, kind_of, listed_templates, template_extension, too_large
from upload.forms import NO_PIPELINES, ProjectForm, RenameProjectForm
from upload.models import Project
from upload.readiness import readiness

TRUE = {"true", "on", "1", "yes"}


def _form_error(form):
    """The first of a form's errors as the API's error (code and the page's message, with its field's label),
    and all of them under `fields`."""
    fields = {}
    for field, errors in form.errors.as_data().items():
        # A form's code that has no entry of its own (Django's "null_characters_not_allowed", say) is an
        # "invalid" value, with the form's message: every code an answer holds is one the schema lists.
        fields[field] = [{"code": e.code if e.code in CODES else "invalid", "detail": " ".join(e.messages)}
                         for e in errors]
    field, errors = next(iter(fields.items()))
    label = ""
    if field in form.fields:
        label = form.fields[field].label or field.replace("_", " ").capitalize()
    detail = f"{label}: {errors[0]['detail']}" if label else errors[0]["detail"]
    return ApiError(errors[0]["code"], detail, fields=fields)


def _body(request):
    """The JSON object of a form's fields; each value a string, as a page's form sends it (a form would turn a
    list or an object into its Python text and take that as a name)."""
    if not hasattr(request.data, "get"):
        raise ApiError("parse_error", "Send a JSON object, e.g. {\"name\": \"Interviews\"}.")
    for key, value in request.data.items():
        if not isinstance(value, str):
            raise ApiError("invalid", f"{key.replace('_', ' ').capitalize()}: send it as a string of text, e.g. "
                                      f"{{\"{key}\": \"Interviews\"}}.")
    return request.data


# Your account


class Me(APIView):
    parser_classes = [JSONParser]

    @extend_schema(responses=responses({200: MeSerializer}), summary="Your account and its settings")
    def get(self, request):
        return Response(MeSerializer(request.user).data)

    @extend_schema(request=MeSerializer, responses=responses({200: MeSerializer}, "parse_error", "invalid",
                                                              "unsupported_media_type", "csrf_failed",
                                                              "request_too_large"),
                   summary="Change your settings, as on the account's settings page")
    def patch(self, request):
        body = request.data
        if not hasattr(body, "get"):
            raise ApiError("parse_error", "Send a JSON object, e.g. {\"notify_runs\": false}.")
        if unknown := sorted(set(body) - set(AccountSettingsForm.Meta.fields)):
            raise ApiError("invalid", f"Only {', '.join(AccountSettingsForm.Meta.fields)} can be changed here, not "
                                      f"{', '.join(unknown)}.")
        if not all(isinstance(value, bool) for value in body.values()):
            raise ApiError("invalid", "Send each setting as true or false, e.g. {\"notify_runs\": false}.")
        data = {name: getattr(request.user, name) for name in AccountSettingsForm.Meta.fields} | dict(body)
        form = AccountSettingsForm(data, instance=request.user)
        if not form.is_valid():
            raise _form_error(form)
        form.save(commit=False).save(update_fields=form.Meta.fields)
        return Response(MeSerializer(request.user).data)


# Pipelines


def _parameter(p, field):
    """A parameter as the start form offers it (pipelines.forms.parameter_fields); what does not apply to its type
    is null."""
    choice, number, text = p.type == "choice", p.type in ("integer", "float"), p.type in ("string", "text")
    return {"id": p.clam_id, "name": p.name, "description": p.description, "type": p.type, "default": field.initial,
            "choices": [{"id": c.choice_id, "label": c.label} for c in p.choices.all()] if choice else None,
            "multiple": p.multi if choice else None,
            "minimum": p.minimum if number else None, "maximum": p.maximum if number else None,
            "max_length": field.max_length if text else None}


def _inputs(pipeline):
    templates, _ = input_templates(pipeline)
    return [{"extension": t.extension or template_extension(t), "filename": t.filename or None, "kind": kind_of(t),
             "label": t.label, "optional": t.optional, "unique": t.unique,
             "converters": [{"id": cid, "label": label, "extensions": t.converted_extensions(cid)}
                            for cid, label in t.converters] if pipeline.single else []}
            for t in listed_templates(templates)]  # as the upload page's "Accepted:" line


@extend_schema(responses=responses({200: PipelineSerializer(many=True)}), summary="The pipelines a project can use")
@api_view(["GET"])
def pipeline_list(request):
    pipelines = Pipeline.objects.offered().select_related("fa_script")  # as the new-project page offers them
    data = [{"name": p.name, "kind": p.kind, "language": p.language, "approximate": p.approximate,
             "description": p.description, "inputs": _inputs(p),
             "parameters": [_parameter(param, field) for param, field in parameter_fields(p.fa_script)] + [
                 # Per-file values (a one-service pipeline's input templates), by their run form's field name.
                 {**_parameter(param, field), "id": template_field_name(template.template_id, param.clam_id),
                  "name": field.label}
                 for template, param, field in (template_parameter_fields(p.fa_script) if p.single else [])]}
            for p in pipelines]
    return Response(PipelineSerializer(data, many=True).data)


# Projects


def _projects(user):
    return (Project.objects.filter(owner=user)
            .prefetch_related(Prefetch("pipeline", queryset=Pipeline.objects.with_parts()),  # what problems() reads
                              "pipeline__fa_script__profiles__input_templates", "pipeline__fa_script__parameters"))


def _describe(project, files, latest_run, unavailable):
    """The project's readiness and state, as its page works them out (`unavailable`: see
    pipelines.services.unavailable)."""
    state = readiness(project, files)
    project.state = pipeline_services.project_state(state, latest_run, bool(files), unavailable,
                                                    single=project.pipeline.single).label
    project.file_count = len(files)
    project.size = sum(f.size for f in files)
    missing = state.profiles[0].missing if state.profiles else []
    project.readiness = {"ready": state.ready, "pairs": state.pairs, "missing": missing,
                         "unpaired": [{"names": u.names, "badge": u.badge, "message": u.message}
                                      for u in state.unpaired],
                         "warnings": state.warnings}
    return state


class ProjectList(APIView):
    @extend_schema(responses=responses({200: ProjectSerializer(many=True)}), summary="Your projects")
    def get(self, request):
        projects = list(_projects(request.user).prefetch_related("files", "runs"))
        unavailable = {}  # by pipeline, as the project list page works it out
        for project in projects:
            if project.pipeline_id not in unavailable:
                unavailable[project.pipeline_id] = pipeline_services.unavailable(project.pipeline)
            _describe(project, list(project.files.all()), next(iter(project.runs.all()), None),
                      unavailable[project.pipeline_id])
        return Response(ProjectSerializer(projects, many=True, context={"request": request}).data)

    @extend_schema(request=ProjectCreateSerializer,
                   responses=responses({201: ProjectDetailSerializer}, "required", "max_length", "invalid_choice",
                                       "duplicate_name", "invalid", "parse_error", "no_pipelines", "csrf_failed", "request_too_large"),
                   summary="Create a project")
    def post(self, request):
        if not Pipeline.objects.offered().exists():
            raise ApiError("no_pipelines", NO_PIPELINES)
        form = ProjectForm(_body(request), owner=request.user)
        form.fields["pipeline"].to_field_name = "name"  # scripts name pipelines; the page's select sends ids
        if not form.is_valid():
            raise _form_error(form)
        project = form.save()
        return Response(_detail(request, project), status=201)


def _detail(request, project):
    project = get_project_for_user(request, project.pk)
    files = list(project.files.all())
    _describe(project, files, project.runs.first(), pipeline_services.unavailable(project.pipeline))
    project.busy = project.busy_reason()  # a query per project: not in the list, whose `state` says it too
    return ProjectDetailSerializer(project, context={"request": request}).data


class ProjectDetail(APIView):
    # A rename is JSON; a multipart body would be parsed by DRF outside Django's limits on files and size
    # (which ApiBodyMiddleware applies to POST only, where Django parses it).
    parser_classes = [JSONParser]

    @extend_schema(responses=responses({200: ProjectDetailSerializer}, "not_found"),
                   summary="A project, with what it still needs before a run")
    def get(self, request, project_id):
        return Response(_detail(request, get_project_for_user(request, project_id)))

    @extend_schema(request=ProjectRenameSerializer,
                   responses=responses({200: ProjectDetailSerializer}, "not_found", "required", "max_length",
                                       "duplicate_name", "invalid", "parse_error", "unsupported_media_type",
                                       "csrf_failed", "request_too_large"),
                   summary="Rename a project")
    def patch(self, request, project_id):
        project = get_project_for_user(request, project_id)
        form = RenameProjectForm(_body(request), instance=project)
        if not form.is_valid():
            raise _form_error(form)
        form.save()
        return Response(_detail(request, project))

    @extend_schema(responses=responses({200: DeletedProjectSerializer}, "not_found", "csrf_failed"),
                   summary="Delete a project, its files, runs and results (a running alignment is stopped)")
    def delete(self, request, project_id):
        project = get_project_for_user(request, project_id)
        try:
            deleted = services.delete_project(project)
        except services.ProjectGone as exc:
            raise ApiError("project_gone", str(exc)) from None
        stopped = " Its running alignment was stopped, and its results were deleted too." if deleted.stopped else ""
        return Response({"detail": f"Project “{project.name}” and its {deleted.files} file(s) were deleted.{stopped}",
                         "files": deleted.files, "stopped": deleted.stopped})


# Files


class FileList(APIView):
    @extend_schema(responses=responses({200: FileSerializer(many=True)}, "not_found"),
                   summary="A project's files, with how each is paired")
    def get(self, request, project_id):
        project = get_project_for_user(request, project_id)
        files = list(project.files.all())
        pairing = readiness(project, files).pairing
        return Response(FileSerializer(files, many=True, context={"request": request, "pairing": pairing}).data)

    @extend_schema(request={"multipart/form-data": UploadSerializer},
                   responses=responses({201: UploadResultSerializer}, "not_found", "project_gone", "project_busy",
                                       "no_files", "unknown_converter", "converter_twice", "files_refused",
                                       "too_many_files",
                                       "upload_interrupted", "parse_error",
                                       "csrf_failed", "unsupported_media_type", "request_too_large"),
                   summary="Upload files (several, or .zip archives) into a project",
                   description="As on the project page: the same checks, messages and limits. Files that pass are "
                   "added even when others are refused (listed under `refused`); when none is added the answer is "
                   "the error `files_refused`, with the same lists.")
    def post(self, request, project_id):
        project = get_project_for_user(request, project_id)
        uploaded = request.FILES.getlist("files")  # too many files: see api.middleware
        if reason := project.busy_reason():
            raise ApiError("project_busy", f"Nothing was added. {reason}")
        refused = [{"name": name, "code": "file_too_large", "detail": too_large(name)}
                   for name in getattr(request, "oversized_uploads", [])]
        if not uploaded and not refused:
            raise ApiError("no_files", "Choose one or more files to upload.")
        try:
            upload = services.Upload(project, replace=str(request.data.get("replace", "")).strip().lower() in TRUE,
                                     converters=request.data.getlist("converter"), api=True)
        except services.FileRefused as exc:
            services.cleanup(uploaded)
            code = "converter_twice" if isinstance(exc, ConverterTwice) else "unknown_converter"
            raise ApiError(code, str(exc)) from None
        try:
            for f in uploaded:
                upload.add(f, commit=False)
            upload.commit()  # all of them at once, or none: see Upload.commit
        finally:
            services.cleanup(uploaded)
        saved = [o.name for o in upload.outcomes if o.saved]
        refused += [{"name": o.name, "code": "file_refused", "detail": o.message} for o in upload.outcomes if not o.saved]
        if not Project.objects.filter(pk=project.pk).exists():  # deleted (in another tab) during the upload
            raise ApiError("project_gone", str(services.ProjectGone()))
        if not saved:
            if busy := project.busy_reason():  # an alignment started while the files were checked
                raise ApiError("project_busy", f"Nothing was added. {busy}", refused=refused, notes=upload.notes)
            raise ApiError("files_refused", "\n".join(r["detail"] for r in refused), refused=refused,
                           notes=upload.notes)
        project.touch()
        files = list(project.files.all())
        pairing = readiness(project, files).pairing
        added = [f for f in files if f.name in saved]
        return Response({"added": FileSerializer(added, many=True, context={"request": request, "pairing": pairing}).data,
                         "refused": refused, "notes": upload.notes}, status=201)


class FileDetail(APIView):
    @extend_schema(responses=responses({200: FileSerializer}, "not_found"), summary="One file")
    def get(self, request, project_id, file_id):
        f = get_file_for_user(request, project_id, file_id)
        pairing = readiness(f.project, list(f.project.files.all())).pairing
        return Response(FileSerializer(f, context={"request": request, "pairing": pairing}).data)

    @extend_schema(responses=responses({204: None}, "not_found", "project_gone", "project_busy", "csrf_failed"),
                   summary="Delete one file")
    def delete(self, request, project_id, file_id):
        f = get_file_for_user(request, project_id, file_id)
        try:
            services.delete_file(f)
        except services.ProjectBusy as exc:
            raise ApiError("project_busy", f"{f.name} was not deleted. {exc}") from None
        except services.ProjectGone as exc:
            raise ApiError("project_gone", str(exc)) from None
        return Response(status=204)


class _AnyRenderer(renderers.BaseRenderer):
    """Lets a download be asked for with any Accept header; errors still go out as JSON."""

    media_type = "*/*"
    format = "bin"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return renderers.JSONRenderer().render(data)


class _Download(APIView):
    """A view whose answer is a file, which may be asked for with any Accept header; a refusal is JSON whatever
    that header asked for."""

    renderer_classes = [renderers.JSONRenderer, _AnyRenderer]

    def finalize_response(self, request, response, *args, **kwargs):
        if isinstance(response, Response):  # an error: a file goes out as a FileResponse
            request.accepted_renderer, request.accepted_media_type = renderers.JSONRenderer(), "application/json"
        return super().finalize_response(request, response, *args, **kwargs)


class FileDownload(_Download):

    @extend_schema(responses=responses({200: OpenApiResponse(description="The file's content, as uploaded.")},
                                       "not_found"),
                   summary="Download one file")
    def get(self, request, project_id, file_id):
        f = get_file_for_user(request, project_id, file_id)
        return downloads.uploaded_file(f)


# Runs and their results


def _progress(run, *, waiting=False):
    """The step under way as the run page shows it (pipelines/_run_status.html), or None."""
    process = run.current_process
    if process is None:
        return None
    progress = {"percent": process.completion, "status": process.get_status_display(),
                "message": plain(process.message or "", "")}
    if waiting:
        progress["waiting"] = health.waiting_hint(process) or None
    return progress


def _run(request, run, *, waiting=False):
    project_id = run.project_id
    return {"id": run.pk, "stage": run.stage, "stage_label": run.get_stage_display(), "created_at": run.created_at,
            "finished_at": run.finished_at, "progress": _progress(run, waiting=waiting),
            "error": pipeline_services.run_problem(run) or None,
            "url": request.build_absolute_uri(reverse("api-run-detail", args=[project_id, run.pk])),
            "page": request.build_absolute_uri(reverse("pipelines-run", args=[project_id, run.pk]))}


def _picture(request, run, name, at=None):
    url = reverse("pipelines-view-result", args=[run.project_id, run.pk, name])
    return request.build_absolute_uri(url + (f"?{urlencode({'at': at})}" if at is not None else ""))


def _outcome(request, run, outcome, found, kept, deleted):
    to_check = None
    if found is not None:
        to_check = {"count": found["count"], "words": [
            {"label": w["label"], "confidence": w["confidence"], "time": w["time"], "speaker": w.get("speaker"),
             "picture": _picture(request, run, outcome.textgrid, w["at"])} for w in found["words"]]}
    return {"recording": outcome.recording, "transcript": outcome.transcript, "status": outcome.status,
            "status_label": outcomes.status_label(outcome, run, deleted), "message": outcome.message,
            "warnings": outcome.warnings, "result": outcome.textgrid if outcome.has_result else None,
            "words_to_check": to_check, "kept_from_first_alignment": outcome.recording in kept}


class RunList(APIView):
    @extend_schema(responses=responses({200: RunSerializer(many=True)}, "not_found"),
                   summary="A project's runs, the latest first, as its page lists them")
    def get(self, request, project_id):
        project = get_project_for_user(request, project_id)
        runs = project.runs.select_related("pipeline", "fa_process", "g2p_process", "realign_process")
        return Response(RunSerializer([_run(request, run) for run in runs], many=True).data)

    @extend_schema(request=RunStartSerializer,
                   responses=responses({201: RunDetailSerializer}, "not_found", "project_gone", "cannot_start",
                                       "unknown_parameter", "invalid", "invalid_choice", "max_length", "min_value",
                                       "max_value", "parse_error", "csrf_failed", "request_too_large"),
                   summary="Start an alignment of the project, as its page's “Start alignment”",
                   description="`parameters` as /api/v1/pipelines/ lists them, by id; one you do not send has its "
                   "default, as the page's form shows it. The same checks and messages as the page's start.")
    def post(self, request, project_id):
        project = get_project_for_user(request, project_id)
        body = request.data  # typed values: not a page form's strings (see _body)
        given = body.get("parameters") or {} if hasattr(body, "get") else None
        if not isinstance(given, dict):
            raise ApiError("parse_error", "Send a JSON object, e.g. {\"parameters\": {\"beam\": 9}}.")
        templates = project.pipeline.single  # per-file values, as the page's run form asks for them
        form = AlignmentForm(script=project.pipeline.fa_script, templates=templates)
        if unknown := sorted(set(given) - set(form.fields)):
            offered = f"it takes: {', '.join(form.fields)}." if form.fields else "it takes none."
            raise ApiError("unknown_parameter", f"This pipeline has no parameter {', '.join(unknown)}; {offered}")
        for key, value in given.items():
            # A form field would take a list or an object as its Python text.
            text = isinstance(form.fields[key], forms.CharField) and not isinstance(form.fields[key], forms.ChoiceField)
            if isinstance(value, dict) or (isinstance(value, list) and not all(isinstance(v, str) for v in value)) \
                    or (text and not isinstance(value, str)):
                raise ApiError("invalid", f"{form.fields[key].label}: send a number, true or false, a text, or a "
                                          "choice's id (a list of them when several may be chosen).")
        # The page's form as it is shown (each field at its default), with the values sent instead.
        form = AlignmentForm({**{name: field.initial for name, field in form.fields.items()}, **given},
                             script=project.pipeline.fa_script, templates=templates)
        if not form.is_valid():
            raise _form_error(form)
        only_pairs = body.get("only_complete_pairs", False)
        if not isinstance(only_pairs, bool):
            raise ApiError("parse_error", "Send `only_complete_pairs` as true or false.")
        try:
            run = pipeline_services.start_alignment(project, form.clam_values(), only_complete_pairs=only_pairs,
                                                    template_values=form.template_values())
        except pipeline_services.CannotStart as exc:
            raise ApiError("cannot_start", str(exc)) from None
        except services.ProjectGone as exc:
            raise ApiError("project_gone", str(exc)) from None
        return Response(RunDetailSerializer(_run_detail(request, run)).data, status=201)


class RunDetail(APIView):
    @extend_schema(responses=responses({200: RunDetailSerializer}, "not_found"),
                   summary="A run: its stage, progress and what became of each recording, as its page shows them",
                   description="Poll this to follow a run: `stage` is one of `done`, `problems` (done, but not every "
                   "recording was aligned), `failed` or `cancelled` once it has ended, and `review` while it waits for "
                   "you (the pronunciations of unknown words, on the page named by `review_page`).")
    def get(self, request, project_id, run_id):
        return Response(RunDetailSerializer(_run_detail(request, get_run_for_user(request, project_id, run_id))).data)


class RunReview(APIView):
    parser_classes = [JSONParser]

    @extend_schema(responses=responses({200: ReviewSerializer}, "not_found", "not_in_review"),
                   summary="The proposed pronunciations of a run's unknown words, as its review page shows them")
    def get(self, request, project_id, run_id):
        run = get_run_for_user(request, project_id, run_id)
        _in_review(run)
        pipeline = run.pipeline
        return Response(ReviewSerializer({
            "words": [{"word": row.word, "proposed": row.proposed, "recordings": row.recordings}
                      for row in review.review_rows(run)],
            "dictionary": run.dictionary, "phones": pipeline.phone_set.split() or None,
            "approximate": pipeline.approximate, "phone_note": review.phone_note(pipeline),
            "page": request.build_absolute_uri(reverse("pipelines-review", args=[project_id, run.pk])),
        }).data)

    @extend_schema(request=ReviewSubmitSerializer,
                   responses=responses({200: RunDetailSerializer}, "not_found", "project_gone", "not_in_review",
                                       "dictionary_refused", "dictionary_too_large", "cannot_start", "parse_error",
                                       "invalid",
                                       "unsupported_media_type", "csrf_failed", "request_too_large"),
                   summary="Send the reviewed pronunciations (or leave the unknown words out): the run aligns again",
                   description="The review page's checks and messages: every problem at once, under `problems` "
                   "(one per bad line); `missing` lists unknown words without a pronunciation, which "
                   "`skip_missing` leaves out with their recordings. `{\"skip\": true}` leaves them all out.")
    def post(self, request, project_id, run_id):
        run = get_run_for_user(request, project_id, run_id)
        _in_review(run)
        body = request.data
        if not hasattr(body, "get"):
            raise ApiError("parse_error", "Send a JSON object, e.g. {\"dictionary\": \"pony P OW N IY\"}.")
        for key in ("skip", "skip_missing"):
            if not isinstance(body.get(key, False), bool):
                raise ApiError("parse_error", f"Send `{key}` as true or false.")
        skip = body.get("skip", False)
        text = body.get("dictionary", "")
        if not isinstance(text, str):
            raise ApiError("invalid", "Dictionary: send it as a string of text, one “word PH PH …” per line.")
        if skip and text.strip():
            raise ApiError("invalid", "Send either a `dictionary` or `skip`, not both: `skip` leaves out every "
                                      "unknown word.")
        # The page's form, as if its box were sent (empty, with its checkbox ticked, for `skip`).
        form = DictionaryForm({"dictionary": text, "skip_missing": skip or body.get("skip_missing", False)},
                              phone_set=run.pipeline.phone_set, unknown_words=run.oov_words)
        if not form.is_valid():
            errors = form.non_field_errors().as_data()
            if any(e.code == "too_large" for e in errors):
                raise ApiError("dictionary_too_large", f"{errors[0].messages[0]} Nothing was aligned yet.")
            # The field's own errors too (a NUL character: Django's "Null characters are not allowed."), first,
            # as the page shows them above the rest.
            field = [m for e in form.errors.as_data().get("dictionary", []) for m in e.messages]
            problems = [*field, *(m for e in errors for m in e.messages)]
            raise ApiError("dictionary_refused", "\n".join(problems), problems=problems, missing=form.missing)
        try:
            run = pipeline_services.realign(run, form.cleaned_data["dictionary"],
                                            skip_missing=form.cleaned_data["skip_missing"])
        except pipeline_services.NotInReview as exc:  # reviewed or cancelled meanwhile (another tab)
            raise ApiError("not_in_review", str(exc)) from None
        except review.DictionaryRefused as exc:
            raise ApiError("dictionary_refused", str(exc), problems=exc.problems, missing=exc.missing) from None
        except pipeline_services.CannotStart as exc:  # the pipeline takes no dictionary (changed meanwhile)
            raise ApiError("cannot_start", str(exc)) from None
        except services.ProjectGone as exc:
            raise ApiError("project_gone", str(exc)) from None
        return Response(RunDetailSerializer(_run_detail(request, run)).data)


def _in_review(run):
    try:
        pipeline_services.check_in_review(run)
    except pipeline_services.NotInReview as exc:
        raise ApiError("not_in_review", f"{exc} It is {run.get_stage_display()}.") from None


class RunCancel(APIView):
    parser_classes = [JSONParser]

    @extend_schema(request=None, responses=responses({200: RunDetailSerializer}, "not_found", "not_cancellable",
                                                     "csrf_failed"),
                   summary="Cancel a run that runs or waits for your review, as its page's “Cancel”",
                   description="Recordings not aligned yet are not; those already aligned keep their results.")
    def post(self, request, project_id, run_id):
        run = get_run_for_user(request, project_id, run_id)
        try:
            pipeline_services.cancel(run)
        except pipeline_services.NotCancellable as exc:
            raise ApiError("not_cancellable", str(exc)) from None
        run.refresh_from_db()
        return Response(RunDetailSerializer(_run_detail(request, run)).data)


def _run_detail(request, run):
    project_id = run.project_id
    recorded = list(run.outcomes.all())
    checks = {outcome.pk: found for outcome, found in results.words_to_check(run, recorded)}
    kept = outcomes.kept_from_first_pass(run, recorded)
    deleted = outcomes.deleted_in_review_of(run)
    data = _run(request, run, waiting=True) | {
        "summary": outcomes.summary(recorded, realigning=run.stage == Run.Stage.REALIGNING) if recorded else "",
        "realignment": outcomes.realignment(run),
        "parameters": bundled.parameters_in_effect(run), "unknown_words": run.oov_words, "skipped_words": run.skipped_words,
        "review_page": request.build_absolute_uri(reverse("pipelines-review", args=[project_id, run.pk]))
        if run.stage == Run.Stage.REVIEW else None,
        "outcomes": [_outcome(request, run, outcome, checks.get(outcome.pk), kept, deleted)
                     for outcome in recorded],
        "results": request.build_absolute_uri(reverse("api-result-list", args=[project_id, run.pk])),
    }
    return data


def _with_format(url, format):
    return f"{url}?{urlencode({'format': format})}"


class ResultPages(PageNumberPagination):
    """A page of a run's results: a run of many recordings (or a service with thousands of outputs) would be one
    answer of megabytes otherwise. Each page links the next; the zip holds every result at once."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    invalid_page_message = ("There is no page “{page_number}” of this run's results: pages are numbered from 1, "
                            "and each page's `next` links to the one after it.")


class _OutputPage(Sequence):
    """The outputs of a one-service run as the paginator slices them: only a page's files are looked at on the
    disk (results.outputs reads the start of each), not every one of a service's thousands."""

    def __init__(self, run):
        self.run = run
        process = run.result_process
        self.total = len(process.outputs) if process is not None else 0

    def __len__(self):
        return self.total

    def __getitem__(self, index):
        if not isinstance(index, slice):
            return self[index:index + 1][0]
        start, stop, _ = index.indices(self.total)
        return results.outputs(self.run, limit=stop)[start:]


class ResultList(APIView):
    @extend_schema(operation_id="projects_runs_results_list", parameters=[
                       OpenApiParameter("page", int, description="Which page: 1 (the default), 2, …; `next` and "
                                                                  "`previous` link to the others."),
                       OpenApiParameter("page_size", int, description=f"Results per page: "
                                        f"{ResultPages.page_size} unless you ask for others, at most "
                                        f"{ResultPages.max_page_size}.")],
                   responses=responses({200: ResultListSerializer}, "not_found"),
                   summary="A run's results: each recording's, with a download per format, and the zip of them all",
                   description="The results are there once a recording is aligned: while the run waits for your "
                   "review, those of the recordings without unknown words already are. A page holds "
                   f"{ResultPages.page_size} (`page_size`: up to {ResultPages.max_page_size}); `next` is the "
                   "address of the next page, null on the last. A page that does not exist is `not_found`.")
    def get(self, request, project_id, run_id):
        run = get_run_for_user(request, project_id, run_id)
        pages = ResultPages()
        if run.pipeline.single:
            page = pages.paginate_queryset(_OutputPage(run), request, view=self)
            items = [_output(request, run, output) for output in page]
        else:
            page = pages.paginate_queryset(results.listed(run, list(run.outcomes.all())), request, view=self)
            items = []
            for recording, name in page:
                url = request.build_absolute_uri(reverse("api-result", args=[project_id, run.pk, name]))
                items.append({"recording": recording, "name": name, "picture": _picture(request, run, name),
                              "downloads": {format: _with_format(url, format) for format in results.FORMATS}})
        # The zip is offered for its results, as on the run page: a zip of logs alone would only disappoint.
        count = pages.page.paginator.count
        return Response(ResultListSerializer({
            "count": count, "next": pages.get_next_link(), "previous": pages.get_previous_link(), "results": items,
            "zip": _zips(request, run) if count else None}).data)


def _zips(request, run):
    zip_url = request.build_absolute_uri(reverse("api-results-zip", args=[run.project_id, run.pk]))
    return {format: _with_format(zip_url, format) for format in ("all", *results.FORMATS)}


def _output(request, run, output):
    """An output of a one-service run (pipelines.results.Output), as the run page lists it. The API's result URL
    takes no "/": an output in a subfolder is downloaded in the zip."""
    downloads = {} if "/" in output.name else {"file": request.build_absolute_uri(
        reverse("api-result", args=[run.project_id, run.pk, output.name]))}
    return {"recording": None, "name": output.name, "label": output.label or None, "size": output.size,
            "of_file": output.of_file or None, "downloads": downloads, "picture": None}


def _attachment(make, missing="not_found"):
    """The attachment pipelines.results makes (`make()`), the run page's download; its refusals as the API's
    (`missing`: the code of a result that is not there)."""
    try:
        return results.attachment(make())
    except results.UnknownFormat as exc:
        raise ApiError("invalid_format", str(exc)) from None
    except results.NotConverted as exc:
        raise ApiError("not_convertible", str(exc)) from None
    except results.NoSuchResult as exc:
        raise ApiError(missing, str(exc)) from None
    except results.NoSuchVersion as exc:
        raise ApiError("not_found", str(exc)) from None


FORMAT = OpenApiParameter("format", enum=list(results.FORMATS), default="textgrid", description=(
    "textgrid: the result as the aligner delivered it or as last corrected (any output of the run, e.g. "
    "report.json, is downloaded this way); eaf: ELAN; csv: one row per interval; json: words with their phones (docs/users/formats.md)."))


class ResultDownload(_Download):

    @extend_schema(operation_id="projects_runs_result_download", parameters=[FORMAT, OpenApiParameter(
                       "version", int, description="A version's number (…/versions/): 0 the automatic alignment; "
                                                   "without it, the latest, as the zip holds it.")],
                   responses=responses({200: OpenApiResponse(description="The result in the format asked for, as "
                                                                         "the run page's download.")},
                                       "not_found", "invalid_format", "not_convertible"),
                   summary="Download one result in one format")
    def get(self, request, project_id, run_id, name):
        run = get_run_for_user(request, project_id, run_id)
        return _attachment(lambda: results.export(run, name, request.query_params.get("format") or "textgrid",
                                                  results.version_number(request.query_params.get("version"))))


class ResultsZip(_Download):

    @extend_schema(operation_id="projects_runs_results_zip", parameters=[OpenApiParameter(
                       "format", enum=["all", *results.FORMATS], default="all", description=(
                       "all: the TextGrids, and a folder each of ELAN, CSV and JSON files; or one of these only. The "
                       "report of every recording (report.csv) and the pronunciations used are always in."))],
                   responses=responses({200: OpenApiResponse(description="The zip, as the run page's “Download "
                                                                         "all”.")},
                                       "not_found", "invalid_format", "no_results"),
                   summary="Download the zip of a run's results")
    def get(self, request, project_id, run_id):
        run = get_run_for_user(request, project_id, run_id)
        return _attachment(lambda: results.results_zip(run, request.query_params.get("format") or "all"),
                           missing="no_results")


# Versions of a result: the result editor's, through the API (pipelines.versions)


def _version(request, run, name, version):
    url = request.build_absolute_uri(reverse("api-result-version", args=[run.project_id, run.pk, name, version.number]))
    download = request.build_absolute_uri(reverse("api-result", args=[run.project_id, run.pk, name]))
    return {"number": version.number, "alignment": versions.alignment(run), "author": version.author or None,
            "created_at": version.created, "url": url,
            "downloads": {f: f"{download}?{urlencode({'format': f, 'version': version.number})}" for f in results.FORMATS}}


def _found(make):
    try:
        return make()
    except (results.NoSuchResult, results.NoSuchVersion) as exc:
        raise ApiError("not_found", str(exc)) from None


class ResultVersionList(APIView):
    @extend_schema(operation_id="projects_runs_result_versions_list", responses=responses(
                       {200: VersionListSerializer}, "not_found"),
                   summary="The versions of one result: the automatic alignment (0) and each saved correction")
    def get(self, request, project_id, run_id, name):
        run = get_run_for_user(request, project_id, run_id)
        found = _found(lambda: results.versions(run, name))
        return Response(VersionListSerializer({"versions": [_version(request, run, name, v) for v in found]}).data)


class ResultVersionDetail(APIView):
    parser_classes = [JSONParser]

    @extend_schema(operation_id="projects_runs_result_version_retrieve", responses=responses(
                       {200: VersionDetailSerializer}, "not_found", "not_convertible"),
                   summary="One version of a result, its tiers and intervals as the result editor shows them")
    def get(self, request, project_id, run_id, name, number):
        run = get_run_for_user(request, project_id, run_id)
        version = _found(lambda: results.result_version(run, name, number))
        try:
            tiers = versions.editor_tiers(version.path)
        except versions.VersionRefused:
            raise ApiError("not_convertible", "This result cannot be read as a TextGrid; download it instead.") from None
        return Response(VersionDetailSerializer({**_version(request, run, name, version), **tiers}).data)

    @extend_schema(operation_id="projects_runs_result_version_update", request=VersionPutSerializer, responses=responses(
                       {201: VersionDetailSerializer}, "not_found", "parse_error", "invalid_version", "stale_version",
                       "unsupported_media_type", "csrf_failed", "request_too_large"),
                   summary="Save a corrected version: PUT the number after the latest, with the tiers of the latest "
                           "corrected (or a TextGrid)",
                   description="Checked as the result editor's saves are: each tier runs without gaps from the start "
                               "to the end of the result, boundaries in order and inside the recording, each phone "
                               "inside its word, labels of at most 200 characters, the same tiers. A number that is not "
                               "the one after the latest (someone saved meanwhile) is refused with `stale_version`.")
    def put(self, request, project_id, run_id, name, number):
        run = get_run_for_user(request, project_id, run_id)
        _found(lambda: results.result_version(run, name))
        try:
            _, recording = results.recording_of(run, name)
        except Http404 as exc:
            raise ApiError("not_found", str(exc)) from None
        # Read here, as the editor's page does, rather than through request.data, whose limit
        # (DATA_UPLOAD_MAX_MEMORY_SIZE, a few MB for the site's forms) an hour's corrected tiers pass.
        body = request._request.read(versions.MAX_VERSION_BYTES + 1)
        if len(body) > versions.MAX_VERSION_BYTES:
            raise ApiError("request_too_large", versions.too_large(versions.MAX_VERSION_BYTES))
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise ApiError("parse_error", "Send the version as JSON: {\"tiers\": [...]} or {\"textgrid\": \"...\"}.") from None
        data = data if isinstance(data, dict) else {}
        if "alignment" not in data:  # without it, a version read before a realignment would replace its new result
            raise ApiError("invalid_version", "Send the \"alignment\" of the version you edited, as its GET gave it: "
                                              "a realigned run numbers its versions from 0 again, and it tells them "
                                              "apart.")
        try:
            tiers = versions.tiers_of_textgrid(data["textgrid"]) if "textgrid" in data else data.get("tiers")
            if number < 1:
                raise versions.StaleVersion()
            saved = versions.save(run, name, request.user, number - 1, tiers,
                                  pictures.duration(default_storage.path(recording.file.name)),
                                  versions.parse_alignment(data))
        except (versions.StaleVersion, versions.Busy) as exc:
            raise ApiError("stale_version", str(exc)) from None
        except versions.VersionRefused as exc:
            raise ApiError("invalid_version", str(exc)) from None
        version = results.result_version(run, name, saved)
        return Response(VersionDetailSerializer({**_version(request, run, name, version),
                                                 **versions.editor_tiers(version.path)}).data, status=201)


@extend_schema(exclude=True)
class NotFound(_Download):
    """Any other URL under /api/: a JSON 404 (not the site's page), saying when only a slash is missing; whatever
    the Accept header asked for, as a download's URL may be the one mistyped."""

    permission_classes = [AllowAny]

    def get(self, request, rest=""):
        path = request.path_info
        if not path.endswith("/"):
            try:
                match = resolve(path + "/")
            except Resolver404:
                match = None
            if match is not None and match.url_name != "api-not-found":
                return error("not_found", f"No such URL: {path}. The API's URLs end with a slash: {path}/")
        return error("not_found", f"No such URL: {path}.")

    post = put = patch = delete = options = get


not_found = NotFound.as_view()
