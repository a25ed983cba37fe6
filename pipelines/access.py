"""The one place that looks up a run for a user (the run page's views and the API's): anyone but the owner of
its project gets 404, as upload.access does for projects and files."""

from django.shortcuts import get_object_or_404

from pipelines.models import Run


def get_run_for_user(request, project_id, run_id):
    return get_object_or_404(
        # The pipeline's FA script: bundled.parameters_in_effect reads its name on the server.
        Run.objects.select_related("project", "pipeline__fa_script", "fa_process", "g2p_process", "realign_process"),
        pk=run_id, project_id=project_id, project__owner=request.user,
    )
