"""Projects and their files: create, rename, delete, upload, download.

The project list and the project page show runs too, so they are in `pipelines.views`.
Every lookup of a project or file goes through `upload.access`, which answers 404 to
anyone but the owner.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponsePermanentRedirect
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django.views.generic import RedirectView

from upload import downloads, services
from upload.access import get_file_for_user, get_project_for_user
from upload.checks import too_large
from scripts.models import Pipeline
from upload.forms import NO_PIPELINES, ProjectForm, RenameProjectForm
from upload.models import Project


@login_required
def create_project(request):
    if not Pipeline.objects.offered().exists():
        return render(request, "upload/no_pipelines.html", {"message": NO_PIPELINES})
    form = ProjectForm(request.POST or None, owner=request.user)
    if request.method == "POST" and form.is_valid():
        project = form.save()
        what = "the files the service takes" if project.pipeline.single else "your recordings and transcripts"
        messages.success(request, f"Project “{project.name}” created. Add {what}.")
        return redirect(project)
    return render(request, "upload/project_form.html", {"form": form, "title": "New project"})


@login_required
def rename_project(request, project_id):
    project = get_project_for_user(request, project_id)
    form = RenameProjectForm(request.POST or None, instance=project)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Project renamed to “{project.name}”.")
        return redirect(project)
    return render(request, "upload/project_form.html", {"form": form, "title": "Rename project", "project": project})


@login_required
def delete_project(request, project_id):
    project = get_project_for_user(request, project_id)
    if request.method == "POST":
        try:
            deleted = services.delete_project(project)
        except services.ProjectGone as exc:  # deleted in another tab a moment ago
            messages.error(request, str(exc))
            return redirect("upload-project-list")
        stopped = " Its running alignment was stopped, and its results were deleted too." if deleted.stopped else ""
        messages.success(request, f"Project “{project.name}” and its {deleted.files} file(s) were deleted.{stopped}")
        return redirect("upload-project-list")
    return render(request, "upload/project_confirm_delete.html", {"project": project, "file_count": project.files.count(),
                                                                  "running": bool(project.busy_reason())})


@login_required
@require_POST
def add_files(request, project_id):
    project = get_project_for_user(request, project_id)
    uploaded = request.FILES.getlist("files")  # too many files: see upload.middleware
    if reason := project.busy_reason():
        messages.error(request, f"Nothing was added. {reason}")
        return redirect(project)
    oversized = getattr(request, "oversized_uploads", [])
    for name in oversized:
        messages.error(request, too_large(name))
    if not uploaded and not oversized:
        messages.error(request, "Choose one or more files to upload.")
        return redirect(project)
    try:
        upload = services.Upload(project, replace=request.POST.get("replace") == "on",
                                 converters=request.POST.getlist("converter"))
    except services.FileRefused as exc:  # a conversion the form does not offer (a page older than an import)
        services.cleanup(uploaded)
        messages.error(request, str(exc))
        return redirect(project)
    try:
        for f in uploaded:
            upload.add(f, commit=False)
        upload.commit()  # all of them at once, or none: see Upload.commit
    finally:
        services.cleanup(uploaded)
    saved = [o for o in upload.outcomes if o.saved]
    if saved:
        project.touch()
        messages.success(request, f"Added {len(saved)} file(s): {', '.join(o.name for o in saved[:20])}{' …' if len(saved) > 20 else ''}")
    for note in upload.notes:
        messages.info(request, note)
    for outcome in upload.outcomes:
        if not outcome.saved:
            messages.error(request, outcome.message)
    if not Project.objects.filter(pk=project.pk).exists():  # deleted (in another tab) during the upload
        return redirect("upload-project-list")
    return redirect(project)


@login_required
@require_POST
def delete_file(request, project_id, file_id):
    f = get_file_for_user(request, project_id, file_id)
    try:
        services.delete_file(f)
    except services.ProjectBusy as exc:
        messages.error(request, f"{f.name} was not deleted. {exc}")
        return redirect(f.project)
    except services.ProjectGone as exc:
        messages.error(request, str(exc))
        return redirect("upload-project-list")
    notes = "".join(f" {note}" for note in services.deletion_notes(f.project, f.name))
    messages.success(request, f"{f.name} deleted.{notes}")
    return redirect(f.project)


@login_required
def download_file(request, project_id, file_id):
    f = get_file_for_user(request, project_id, file_id)
    return downloads.uploaded_file(f)


class Moved(RedirectView):
    """An old URL of a page that moved: a permanent redirect to its new URL, with the query string.

    A GET or HEAD gets 301; a POST (a form on a page opened before the move) gets 308, which browsers
    follow with the same method and body, where a 301 would turn it into a GET that the new URL refuses.
    """

    permanent = True
    query_string = True

    def get(self, request, *args, **kwargs):
        url = self.get_redirect_url(*args, **kwargs)
        return HttpResponsePermanentRedirect(url, preserve_request=request.method not in ("GET", "HEAD"))
