"""Orchestration of a project's alignment: FA → (OOV words) G2P → review → FA again.

`start_alignment` and `realign` are called by views; `on_process_finished`
(connected to scripts' `process_finished` signal) moves a run to its next
stage in the worker, in the same transaction that finished the process.
"""

import logging
import os
from dataclasses import dataclass

from clam.common import data as clam_data
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models.functions import Now
from django.utils import timezone

from pipelines import notifications, outcomes, review
from pipelines.models import RecordingOutcome, Run
from scripts.models import BaseParameter, OutputTemplate, Process
from scripts.plainwords import GENERIC_FAILURE, plain
from scripts.tasks import schedule_process
from upload import services as upload_services
from upload.checks import template_for
from upload.models import Project, ProjectFile
from upload.names import stem_of
from upload.readiness import TOO_LONG, readiness

log = logging.getLogger(__name__)
Stage = Run.Stage
CANCELLED = "the run was cancelled before it was aligned"


class CannotStart(ValueError):
    """Alignment cannot start; the message says why, for the researcher."""


NOT_IN_REVIEW = "This run is not waiting for a review."


class NotInReview(CannotStart):
    """A review was asked for (shown or sent) of a run that is not waiting for one."""

    def __init__(self):
        super().__init__(NOT_IN_REVIEW)


class NotCancellable(ValueError):
    """A run that has ended cannot be cancelled; the message says how it ended."""


def check_in_review(run):
    """Raise NotInReview unless the run waits for the researcher's review (the page and the API ask first)."""
    if run.stage != Stage.REVIEW:
        raise NotInReview()


def unavailable(pipeline):
    """What the researcher is told when the project's pipeline cannot run (Pipeline.problems, which name
    admin things: the researcher can only wait or ask), else None."""
    if not pipeline.problems():
        return None
    return (
        f"The pipeline “{pipeline.name}” of this project cannot be used at the moment: it needs repair by an "
        "administrator. Your files are kept; an alignment can start once it is repaired."
    )


def preset_values(script):
    """The administrator's presets of a script's global parameters, as CLAM wants them."""
    values = {}
    for parameter in script.parameters.filter(input_template=None, preset=True):
        value = parameter.specific.value_for_clam()
        if value is not None:
            values[parameter.clam_id] = value
    return values


def template_presets(script):
    """{template id: {parameter id: value}}: the administrator's presets of a script's input-template parameters,
    as CLAM wants them (sent with each upload of a file of that template)."""
    values = {}
    for parameter in script.parameters.filter(input_template__isnull=False, preset=True).select_related("input_template"):
        value = parameter.specific.value_for_clam()
        if value is not None:
            values.setdefault(parameter.input_template.template_id, {})[parameter.clam_id] = value
    return values


def _inputs(files, extra=(), metadata=None, alone=False):
    """The inputs of a process; `metadata` ({template id: {parameter id: value}}) goes with each file of a template.
    `alone`: nothing is paired (a one-service pipeline), so files of one stem go under stems of their own."""
    inputs = []
    for f in files:
        item = {"storage_name": f.file.name, "name": f.name, "template": f.template_id}
        if alone:
            item["alone"] = True  # scripts.clamnames.assign
        if f.converter:
            item["converter"] = f.converter  # the service converts it on upload (scripts.runner sends it)
            item["converter_label"] = f.converter_label
        if (metadata or {}).get(f.template_id):
            item["metadata"] = metadata[f.template_id]
        inputs.append(item)
    return inputs + list(extra)


