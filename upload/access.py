"""The one place that looks up a project or file for a user: anyone but the owner gets 404."""

from django.shortcuts import get_object_or_404

from upload.models import Project, ProjectFile


def get_project_for_user(request, project_id):
    return get_object_or_404(
        Project.objects.select_related("pipeline__fa_script").prefetch_related("pipeline__fa_script__profiles__input_templates"),
        pk=project_id,
        owner=request.user,
    )


def get_file_for_user(request, project_id, file_id):
    return get_object_or_404(
        ProjectFile.objects.select_related("project"), pk=file_id, project_id=project_id, project__owner=request.user
    )
