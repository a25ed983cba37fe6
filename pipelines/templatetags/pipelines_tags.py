"""The pipeline panel of a project page (start alignment, runs), included by the upload page; message filters."""

from django import template

from pipelines import bundled, pictures
from pipelines.forms import AlignmentForm
from scripts import health
from scripts.plainwords import GENERIC_FAILURE, plain
from upload.names import stem_of

register = template.Library()


@register.inclusion_tag("pipelines/_project_panel.html", takes_context=True)
def project_pipeline_panel(context, project, readiness, busy=None, unavailable=None):
    """`readiness` is upload.readiness.readiness() of the project's files: what a start would align;
    `busy` is Project.busy_reason(), the reason a start would be refused now (None if it would not);
    `unavailable` is pipelines.services.unavailable() of its pipeline, as the page's state shows it."""
    runs = list(project.runs.select_related("fa_process", "g2p_process", "realign_process"))
    return {
        "project": project,
        "runs": runs,
        "any_active": any(run.active for run in runs),
        "readiness": readiness,
        "busy": busy,
        "unavailable": unavailable,
        "form": AlignmentForm(script=project.pipeline.fa_script, templates=True),
        "csrf_token": context.get("csrf_token"),
    }


@register.filter
def plain_message(text, fallback=GENERIC_FAILURE):
    """Text fit for a researcher: anything technical becomes `fallback` (staff see it in the Process admin).

    A running job's status line takes "" as the fallback: the generic "stopped with an internal error"
    would be wrong while the job goes on.
    """
    return plain(text or "", fallback)


@register.filter
def run_problem(run):
    """pipelines.services.run_problem: what went wrong with a run, as the API says it too."""
    from pipelines.services import run_problem

    return run_problem(run)


@register.filter
def realignment(run):
    """pipelines.outcomes.realignment: which recordings the alignment after the review aligns again."""
    from pipelines.outcomes import realignment

    return realignment(run)


@register.filter
def waiting_hint(process):
    """Why the process's next step waits for a worker, in a sentence for the researcher ('' while all is well)."""
    return health.waiting_hint(process)


@register.filter
def clock(seconds):
    """Seconds as m:ss (h:mm:ss from an hour on), as the result picture's windows are named."""
    return pictures.clock(seconds)


@register.filter
def stem(name):
    """A file name without its last extension, as upload.models.ProjectFile.stem: a TextGrid's recording's stem."""
    return stem_of(name)


@register.filter
def parameters_in_effect(run):
    """pipelines.bundled.parameters_in_effect: the run's parameters without those that had no effect on it."""
    return bundled.parameters_in_effect(run)


@register.simple_tag
def labelled(values, script):
    """[(label, value)] of `values` ({parameter id: value}, as sent to `script`): each parameter by the label the
    run form showed, not by the service's id."""
    labels = dict(script.parameters.values_list("clam_id", "name")) if values else {}
    return [(labels.get(key) or key, value) for key, value in values.items()]