def _typed(value, kind=None):
    """A value as CLAM holds it in a file's metadata or a constraint: numbers as numbers (5.0 == 5), True/False as
    booleans, anything else as text; `kind` is the parameter's type when known."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = str(value)
    if kind == BaseParameter.Type.BOOLEAN or text in ("True", "False"):
        return text in ("True", "true", "1", "yes") if kind == BaseParameter.Type.BOOLEAN else text == "True"
    if kind in (None, BaseParameter.Type.INTEGER, BaseParameter.Type.FLOAT):
        for number in (int, float):
            try:
                return number(text)
            except ValueError:
                pass
    return text


def _sent_value(parameter, metadata):
    """What CLAM will hold for one input-template parameter of a file: the value sent, else a static parameter's
    value, else the service's default (CLAM fills a file's metadata so)."""
    if parameter.clam_id in metadata:
        return metadata[parameter.clam_id]
    specific = parameter.specific
    return getattr(specific, "value" if parameter.type == BaseParameter.Type.STATIC else "default", None)


# The tests clam.common.data.Constraint.test knows.
_CLAM_OPERATORS = {"equals", "notequals", "exists", "greaterthan", "lessthan", "greaterequalthan", "lessequalthan",
                   "contains", "incommalist", "inspacelist"}


def constraint_problems(script, files, metadata):
    """What the script's input-template constraints refuse among `files`, before anything is sent: only the
    constraints on parameters Equestria sends with the files (`metadata`, {template id: {parameter id: value}})
    can be checked here; those on what the service reads from a file itself are shown on the project page.
    CLAM's own test (clam.common.data.Constraint) decides, on the values as CLAM will hold them."""
    problems = []
    templates = {}
    for profile in script.profiles.prefetch_related("input_templates__parameters"):
        for template in profile.input_templates.all():
            templates.setdefault(template.template_id, template)
    for template_id, template in templates.items():
        if not template.constraints or not any(f.template_id == template_id for f in files):
            continue
        parameters = list(template.parameters.all())
        sent = (metadata or {}).get(template_id, {})
        # Every template parameter is in the file's metadata on the service, with or without a value.
        values = clam_data.CLAMMetaData(None, **{
            p.clam_id: _typed(_sent_value(p, sent), p.type) for p in parameters})
        kinds = {p.clam_id: p.type for p in parameters}
        for constraint in template.constraints:
            tests = constraint.get("tests", [])
            if not tests or any(key not in kinds or operator not in _CLAM_OPERATORS for key, operator, _ in tests):
                continue  # on what the service reads from the file (or a test of a newer CLAM): it checks that itself
            check = clam_data.Constraint(constraint.get("type"))
            check.tests = [(key, operator, _typed(value, kinds[key])) for key, operator, value in tests]
            try:
                held = check.test(values)
            except (TypeError, AttributeError):  # a value CLAM's test cannot compare (None > 5, 5 in "…")
                continue  # the service, which holds the values in its own types, checks that itself
            if not held:
                problems.append(f"the “{template.label}” files do not meet the service's rule: "
                                f"{template.constraint_text()}")
                break
    return problems


def _first_pass_metadata(run):
    """{template id: {parameter id: value}} for the second pass: what the first sent with each template's files
    (presets and the researcher's values), over today's presets (for a template the first pass had no file of)."""
    metadata = template_presets(run.pipeline.fa_script)
    for item in run.fa_process.inputs if run.fa_process else []:
        if item.get("metadata"):
            metadata[item["template"]] = item["metadata"]
    return metadata


def _new_process(script, inputs, parameters, folder):
    process = Process.objects.create(script=script, inputs=inputs, parameters=parameters, output_folder=folder)
    schedule_process(process)
    return process


def active_run(project):
    return project.runs.filter(stage__in=Run.ACTIVE).first()


def active_processes(project):
    """The processes of the project's runs that have not finished (deleting the project stops them)."""
    ids = [i for row in project.runs.values_list("fa_process", "g2p_process", "realign_process") for i in row if i]
    return list(Process.objects.filter(pk__in=ids).exclude(status__in=Process.FINISHED).select_related("script"))


def busy_reason(project):
    if active_run(project):
        noun = project.pipeline.run_noun
        return (f"{'An' if noun[0] in 'aeiou' else 'A'} {noun} of this project is running; files cannot be added or "
                "deleted until it ends (or is cancelled).")
    return None


PIPELINE_UNAVAILABLE = "pipeline needs repair"
SERVICE_CRASHED = "the service stopped with an internal error; an administrator can see the details in the process log"
NO_OUTPUTS = ("the service finished without producing any output file: check that your files are what it expects "
              "(see the accepted files on the project page) and the settings you chose")


@dataclass(frozen=True)
class ProjectState:
    label: str
    colour: str  # of its badge (Bootstrap's text-bg-…)
    run: Run | None = None  # the run whose stage it is (its badge is the runs' own), else None


def project_state(status, latest_run, has_files, unavailable=None, single=False):
    """What a project is at: the stage of its latest run while that runs or waits for the researcher's
    review, else whether a run can start (`status`: upload.readiness of its files; `unavailable`: the
    reason its pipeline cannot run, see `unavailable()`; `single`: the pipeline runs one service, which aligns
    nothing). One answer for the project list and the project page."""
    if latest_run is not None and (latest_run.active or latest_run.stage == Stage.REVIEW):
        return ProjectState(latest_run.get_stage_display(), "", latest_run)
    if unavailable:
        # Whatever the files: no run can start until an administrator repairs the pipeline.
        return ProjectState(PIPELINE_UNAVAILABLE, "warning")
    if status.ready:
        return ProjectState("ready to run" if single else "ready to align", "success")
    if any(u.badge == TOO_LONG for u in status.unpaired):
        return ProjectState("recording too long", "warning")
    if status.pairs_only:
        return ProjectState("unpaired files", "warning")
    return ProjectState("needs files", "secondary") if has_files else ProjectState("empty", "light")


def _files_to_align(project, only_complete_pairs, parameters):
    """The files a run sends: all of them when every recording has its transcript; else, only when
    the researcher chose it, the complete pairs (a run with unpaired files would not align them).
    `parameters` are the values the run sends (the length limit among them)."""
    files = list(project.files.all())
    state = readiness(project, files, parameters)
    if state.ready:
        return files, []
    if not any(s.satisfied for s in state.profiles):
        raise CannotStart("The files do not yet satisfy what the aligner needs; see what is missing above.")
    problems = " ".join(u.message for u in state.unpaired)
    if not state.pairs_only:
        raise CannotStart(f"Nothing can be aligned: no recording can be aligned with its transcript. {problems}")
    if not only_complete_pairs:
        raise CannotStart(
            f"Not every recording has a transcript with words: {problems} Add what is missing, or choose "
            f"“Align the {state.pairs} complete pair{'s' if state.pairs != 1 else ''} only” to leave these files out."
        )
    return state.sendable, state.unpaired


def start_alignment(project, values=None, only_complete_pairs=False, template_values=None):
    """Start a run of the project's pipeline with the researcher's parameter values.

    With `only_complete_pairs`, files that are not part of a complete pair are left out
    instead of refusing the start (the researcher's explicit choice on the project page).
    `template_values` ({template id: {parameter id: value}}): the researcher's values of the input
    templates' parameters, over the administrator's presets, sent with every file of the template.
    """
    with transaction.atomic():
        # The files are read under the project's lock: an upload or a delete at the same moment is
        # wholly before this start or after it (then the run is stopped, or the upload refused).
        project = upload_services.lock_project(project.pk)
        pipeline = project.pipeline
        if reason := unavailable(pipeline):
            raise CannotStart(reason)
        parameters = {**preset_values(pipeline.fa_script), **(values or {})}
        metadata = template_presets(pipeline.fa_script)
        for template_id, given in (template_values or {}).items():
            metadata[template_id] = {**metadata.get(template_id, {}), **given}
        files, left_out = _files_to_align(project, only_complete_pairs, parameters)
        if active_run(project):
            raise CannotStart(f"{'A run' if pipeline.single else 'An alignment'} of this project is already running.")
        if problems := constraint_problems(pipeline.fa_script, files, metadata):
            raise CannotStart(f"The run cannot start: {'; '.join(problems)}. Change the settings below and start again.")
        run = Run.objects.create(project=project, pipeline=pipeline, parameters=parameters)
        run.fa_process = _new_process(pipeline.fa_script, _inputs(files, metadata=metadata, alone=pipeline.single),
                                      parameters, f"{run.folder}/fa")
        run.save(update_fields=["fa_process"])
        # The run's record keeps what was left out, so its page and report.csv account for every file.
        outcomes.record_left_out(run, left_out)
    project.touch()
    return run


def _output_path(process, template):
    """Local path of the output of `process` that `template` describes, if it was produced: the first output that is
    of it by the rule the run page names outputs by (upload.checks.template_for among the script's output templates:
    a "report.txt" of a fixed-name template is not the OOV list of a .txt one)."""
    if template is None:
        return None
    templates = list(OutputTemplate.objects.filter(profile__script_id=process.script_id).order_by(
        "profile__index", "order"))
    for name in process.outputs:
        if template_for(templates, name) == template:
            return os.path.join(default_storage.path(process.output_folder), name)
    return None


def run_problem(run):
    """What went wrong with a run that ended, in the words of its page and of the API's run (its `error`): why it
    failed; what a one-service run left out ("Not every file was used: …"); "" for any other run."""
    if run.stage == Stage.FAILED:
        return plain(run.error)
    if run.stage == Stage.PROBLEMS:
        return f"Not every file was used: {plain(run.error)}." if run.pipeline.single \
            else "Not every recording was aligned."
    return ""


def _finish_run(run, stage, error=""):
    run.stage = stage
    run.error = error
    run.finished_at = timezone.now()
    run.save(update_fields=["stage", "error", "finished_at"])
    # The project list is in last-activity order, and a run that ends is news for its project.
    Project.objects.filter(pk=run.project_id).update(updated_at=Now())
    notifications.notify(run, stage)  # not of a cancel: the researcher did it


def _process_failed(run, process):
    """A process of the run failed or was cancelled: the run ends, keeping what is known per recording."""
    if process.status == Process.Status.CANCELLED:
        outcomes.settle_waiting(run, CANCELLED)
        _finish_run(run, Stage.CANCELLED, process.error)
        return
    if run.pipeline.single:
        # No recordings: the run page lists whatever outputs the failed job left. The runner's words for a crash
        # name an alignment service, which this one is not.
        _finish_run(run, Stage.FAILED, SERVICE_CRASHED if process.error == GENERIC_FAILURE else process.error)
        return
    if process.pk in (run.fa_process_id, run.realign_process_id):
        outcomes.record_pass(run, process)  # a failed job may still have delivered a report or TextGrids
    else:
        outcomes.settle_waiting(run, "finding pronunciations for its unknown words failed")
    _finish_run(run, Stage.FAILED, process.error)


def on_process_finished(sender, process, **kwargs):
    run = Run.objects.filter(fa_process=process).first() or Run.objects.filter(g2p_process=process).first() \
        or Run.objects.filter(realign_process=process).first()
    if run is None or not run.active or run.current_process != process:
        return
    # Lock the project before writing to its run, in the order of the deletion of a project (project, then
    # runs), so the two cannot deadlock on PostgreSQL; and a run deleted meanwhile is left deleted.
    try:
        upload_services.lock_project(run.project_id)
    except upload_services.ProjectGone:
        return
    run = Run.objects.select_related("pipeline").filter(pk=run.pk).first()
    if run is None or not run.active or run.current_process != process:
        return
    if process.status != Process.Status.DONE:
        _process_failed(run, process)
        return
    pipeline = run.pipeline
    if pipeline.single:
        # Never "done" with nothing to show: a job that wrote no output file ended without a result.
        left_out = [item["not_converted"] for item in process.inputs if item.get("not_converted")]
        if process.outputs:
            # Files the service could not convert were left out (scripts.runner): done, but not with every file.
            _finish_run(run, Stage.PROBLEMS, "; ".join(left_out)) if left_out else _finish_run(run, Stage.DONE)
        else:
            _finish_run(run, Stage.FAILED, "; ".join([*left_out, NO_OUTPUTS]))
    elif run.stage == Stage.ALIGNING:
        oov_path = _output_path(process, pipeline.oov_output)
        words = []
        if oov_path:
            with open(oov_path, encoding="utf-8", errors="replace") as f:
                words = [line.strip() for line in f if line.strip()]
        run.oov_words = words
        review = bool(words and pipeline.g2p_script_id)
        outcomes.record_pass(run, process, review=review)
        if review:
            inputs = [{"storage_name": os.path.relpath(oov_path, default_storage.path("")),
                       "name": os.path.basename(oov_path), "template": pipeline.g2p_input.template_id}]
            # The administrator's presets of the G2P input's parameters go with the word list, as with any upload.
            if presets := template_presets(pipeline.g2p_script).get(pipeline.g2p_input.template_id):
                inputs[0]["metadata"] = presets
            parameters = {**preset_values(pipeline.g2p_script)}
            run.g2p_process = _new_process(pipeline.g2p_script, inputs, parameters, f"{run.folder}/g2p")
            run.stage = Stage.TRANSCRIBING
            run.save(update_fields=["oov_words", "g2p_process", "stage"])
            return
        run.save(update_fields=["oov_words"])
        _finish_run(run, outcomes.final_stage(run))
    elif run.stage == Stage.TRANSCRIBING:
        path = _output_path(process, pipeline.dictionary_output)
        text = ""
        if path:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        run.dictionary = text
        run.stage = Stage.REVIEW
        run.save(update_fields=["dictionary", "stage"])
        notifications.notify(run, Stage.REVIEW)
    elif run.stage == Stage.REALIGNING:
        # First: the outcomes of the kept recordings name TextGrids that must be among the realignment's outputs.
        outcomes.merge_first_pass(run, process)
        outcomes.record_pass(run, process)
        _finish_run(run, outcomes.final_stage(run))


def _dictionary_lines(texts):
    """(word as the dictionary's entries are looked up: lower case, no variant number, its line) of every entry
    of dictionary texts, comments aside."""
    for text in texts:
        for line in text.splitlines():
            parts = line.split()
            if len(parts) >= 2 and not parts[0].startswith((";;;", "#")):
                yield review.base_word(parts[0]).lower(), parts


def _entries(texts):
    """{word: {its pronunciations}} of dictionary texts, to tell what a review changed."""
    entries = {}
    for word, parts in _dictionary_lines(texts):
        entries.setdefault(word, set()).add(" ".join(parts[1:]))
    return entries


def _read_text(file):
    with file.open("rb") as handle:
        return handle.read().decode("utf-8-sig", errors="replace")


def _kept_lines(old_texts, reviewed_words):
    """Lines of the project's earlier dictionaries for words the review does not cover.

    The FA input takes one dictionary, which the review replaces; without these
    lines the pronunciations of an earlier review (or the researcher's own .dict,
    which the first pass used) would be lost, and their recordings not aligned.
    """
    return [" ".join(parts) for word, parts in _dictionary_lines(old_texts) if word not in reviewed_words]


@dataclass
class SecondPass:
    """What the realignment sends: the recordings that need the reviewed pronunciations, not every one."""

    files: list  # the project's files to send, the dictionary aside
    recordings: list  # the outcomes (of the first pass) of the recordings aligned again
    left_out: list  # (outcome, why, code) of those that waited and are not aligned: a word skipped, files deleted
    everything: str = ""  # why every recording is aligned again, else ""


def _second_pass(run, project_files, dictionary_template, first_dictionary, new_dictionary):
    """The recordings the realignment aligns again, and their files. `first_dictionary`, `new_dictionary`:
    `_entries` of the dictionaries of the first pass (None when it cannot be read any more) and of the second.

    Only those whose transcripts have unknown words can change (they waited for the review); the others keep
    the first pass's results. Also aligned again: a recording whose audio or transcript was replaced during the
    review (its first result is of other files), and one whose outputs would have a name of one aligned again.
    Every recording is, as before, when the review changed what the dictionary says of words that were not
    unknown (any transcript may have them: only the service knows how it splits a transcript into words), or
    when the first pass did not say which recordings have the unknown words (a service without a report).
    A recording that waited for a word the researcher skipped is left out, as the review said it would be.
    """
    first_inputs = run.fa_process.inputs
    stored = {i["name"]: i.get("storage_name") for i in first_inputs}
    present = {f.name: f for f in project_files if f.name in stored and f.template_id != dictionary_template}
    recorded = list(run.outcomes.exclude(code=outcomes.LEFT_OUT))
    unknown = {w.lower() for w in run.oov_words}
    skipped = {w.lower() for w in run.skipped_words}
    changed = sorted(w for w in (first_dictionary or {}).keys() | new_dictionary.keys()
                     if (first_dictionary or {}).get(w) != new_dictionary.get(w) and w not in unknown)
    placed = {w.lower() for o in recorded for w in o.unknown_words}
    if first_dictionary is None:
        everything = "the dictionary of the first alignment was replaced during the review"
    elif changed:
        shown = ", ".join(f"“{w}”" for w in changed[:10]) + (f" and {len(changed) - 10} more" if len(changed) > 10
                                                             else "")
        everything = (f"your review changed the pronunciations of words the aligner already knew ({shown}), "
                      "which any recording may have")
    elif unknown - skipped - placed:
        everything = "the aligner did not say which recordings have the unknown words"
    else:
        everything = ""

    # A recording's files are those of its stem: an outcome names its transcript only when the report did.
    def stems(outcome):
        return {stem_of(n).lower() for n in (outcome.recording, outcome.transcript) if n}

    # Its audio or its transcript deleted during the review: sending the other alone would align nothing and give a
    # row of its own ("there is no recording for this transcript").
    gone_files = outcomes.deleted_files(run, {f.name for f in project_files})

    def deleted(outcome):
        return gone_files.get(outcome.recording, ("", ""))

    def replaced(outcome):
        return any(present[n].file.name != stored[n] for n in present if stem_of(n).lower() in stems(outcome))

    again, left_out = [], []
    for outcome in recorded:
        words = {w.lower() for w in outcome.unknown_words}
        if words & skipped:
            if outcome.status == RecordingOutcome.Status.WAITING:
                left_out.append(outcome)
        elif everything or outcome.status == RecordingOutcome.Status.WAITING or words or replaced(outcome):
            again.append(outcome)
    # Outputs are named by stem (a.wav and a.flac both give a.TextGrid): a kept result must not share its name
    # with a new one.
    sent_stems = set().union(*(stems(o) for o in again))
    again += [o for o in recorded if o not in again and o not in left_out and stems(o) & sent_stems]
    # One whose audio or transcript was deleted during the review cannot be aligned again, and none of its files is
    # sent (a kept one keeps its result).
    gone = [o for o in again if any(deleted(o))]
    again = [o for o in again if o not in gone]
    left_out = [(o, outcomes.skipped_message(o.unknown_words, run.skipped_words), o.code) for o in left_out]
    left_out += [(o, outcomes.deleted_in_review(*deleted(o)), outcomes.DELETED_IN_REVIEW) for o in gone
                 if o.status == RecordingOutcome.Status.WAITING]
    sent_stems = set().union(*(stems(o) for o in again))
    of_recordings = set().union(*(stems(o) for o in recorded))
    # Inputs that are no recording's (of a template other than audio and transcripts) go with every pass.
    files = [f for name, f in present.items()
             if stem_of(name).lower() in sent_stems or stem_of(name).lower() not in of_recordings]
    return SecondPass(files if again or everything else [], again, left_out, everything)


def _first_dictionary(run, template_id, project_files):
    """_entries of the dictionary the first pass was given, or None when it can no longer be read."""
    names = {i["storage_name"] for i in run.fa_process.inputs if i.get("template") == template_id}
    texts = []
    for f in project_files:
        if f.file.name in names:
            names.discard(f.file.name)
            try:
                texts.append(_read_text(f.file))
            except OSError:
                return None
    return _entries(texts) if not names else None


def realign(run, text, skip_missing=False):
    """Save the reviewed dictionary in the project and run FA again with it, on the recordings that need it
    (`_second_pass`); the others keep the first pass's results, which the realignment's folder receives when it
    is done (`merge_first_pass`). `run.second_pass_note` says which were sent and why (outcomes.realignment), for
    the page's message.

    Raises review.DictionaryRefused for problems in `text` and for unknown words
    left without a pronunciation, unless `skip_missing` (the researcher's choice
    to leave the recordings with them out: they are stored in run.skipped_words).
    """
    pipeline = run.pipeline
    template = pipeline.fa_dictionary_input
    if template is None:
        raise CannotStart("This pipeline has no forced-alignment input for a dictionary.")
    checked, skipped = review.check_review(text, pipeline.phone_set, run.oov_words, skip_missing)
    project = run.project
    name = f"equestria.{template.extension or 'dict'}"
    with transaction.atomic():
        # The project's lock first, in the order of every other writer of its runs (see lock_project).
        project = upload_services.lock_project(project.pk)
        run = Run.objects.select_for_update().filter(pk=run.pk).first()
        if run is None or run.stage != Stage.REVIEW:
            raise NotInReview()
        project_files = list(project.files.all())
        old = [f for f in project_files if f.template_id == template.template_id]
        old_texts = [_read_text(f.file) for f in old]
        content = "".join(f"{line}\n" for line in _kept_lines(old_texts, checked.words)) + checked.text
        first = _first_dictionary(run, template.template_id, project_files) if run.fa_process else None
        run.skipped_words = skipped
        if run.fa_process is None:
            plan = SecondPass([f for f in project_files if f.template_id != template.template_id], [], [],
                              "the first alignment's record is gone")
        else:
            plan = _second_pass(run, project_files, template.template_id, first, _entries([content]))
        for f in old:
            f.delete()
            transaction.on_commit(lambda f=f: upload_services.remove_stored(f))
        files = list(plan.files)
        if content:
            record = ProjectFile(project=project, name=name, template_id=template.template_id,
                                 kind=ProjectFile.Kind.DICTIONARY, size=len(content.encode()))
            record.file.save(name, ContentFile(content.encode()), save=False)
            record.save()
            files.append(record)
        run.dictionary = content  # what the realignment is given, earlier entries included
        run.everything_realigned_because = plan.everything
        for outcome, why, code in plan.left_out:
            outcome.status, outcome.message, outcome.code = RecordingOutcome.Status.NOT_ALIGNED, why, code
            outcome.save(update_fields=["status", "message", "code"])
        if not plan.recordings and not plan.everything:
            # Nothing can change: the run ends with the first pass's results, and no job is sent.
            run.save(update_fields=["dictionary", "skipped_words", "everything_realigned_because"])
            outcomes.settle_waiting(run, "it was left out of the alignment with your pronunciations")
            _finish_run(run, outcomes.final_stage(run))
            transaction.on_commit(lambda: outcomes.settle_first_report(run))
        else:
            run.realign_process = _new_process(pipeline.fa_script, _inputs(files, metadata=_first_pass_metadata(run)),
                                               run.parameters, f"{run.folder}/fa2")
            run.stage = Stage.REALIGNING
            run.save(update_fields=["dictionary", "skipped_words", "everything_realigned_because", "realign_process",
                                    "stage"])
        run.second_pass_note = outcomes.realignment(run)
    project.touch()
    return run


def cancel(run):
    """The researcher's cancel: a run that runs or waits for the review is stopped; one that has ended is
    refused with NotCancellable (on the page a note, in the API a 409)."""
    if not (run.active or run.stage == Stage.REVIEW):
        raise NotCancellable(f"This run has already ended ({run.get_stage_display()}); there is nothing to cancel.")
    cancel_run(run)


def cancel_run(run):
    from scripts.runner import cancel

    process = run.current_process
    if process is not None:
        cancel(process)
    run.refresh_from_db()
    if run.stage not in Run.FINISHED:
        outcomes.settle_waiting(run, CANCELLED)
        _finish_run(run, Stage.CANCELLED, "cancelled")
