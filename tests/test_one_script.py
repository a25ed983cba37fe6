"""One-script pipelines (issue 19): CLAM's own demo services, never seen by Equestria, run by a researcher.

An administrator imports the demo and makes a pipeline that runs it; the researcher creates a project through the
pages, uploads files for its input templates, sets its parameters and runs it; the real demo server does the work
and the task queue runs in this process (tests/helpers.work_until). Each test looks at one finished run: the
outputs list, the text viewer, each download and the zip (test2 only to its start: its job sleeps for 20 s).
"""

import io
import json
import re
import zipfile
from html import unescape

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.urls import reverse

from pipelines.models import Run
from scripts import importer
from scripts.models import BaseParameter, Pipeline, Script
from tests.helpers import work_until
from upload.models import Project

pytestmark = pytest.mark.django_db(transaction=True)

LEAKS = ["Traceback", "Error:", "/tmp/", "/work/", "site-packages", ".py\""]


def one_script_pipeline(service, name):
    script = Script.objects.create(name=name, url=service.url)
    assert importer.import_script(script) is None
    return Pipeline.objects.create(name=f"Run {name}", kind=Pipeline.Kind.SINGLE, fa_script=script)


def new_project(client, pipeline, name="texts"):
    response = client.post_form(reverse("upload-create-project"), {"name": name, "pipeline": pipeline.pk})
    assert response.status_code == 302, response.content.decode()
    return Project.objects.get(name=name)


def upload(client, project, *files):
    response = client.post_form(reverse("upload-add-files", args=[project.pk]), {"files": list(files)},
                                form_url=project.get_absolute_url(), follow=True)
    return re.sub(r"\s+", " ", unescape(response.content.decode()))


def start(client, project, data=None):
    response = client.post_form(reverse("pipelines-start-run", args=[project.pk]), data or {},
                                form_url=project.get_absolute_url(), follow=True)
    return re.sub(r"\s+", " ", unescape(response.content.decode()))


def run_url(url_name, run, **kwargs):
    return reverse(url_name, kwargs={"project_id": run.project_id, "run_id": run.pk, **kwargs})


def text(response):
    assert response.status_code == 200
    page = unescape(response.content.decode())
    assert not any(leak in page for leak in LEAKS), page
    return re.sub(r"\s+", " ", page)


def output_rows(page):
    """[(name, what it is, size)] of the run page's outputs list."""
    table = page.split('id="outputs"', 1)[1].split("</table>", 1)[0]
    return [tuple(re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[:3])
            for row in re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>", 1)[1], re.S)]


def test_textstats_runs_for_a_researcher_with_a_per_file_parameter_and_lists_every_output(clam_demo, alice_client):
    pipeline = one_script_pipeline(clam_demo("textstats"), "textstats")
    # The administrator presets a parameter of the input template (per-file metadata): it goes with every upload.
    year = BaseParameter.objects.get(clam_id="year", input_template__isnull=False).specific
    year.value, year.preset = 1996, True  # an edition: the service takes 1900 to 2030
    year.save()
    assert "Run textstats — runs the service “textstats” on your files" in text(
        alice_client.get(reverse("upload-create-project")))
    project = new_project(alice_client, pipeline)

    page = text(alice_client.get(project.get_absolute_url()))
    assert "Accepted: .txt and .zip archives of them." in page
    assert ("“Input text document” files are: plain text in UTF-8 (.txt), as the service takes them Convert from "
            "Latin-1 (.txt files) Convert from PDF Document (.pdf files) Convert from MS Word Document (.doc files) "
            "(a conversion chosen here is made by the service when it receives the files)") \
        in re.sub(r"<[^>]+>", "", page).replace("  ", " ")
    page = upload(alice_client, project, SimpleUploadedFile("pride.txt", b"It is a truth universally acknowledged.\n"),
                  SimpleUploadedFile("emma.txt", b"Emma Woodhouse, handsome, clever, and rich.\n"))
    assert "Ready to run: the files satisfy what the service needs." in page
    assert re.search(r'emma\.txt</td> ?<td>Input text document</td>', page)  # the service's name for it
    assert "Language (of each “Input text document” file)" in page  # asked on the run form, once per template
    assert "Year of Publication (of each" not in page  # preset: not asked
    assert "ready to run" in text(alice_client.get(reverse("upload-project-list")))

    page = start(alice_client, project, {"textinput__language": "en", "textinput__author": "Jane Austen",
                                         "createlexicon": "on"})
    assert "The service “textstats” started. This page follows its progress." in page
    run = work_until(project.runs.get(), Run.FINISHED)
    assert run.stage == Run.Stage.DONE, run.error
    sent = {item["name"]: item["metadata"] for item in run.fa_process.inputs}
    assert sent == {name: {"year": "1996", "language": "en", "author": "Jane Austen"}
                    for name in ("pride.txt", "emma.txt")}

    page = text(alice_client.get(run_url("pipelines-run", run)))
    rows = output_rows(page)
    assert [(name, label) for name, label, _ in rows] == [
        ("emma.txt.freqlist", "Document Frequency list"), ("emma.txt.stats", "Document Statistics"),
        ("overall.freqlist", "Overall Frequency List"), ("overall.lexicon", "Lexicon"),
        ("overall.stats", "Overall Statistics"), ("pride.txt.freqlist", "Document Frequency list"),
        ("pride.txt.stats", "Document Statistics")]
    assert all(size.endswith("bytes") for _, _, size in rows)
    assert "error.log" not in page

    viewed = text(alice_client.get(run_url("pipelines-view-text", run, name="overall.lexicon")))
    assert "handsome" in viewed and 'id="text-cut"' not in viewed
    download = alice_client.get(run_url("pipelines-download-result", run, name="emma.txt.stats"))
    assert download.status_code == 200 and download["Content-Disposition"].startswith("attachment")
    assert b"".join(download.streaming_content) == (
        run_folder(run) / "emma.txt.stats").read_bytes()

    archive = alice_client.get(run_url("pipelines-download-results", run))
    assert archive.status_code == 200
    with zipfile.ZipFile(io.BytesIO(b"".join(archive.streaming_content))) as z:
        assert sorted(z.namelist()) == sorted(name for name, _, _ in rows)


def run_folder(run):
    from pathlib import Path

    from django.core.files.storage import default_storage

    return Path(default_storage.path(run.result_process.output_folder))


def test_a_per_file_value_the_service_refuses_reaches_the_researcher_in_plain_words(clam_demo, alice_client):
    pipeline = one_script_pipeline(clam_demo("textstats"), "textstats")
    project = new_project(alice_client, pipeline)
    upload(alice_client, project, SimpleUploadedFile("pride.txt", b"It is a truth universally acknowledged.\n"))
    start(alice_client, project, {"textinput__author": "anonymous"})  # textstats' validator refuses that author
    run = work_until(project.runs.get(), Run.FINISHED)
    assert run.stage == Run.Stage.FAILED
    page = text(alice_client.get(run_url("pipelines-run", run)))
    # Named as the run form named it, not by the service's id.
    assert "The run failed: the service refused pride.txt: Author: Invalid value" in page
    assert re.search(r"pride\.txt</dt> ?<dd[^>]*>Author = anonymous</dd>", page)  # what was sent, by its label
    assert "This run has no output files." in page


def test_test2s_fixed_file_name_takes_any_name_and_the_service_stores_it_under_its_own(clam_demo, alice_client):
    import requests
    from background_task.tasks import tasks
    from lxml import etree

    service = clam_demo("test2")
    pipeline = one_script_pipeline(service, "test2")
    project = new_project(alice_client, pipeline)
    page = text(alice_client.get(project.get_absolute_url()))
    assert "Accepted: input.txt (fixed name) and .zip archives of them." in page
    assert "Input text document</strong>: one file of any name (the service stores it as input.txt)." in page
    page = upload(alice_client, project, SimpleUploadedFile("my notes.txt", b"one two three\n"))
    assert "Ready to run" in page
    page = upload(alice_client, project, SimpleUploadedFile("other.txt", b"four\n"))
    assert ("other.txt: the pipeline takes only one “Input text document” file and the project has my notes.txt; "
            "delete it or tick “replace”") in page
    start(alice_client, project, {"colourchoice": "red", "cities": ["paris", "london"], "textinput__language": "en"})
    run = project.runs.get()
    assert tasks.run_next_task()  # uploads and starts the job
    # test2's job only sleeps for 20 s (and then, in clam 3.2.14, crashes on a name its wrapper misspells): what
    # matters here is what the service stored, not its job.
    project_url = f"{service.url}{run.fa_process.clam_project}/input/"
    assert requests.get(f"{project_url}input.txt", timeout=10).content == b"one two three\n"
    metadata = etree.fromstring(requests.get(f"{project_url}input.txt/metadata", timeout=10).content)
    assert {m.get("id"): m.text for m in metadata.iter("meta")}["language"] == "en"  # sent with the file
    response = alice_client.post_form(run_url("pipelines-cancel-run", run), {}, form_url=run_url("pipelines-run", run),
                                      follow=True)
    assert "The run was cancelled." in text(response)


def test_constrainttest_takes_folia_xml_shows_its_constraint_and_says_why_the_service_refused_a_file(clam_demo, alice_client):
    pipeline = one_script_pipeline(clam_demo("constrainttest"), "constrainttest")
    project = new_project(alice_client, pipeline)
    page = text(alice_client.get(project.get_absolute_url()))
    assert "Accepted: .folia.xml and .zip archives of them." in page
    assert "The service requires pos-annotation exists True of these files: it checks this itself when the run starts." \
        in page
    page = upload(alice_client, project, SimpleUploadedFile("book.xml", b"<x/>"))
    assert "book.xml: .xml files are not used by the Run constrainttest pipeline; it takes .folia.xml" in page
    upload(alice_client, project, SimpleUploadedFile("book.folia.xml", FOLIA_WITHOUT_POS))
    start(alice_client, project)
    run = work_until(project.runs.get(), Run.FINISHED)
    assert run.stage == Run.Stage.FAILED
    page = text(alice_client.get(run_url("pipelines-run", run)))
    # The demo validates FoLiA with the `folia` library, which this machine lacks: it refuses every file, and says so.
    assert "The run failed: the service refused book.folia.xml: Input not accepted (validation failed)" in page


FOLIA_WITHOUT_POS = b"""<?xml version="1.0" encoding="utf-8"?>
<FoLiA xmlns="http://ilk.uvt.nl/folia" xml:id="book" version="2.0.0">
  <metadata type="native"><annotations><text-annotation/><sentence-annotation/><token-annotation/></annotations></metadata>
  <text xml:id="book.text"><s xml:id="book.s.1"><w xml:id="book.w.1"><t>word</t></w></s></text>
</FoLiA>
"""


# Without a service: runs built in the database (tests/test_outcomes.py's helpers), the worker's end of a process
# called as scripts.runner._finish calls it.


def single_pipeline(*, constraint=None):
    """A one-service pipeline on a script with one input template ("text", .txt, any number) whose files take a
    language (a ChoiceParameter of the template), with `constraint` on that template."""
    from scripts.models import ChoiceParameter, InputTemplate, OutputTemplate, ParameterChoice, Profile

    script = Script.objects.create(name="Text tool", url="http://127.0.0.1:9/")
    profile = Profile.objects.create(script=script, index=0)
    template = InputTemplate.objects.create(profile=profile, template_id="text", format="PlainTextFormat", label="Text",
                                            mimetype="text/plain", extension="txt", unique=False,
                                            constraints=[constraint] if constraint else [])
    OutputTemplate.objects.create(profile=profile, template_id="counts", format="PlainTextFormat", label="Word counts",
                                  extension="counts")
    language = ChoiceParameter.objects.create(script=script, input_template=template, clam_id="language",
                                              name="Language", type="choice")
    for order, (choice, label) in enumerate([("en", "English"), ("nl", "Dutch")]):
        ParameterChoice.objects.create(parameter=language, choice_id=choice, label=label, order=order)
    return Pipeline.objects.create(name="Count words", kind=Pipeline.Kind.SINGLE, fa_script=script)


def finished_run(owner, outputs, *, status="done", error="", project=None):
    from tests.factories import make_project
    from tests.test_outcomes import finish

    from scripts.models import Process

    project = project or make_project(owner, pipeline=single_pipeline())
    process = Process.objects.create(script=project.pipeline.fa_script, status=status, error=error,
                                     output_folder=f"{project.folder}/runs/t/fa", outputs=sorted(outputs))
    folder = run_folder_of(process)
    folder.mkdir(parents=True)
    for name, content in outputs.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    run = Run.objects.create(project=project, pipeline=project.pipeline, fa_process=process)
    with transaction.atomic():  # as scripts.runner._finish sends the signal (PostgreSQL locks the run's row)
        finish(process)
    run.refresh_from_db()
    return run


def run_folder_of(process):
    from pathlib import Path

    from django.core.files.storage import default_storage

    return Path(default_storage.path(process.output_folder))


def test_a_run_whose_service_wrote_no_output_file_fails_and_says_so(alice, alice_client):
    run = finished_run(alice, {})
    assert run.stage == Run.Stage.FAILED
    page = text(alice_client.get(run_url("pipelines-run", run)))
    assert ("The run failed: the service finished without producing any output file: check that your files are what "
            "it expects (see the accepted files on the project page) and the settings you chose") in page
    assert "This run has no output files." in page
    assert alice_client.get(run_url("pipelines-download-results", run)).status_code == 404


def test_a_crash_of_the_services_job_is_said_plainly_and_what_it_wrote_is_kept(alice, alice_client):
    from scripts.plainwords import GENERIC_FAILURE

    # The runner's reason for a job that crashed (a traceback in its error.log), and the output it wrote before.
    run = finished_run(alice, {"log": b"Your favourite colour is red\n"}, status="failed", error=GENERIC_FAILURE)
    assert run.stage == Run.Stage.FAILED
    page = text(alice_client.get(run_url("pipelines-run", run)))
    assert ("The run failed: the service stopped with an internal error; an administrator can see the details in the "
            "process log") in page
    assert [name for name, _, _ in output_rows(page)] == ["log"]
    archive = alice_client.get(run_url("pipelines-download-results", run))
    with zipfile.ZipFile(io.BytesIO(b"".join(archive.streaming_content))) as z:
        assert z.namelist() == ["log"]


def test_the_text_viewer_shows_the_start_of_a_long_output_escaped_and_binary_outputs_are_only_downloaded(
        alice, alice_client, django_assert_max_num_queries):
    long = b"<script>alert(1)</script>\n" + b"word 1\n" * 60000
    run = finished_run(alice, {"a.counts": long, "b.bin": b"\x00\x01\x02", "c.counts": "één\n".encode()})
    assert run.stage == Run.Stage.DONE
    # Queries: session, user, the run (with its project and process), the script's output templates, the project's
    # recordings (for pictures), the pipeline and its script (the page's words): 7, however many outputs.
    with django_assert_max_num_queries(7):
        page = text(alice_client.get(run_url("pipelines-run", run)))
    assert output_rows(page) == [("a.counts", "Word counts", "410.2 KB"), ("b.bin", "—", "3 bytes"),
                                 ("c.counts", "Word counts", "6 bytes")]
    assert run_url("pipelines-view-text", run, name="b.bin") not in page
    viewed = alice_client.get(run_url("pipelines-view-text", run, name="a.counts")).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in viewed and "<script>alert" not in viewed
    assert "Only the first 256.0 KB are shown here: download the file for the rest." in text(
        alice_client.get(run_url("pipelines-view-text", run, name="a.counts")))
    assert "één" in text(alice_client.get(run_url("pipelines-view-text", run, name="c.counts")))
    assert alice_client.get(run_url("pipelines-view-text", run, name="b.bin")).status_code == 404
    assert alice_client.get(run_url("pipelines-view-text", run, name="nothing.txt")).status_code == 404


def test_a_constraint_on_a_per_file_value_is_checked_before_anything_is_sent(alice, alice_client):
    from tests.factories import make_project

    pipeline = single_pipeline(constraint={"type": "require", "tests": [["language", "equals", "en"]]})
    project = make_project(alice, pipeline=pipeline)
    upload(alice_client, project, SimpleUploadedFile("a.txt", b"some words\n"))
    page = text(alice_client.get(project.get_absolute_url()))
    assert ("The service requires language equals en (checked before a run where it is about the settings below; "
            "otherwise by the service).") in page
    page = start(alice_client, project, {"text__language": "nl"})
    assert ("The run cannot start: the “Text” files do not meet the service's rule: requires language equals en. "
            "Change the settings below and start again.") in page
    assert not project.runs.exists()
    start(alice_client, project, {"text__language": "en"})
    assert [i["metadata"] for i in project.runs.get().fa_process.inputs] == [{"language": "en"}]


def test_constraints_are_checked_as_clam_checks_them_on_static_values_numbers_and_any_of_tests(db):
    from types import SimpleNamespace

    from pipelines.services import constraint_problems
    from scripts.models import FloatParameter, InputTemplate, StaticParameter

    pipeline = single_pipeline()
    script = pipeline.fa_script
    template = InputTemplate.objects.get(profile__script=script)
    StaticParameter.objects.create(script=script, input_template=template, clam_id="encoding", name="Encoding",
                                   type="static", value="utf-8")
    FloatParameter.objects.create(script=script, input_template=template, clam_id="rate", name="Rate", type="float",
                                  default=5.0)
    files = [SimpleNamespace(template_id="text")]

    def problems(*constraints, metadata=None):
        template.constraints = list(constraints)
        template.save()
        return constraint_problems(script, files, metadata or {"text": {"language": "en"}})

    assert problems({"type": "require", "tests": [["encoding", "equals", "utf-8"]]}) == []  # a static's value
    assert problems({"type": "require", "tests": [["rate", "equals", "5"]]}) == []  # 5.0 is 5
    assert problems({"type": "forbid", "tests": [["rate", "notequals", "5"]]}) == []
    assert problems({"type": "require", "tests": [["language", "exists", "True"]]}, metadata={"text": {}}) == []
    either = {"type": "require", "tests": [["language", "equals", "nl"], ["language", "equals", "en"]]}
    assert problems(either) == []
    assert problems(either, metadata={"text": {"language": "fr"}}) == [
        "the “Text” files do not meet the service's rule: requires language equals nl or language equals en"]


def test_a_required_value_without_a_default_is_marked_and_asked_for_by_its_label_before_anything_is_sent(
        alice, alice_client):
    from scripts.models import StringParameter
    from tests.factories import make_project

    pipeline = single_pipeline()
    StringParameter.objects.create(script=pipeline.fa_script, clam_id="speaker", name="Speaker", type="string",
                                   required=True)
    project = make_project(alice, pipeline=pipeline)
    upload(alice_client, project, SimpleUploadedFile("a.txt", b"some words\n"))
    page = text(alice_client.get(project.get_absolute_url()))
    assert re.search(r'<details class="mb-2" open>', page)
    assert re.search(r'<input type="text" name="speaker"[^>]* required', page)
    page = start(alice_client, project, {"text__language": "en", "speaker": ""})
    assert "Speaker: This field is required." in page
    assert not project.runs.exists()
    start(alice_client, project, {"text__language": "en", "speaker": "Ann"})
    assert project.runs.get().fa_process.parameters == {"speaker": "Ann"}


def test_a_setting_the_service_refuses_at_the_start_is_named_by_its_label(clam_demo, alice_client):
    pipeline = one_script_pipeline(clam_demo("textstats"), "textstats")
    project = new_project(alice_client, pipeline)
    upload(alice_client, project, SimpleUploadedFile("pride.txt", b"It is a truth universally acknowledged.\n"))
    # CLAM publishes no ranges, so the form takes any whole number; the service takes 0 or more.
    start(alice_client, project, {"textinput__author": "Jane", "freqlistlimit": "-5"})
    run = work_until(project.runs.get(), Run.FINISHED)
    assert run.stage == Run.Stage.FAILED
    page = text(alice_client.get(run_url("pipelines-run", run)))
    failure = re.search(r"The run failed: [^<]*", page).group(0)
    assert failure == ("The run failed: the service refused the settings: Limit frequencylist: Number must be a whole "
                       "number between 0 and 99999999"), failure
    assert "Limit frequencylist = -5" in page and "freqlistlimit" not in page  # the details too


def test_a_one_service_pipeline_with_parts_of_forced_alignment_is_not_offered(db):
    from django.core.exceptions import ValidationError

    pipeline = single_pipeline()
    assert pipeline in Pipeline.objects.offered()
    pipeline.g2p_script = pipeline.fa_script
    pipeline.save()
    assert list(Pipeline.objects.offered()) == []
    assert pipeline.problems() == [
        "“G2P script” is set, but a pipeline that runs one service uses no G2P script or connections"]
    with pytest.raises(ValidationError) as refused:
        pipeline.clean()
    assert refused.value.message_dict == {
        "g2p_script": ["Leave this empty: a pipeline that runs one service uses only its script."]}


def test_a_one_service_pipeline_on_an_action_only_service_is_not_offered_and_the_admin_is_told_why(clam_demo, db):
    script = Script.objects.create(name="multiplier", url=clam_demo("multiplier").url)
    assert importer.import_script(script).startswith("the service offers only CLAM actions (Multiplier)")
    pipeline = Pipeline.objects.create(name="Multiply", kind=Pipeline.Kind.SINGLE, fa_script=script)
    assert list(Pipeline.objects.offered()) == []
    assert pipeline.problems() == [
        "its script “multiplier” has no profiles: its last import failed (the service offers only CLAM actions "
        "(Multiplier) and no profiles, so it cannot be used in a pipeline: Equestria runs a service by uploading files "
        "to the input templates of one of its profiles, and an action takes no files)"]


def test_a_one_service_pipeline_takes_texts_over_the_aligners_transcript_limit(alice, alice_client, settings):
    from tests.factories import make_project

    settings.UPLOAD_MAX_TRANSCRIPT_BYTES = 100  # a transcript's limit: a service's text is no transcript
    project = make_project(alice, pipeline=single_pipeline())
    page = upload(alice_client, project, SimpleUploadedFile("novel.txt", b"word " * 100))
    assert "Ready to run" in page and project.files.get().size == 500


def test_a_textgrid_output_of_a_recording_in_the_project_has_its_picture(alice, alice_client):
    from scripts.models import InputTemplate
    from tests.factories import GRID, make_project, wav_bytes

    pipeline = single_pipeline()
    InputTemplate.objects.create(profile=pipeline.fa_script.profiles.get(), template_id="audio", format="WaveAudioFormat",
                                 label="Audio", mimetype="audio/vnd.wave", extension="wav", optional=True, order=1)
    project = make_project(alice, pipeline=pipeline)
    upload(alice_client, project, SimpleUploadedFile("a.wav", wav_bytes()))
    run = finished_run(alice, {"a.TextGrid": GRID.encode(), "b.TextGrid": GRID.encode()}, project=project)
    page = text(alice_client.get(run_url("pipelines-run", run)))
    assert run_url("pipelines-view-result", run, name="a.TextGrid") in page
    assert run_url("pipelines-view-result", run, name="b.TextGrid") not in page  # no recording b: its text only
    assert run_url("pipelines-view-text", run, name="b.TextGrid") in page
    assert 'id="result-picture"' in text(alice_client.get(run_url("pipelines-view-result", run, name="a.TextGrid")))


def test_an_administrator_adds_a_one_service_pipeline_without_a_language(admin_client):
    script = single_pipeline().fa_script
    response = admin_client.post(reverse("admin:scripts_pipeline_add"), {
        "name": "Count words too", "kind": "single", "language": "", "description": "", "fa_script": script.pk,
        "g2p_script": "", "oov_output": "", "g2p_input": "", "dictionary_output": "", "fa_dictionary_input": "",
        "phone_set": ""})
    assert response.status_code == 302
    assert Pipeline.objects.get(name="Count words too").single
    response = admin_client.post(reverse("admin:scripts_pipeline_add"), {
        "name": "Aligner", "kind": "alignment", "language": "", "description": "", "fa_script": script.pk,
        "g2p_script": "", "oov_output": "", "g2p_input": "", "dictionary_output": "", "fa_dictionary_input": "",
        "phone_set": ""})
    assert response.context["adminform"].form.errors == {
        "language": ["A forced-alignment pipeline needs the language it aligns."]}


@pytest.fixture(scope="module")
def slow_service(tmp_path_factory):
    """tests/clamconfigs/slow.py: its `nested` parameter writes sub/nested.txt next to result.txt."""
    from tests.clamservers import start_bundled_service, stop_service

    service = start_bundled_service("custom", tmp_path_factory.mktemp("slow"), settings="tests.clamconfigs.slow")
    yield service
    stop_service(service)


def test_an_output_in_a_subfolder_is_listed_viewed_downloaded_and_zipped_under_its_relative_path(
        slow_service, alice_client):
    from tests.clamservers import register_script

    pipeline = Pipeline.objects.create(name="Run slow", kind=Pipeline.Kind.SINGLE,
                                       fa_script=register_script(slow_service, "slow"))
    project = new_project(alice_client, pipeline)
    upload(alice_client, project, SimpleUploadedFile("a.txt", b"hello\n"))
    start(alice_client, project, {"seconds": "0", "nested": "on", "outputs": "0"})
    run = work_until(project.runs.get(), Run.FINISHED)
    assert run.stage == Run.Stage.DONE, run.error

    rows = output_rows(text(alice_client.get(run_url("pipelines-run", run))))
    assert [name for name, _, _ in rows] == ["result.txt", "sub/nested.txt"]
    assert (run_folder(run) / "sub" / "nested.txt").read_text() == "in a subfolder\n"
    assert "in a subfolder" in text(alice_client.get(run_url("pipelines-view-text", run, name="sub/nested.txt")))
    download = alice_client.get(run_url("pipelines-download-result", run, name="sub/nested.txt"))
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"in a subfolder\n"
    archive = alice_client.get(run_url("pipelines-download-results", run))
    with zipfile.ZipFile(io.BytesIO(b"".join(archive.streaming_content))) as z:
        assert sorted(z.namelist()) == ["result.txt", "sub/nested.txt"]
        assert z.read("sub/nested.txt") == b"in a subfolder\n"


def test_the_kind_of_a_pipeline_a_project_uses_cannot_change_in_the_admin(alice, admin_client):
    run = finished_run(alice, {"a.counts": b"3\n"})
    pipeline = run.pipeline
    url = reverse("admin:scripts_pipeline_change", args=[pipeline.pk])
    page = text(admin_client.get(url))
    assert ("The kind of “Count words” cannot change: 1 project uses it, and their results are read as its kind says. "
            "To offer the other kind, add a new pipeline.") in page
    assert 'name="kind"' not in page
    response = admin_client.post(url, {
        "name": "Count words", "kind": "alignment", "language": "en", "description": "", "fa_script": pipeline.fa_script_id,
        "g2p_script": "", "oov_output": "", "g2p_input": "", "dictionary_output": "", "fa_dictionary_input": "",
        "phone_set": ""})
    assert response.status_code == 302
    pipeline.refresh_from_db()
    assert pipeline.single


def test_an_output_gone_from_the_disk_is_no_such_result_and_the_zip_says_it_left_it_out(alice, alice_client):
    run = finished_run(alice, {"a.counts": b"3\n", "b.counts": b"4\n"})
    (run_folder_of(run.result_process) / "b.counts").unlink()
    for url_name in ("pipelines-view-text", "pipelines-download-result"):
        response = alice_client.get(run_url(url_name, run, name="b.counts"))
        # The pages' 404 says nothing of why (Django's 404 page); the API gives the message.
        assert response.status_code == 404 and "This page does not exist" in response.content.decode()
    archive = alice_client.get(run_url("pipelines-download-results", run))
    assert archive.status_code == 200
    with zipfile.ZipFile(io.BytesIO(b"".join(archive.streaming_content))) as z:
        assert sorted(z.namelist()) == ["a.counts", "missing-files.txt"]
        assert z.read("missing-files.txt").decode() == (
            "These results are no longer on the server, so they are not in this zip; ask your administrator if you "
            "need them:\n\nb.counts\n")


def test_the_api_gives_a_one_service_pipelines_kind_takes_per_file_values_and_lists_its_outputs(alice):
    from tests.test_api import api, token_for
    from upload.services import Upload

    client = api(token_for(alice))
    run = finished_run(alice, {"a.counts": b"3\n", "sub/b.counts": b"4\n"})
    [described] = [p for p in client.get(reverse("api-pipeline-list")).json() if p["name"] == "Count words"]
    assert described["kind"] == "single"
    assert [(p["id"], p["name"]) for p in described["parameters"]] == [
        ("text__language", "Language (of each “Text” file)")]

    listed = client.get(reverse("api-result-list", args=[run.project_id, run.pk])).json()
    assert [(r["name"], r["label"], r["size"], r["recording"]) for r in listed["results"]] == [
        ("a.counts", "Word counts", 2, None), ("sub/b.counts", "Word counts", 2, None)]
    download = client.get(listed["results"][0]["downloads"]["file"])
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"3\n"
    assert listed["results"][1]["downloads"] == {}  # the API's result URL takes no "/": it is in the zip
    archive = client.get(listed["zip"]["all"])
    with zipfile.ZipFile(io.BytesIO(b"".join(archive.streaming_content))) as z:
        assert sorted(z.namelist()) == ["a.counts", "sub/b.counts"]

    Upload(run.project).add(SimpleUploadedFile("c.txt", b"more words\n"))
    response = client.post(reverse("api-run-list", args=[run.project_id]),
                           json.dumps({"parameters": {"text__language": "nl"}}), content_type="application/json")
    assert response.status_code == 201, response.content
    started = Run.objects.get(pk=response.json()["id"])
    assert [i["metadata"] for i in started.fa_process.inputs] == [{"language": "nl"}]


def test_the_run_page_lists_the_first_outputs_only_and_points_to_the_zip_for_the_rest(alice, alice_client,
                                                                                       monkeypatch):
    from pipelines import results

    run = finished_run(alice, {f"{n}.counts": b"1\n" for n in range(5)})
    # A few outputs stand for the thousand of the limit (the same code path, without writing 1001 files).
    monkeypatch.setattr(results, "OUTPUTS_LISTED_MAX", 3)
    page = text(alice_client.get(run_url("pipelines-run", run)))
    assert [name for name, _, _ in output_rows(page)] == ["0.counts", "1.counts", "2.counts"]
    assert "The first 3 of 5 output files are listed: download the zip for the rest." in page


def test_a_new_one_service_project_asks_for_the_files_the_service_takes(alice_client):
    pipeline = single_pipeline()
    response = alice_client.post_form(reverse("upload-create-project"), {"name": "words", "pipeline": pipeline.pk},
                                      follow=True)
    assert "Project “words” created. Add the files the service takes." in text(response)


# Conversions at upload (CLAM converters): tests/clamconfigs/converting.py, whose job copies what it received.

LATIN1_TEXT = "Café crème, naïve façade.\nÀ bientôt!\n"


@pytest.fixture(scope="module")
def converting_service(tmp_path_factory):
    """tests/clamconfigs/converting.py: CLAM's Latin-1, PDF and Word converters on a .txt template; a .folia.xml one."""
    from tests.clamservers import start_bundled_service, stop_service

    service = start_bundled_service("custom", tmp_path_factory.mktemp("converting"),
                                    settings="tests.clamconfigs.converting")
    yield service
    stop_service(service)


def converting_pipeline(service):
    from tests.clamservers import register_script

    script = register_script(service, "converting")
    return Pipeline.objects.create(name="Convert texts", kind=Pipeline.Kind.SINGLE, fa_script=script)


def upload_converted(client, project, files, converters):
    response = client.post_form(reverse("upload-add-files", args=[project.pk]),
                                {"files": list(files), "converter": converters},
                                form_url=project.get_absolute_url(), follow=True)
    return re.sub(r"\s+", " ", unescape(response.content.decode()))


def output_bytes(run, name):
    return (run_folder(run) / name).read_bytes()


def test_a_latin1_text_with_its_conversion_chosen_is_run_and_comes_back_from_the_service_as_utf8(
        converting_service, alice_client):
    pipeline = converting_pipeline(converting_service)
    project = new_project(alice_client, pipeline)
    page = text(alice_client.get(project.get_absolute_url()))
    # The form offers the template's own format first, then each conversion with the files it takes.
    choice = page.split('<select name="converter"', 1)[1].split("</select>", 1)[0]
    options = re.findall(r'<option value="([^"]*)">([^<]*)</option>', choice)
    assert [(value, label.strip()) for value, label in options] == [
        ("", "plain text in UTF-8 (.txt), as the service takes them"),
        ("textinput:latin1", "Convert from Latin-1 (.txt files)"),
        ("textinput:pdfconv", "Convert from PDF Document (.pdf files)"),
        ("textinput:docconv", "Convert from MS Word Document (.doc files)")]
    assert "“Input text document” files are:" in page

    page = upload_converted(alice_client, project, [SimpleUploadedFile("café.txt", LATIN1_TEXT.encode("latin-1"))],
                            ["textinput:latin1"])
    assert "Added 1 file(s): café.txt" in page
    assert re.search(r"café\.txt</td> ?<td>Input text document<div class=\"small converter\">converted by the service: "
                     r"Convert from Latin-1</div>", page)
    assert project.files.get().converter == "latin1"

    start(alice_client, project)
    run = work_until(project.runs.get(), Run.FINISHED)
    assert run.stage == Run.Stage.DONE, run.error
    [sent] = run.fa_process.inputs
    assert (sent["converter"], sent["clam_name"], sent["alone"]) == ("latin1", "cafe.txt", True)
    assert output_bytes(run, "received.list") == b"cafe.txt\n"
    # The copy the job made of what the service stored: the same text, in UTF-8. (CLAM's CharEncodingConverter
    # writes each line with a second line end: an empty line after each, which is CLAM's doing.)
    converted = output_bytes(run, "café.txt").decode("utf-8")
    assert [line for line in converted.splitlines() if line] == LATIN1_TEXT.splitlines()


def test_the_same_latin1_text_without_a_conversion_is_refused_as_not_utf8(converting_service, alice_client):
    project = new_project(alice_client, converting_pipeline(converting_service))
    latin1 = SimpleUploadedFile("café.txt", LATIN1_TEXT.encode("latin-1"))
    page = upload_converted(alice_client, project, [latin1], [""])
    assert ("café.txt: the text is not UTF-8 (byte 3 cannot be decoded); save it as UTF-8 in your editor "
            "and upload it again") in page
    assert not project.files.exists()


def test_a_pdf_the_service_cannot_convert_is_left_out_by_name_and_label_and_the_other_files_are_run(
        converting_service, alice_client):
    project = new_project(alice_client, converting_pipeline(converting_service))
    # Not a PDF inside (pdftotext, which the converter runs, is not even installed here): CLAM cannot convert it.
    page = upload_converted(alice_client, project, [SimpleUploadedFile("report.pdf", b"%PDF-1.4\nnot really a PDF\n"),
                                                    SimpleUploadedFile("notes.txt", b"Plain notes.\n")],
                            ["textinput:pdfconv"])
    assert "Added 2 file(s): report.pdf, notes.txt" in page
    assert {f.name: f.converter for f in project.files.all()} == {"notes.txt": "", "report.pdf": "pdfconv"}

    start(alice_client, project)
    run = work_until(project.runs.get(), Run.FINISHED)
    assert run.stage == Run.Stage.PROBLEMS, run.error
    page = text(alice_client.get(run_url("pipelines-run", run)))
    assert ("Not every file was used: report.pdf was left out: the service could not convert it (“Convert from PDF "
            "Document”); check that it is a file of that kind and not damaged, or upload it in the format the service "
            "takes, or ask your administrator (the service may lack the program it needs).") in page
    assert output_bytes(run, "received.list") == b"notes.txt\n"  # CLAM kept the file it failed on: it was deleted
    assert [name for name, _, _ in output_rows(page)] == ["notes.txt", "received.list"]
    # Staff find what CLAM answered, and where its reason is, in the process's log; the researcher does not.
    assert ("The service could not convert an input: report.pdf (sent as report.txt, converter pdfconv): CLAM answered "
            "“Unable to convert”; the service's own log (its standard error) says why") in run.fa_process.log
    assert "CLAM answered" not in page and "standard error" not in page
    # The API's run says it as the page does.
    from tests.test_api import api, token_for

    described = api(token_for(run.project.owner)).get(reverse("api-run-detail", args=[project.pk, run.pk])).json()
    assert (described["stage"], described["error"]) == ("problems", (
        "Not every file was used: report.pdf was left out: the service could not convert it (“Convert from PDF "
        "Document”); check that it is a file of that kind and not damaged, or upload it in the format the service "
        "takes, or ask your administrator (the service may lack the program it needs)."))


def test_a_run_of_only_files_the_service_cannot_convert_fails_naming_them(converting_service, alice_client):
    project = new_project(alice_client, converting_pipeline(converting_service))
    # An OLE header and nothing of a Word document in it.
    word = SimpleUploadedFile("old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    upload_converted(alice_client, project, [word], ["textinput:docconv"])
    start(alice_client, project)
    run = work_until(project.runs.get(), Run.FINISHED)
    assert run.stage == Run.Stage.FAILED
    page = text(alice_client.get(run_url("pipelines-run", run)))
    assert ("The run failed: old.doc was left out: the service could not convert it (“Convert from MS Word "
            "Document”); check that it is a file of that kind and not damaged, or upload it in the format the service "
            "takes, or ask your administrator (the service may lack the program it needs)") in page


def test_a_conversion_the_service_no_longer_offers_leaves_its_file_out_and_says_so_by_its_label(
        converting_service, alice_client, tmp_path):
    from scripts.importer import import_script
    from tests.clamservers import start_bundled_service, stop_service

    pipeline = converting_pipeline(converting_service)
    project = new_project(alice_client, pipeline)
    upload_converted(alice_client, project, [SimpleUploadedFile("a.txt", LATIN1_TEXT.encode("latin-1"))],
                     ["textinput:latin1"])
    upload_converted(alice_client, project, [SimpleUploadedFile("b.txt", b"Plain.\n")], [""])
    assert [(f.name, f.converter, f.converter_label) for f in project.files.all()] == [
        ("a.txt", "latin1", "Convert from Latin-1"), ("b.txt", "", "")]
    # The service drops the converter, and its Script is imported again: the label goes with the template's.
    dropped = start_bundled_service("custom", tmp_path, settings="tests.clamconfigs.converting",
                                    env={"CONVERTING_WITHOUT": "latin1"})
    try:
        script = pipeline.fa_script
        script.url = dropped.url
        script.save(update_fields=["url"])
        assert import_script(script) is None
        assert [cid for cid, _ in script.profiles.get(index=0).input_templates.get().converters] == [
            "pdfconv", "docconv"]
        # Said before the run by the conversion's label, not its id: in the file's row, and by the readiness of the
        # page and the API (the run can start); the API's file says both.
        page = text(alice_client.get(project.get_absolute_url()))
        warning = ("a.txt: the service no longer offers the conversion chosen for it (“Convert from Latin-1”), so a run "
                   "leaves it out; upload it again, choosing what its files are")
        assert "the service no longer offers its conversion (“Convert from Latin-1”): upload it again" in page
        assert warning in page and "Ready to run" in page and "“latin1”" not in page
        from tests.test_api import api, token_for

        client = api(token_for(project.owner))
        described = client.get(reverse("api-project-detail", args=[project.pk])).json()
        assert described["readiness"]["warnings"] == [warning]
        files = client.get(reverse("api-file-list", args=[project.pk])).json()
        assert [(f["name"], f["converter"], f["converter_label"]) for f in files] == [
            ("a.txt", "latin1", "Convert from Latin-1"), ("b.txt", "", "")]
        start(alice_client, project)
        run = work_until(project.runs.get(), Run.FINISHED)
        assert run.stage == Run.Stage.PROBLEMS, run.error
        page = text(alice_client.get(run_url("pipelines-run", run)))
        assert ("Not every file was used: a.txt was left out: the service no longer offers the conversion chosen for "
                "it (“Convert from Latin-1”); upload it again, choosing what its files are.") in page
        assert output_bytes(run, "received.list") == b"b.txt\n"
    finally:
        stop_service(dropped)


def test_upload_checks_follow_the_chosen_conversion(converting_service, alice_client):
    project = new_project(alice_client, converting_pipeline(converting_service))
    page = upload_converted(alice_client, project, [SimpleUploadedFile("report.pdf", b"%PDF-1.4\n")], [""])
    assert ("report.pdf: .pdf files are not used by the Convert texts pipeline; it takes .folia.xml, .txt; for a PDF "
            "choose “Convert from PDF Document” under “Input text document” files are") in page
    page = upload_converted(alice_client, project, [SimpleUploadedFile("report.pdf", b"<html>not a pdf</html>")],
                            ["textinput:pdfconv"])
    assert ("report.pdf: this is not a PDF document (it does not begin as one), and “Convert from PDF Document” "
            "converts PDF documents") in page
    page = upload_converted(alice_client, project, [SimpleUploadedFile("new.doc", b"PK\x03\x04 a docx")],
                            ["textinput:docconv"])
    assert ("new.doc: this is not a Word 97–2003 document (it is a .docx, of Word 2007 or later, named .doc), and "
            "“Convert from MS Word Document” converts those; save it as “Word 97–2003 (.doc)” or as plain text "
            "(UTF-8)") in page
    page = upload_converted(alice_client, project, [SimpleUploadedFile("utf8.txt", "Café\n".encode())],
                            ["textinput:latin1"])
    assert ("utf8.txt: this text is UTF-8 already (its letters beyond ASCII read correctly as UTF-8), and “Convert from "
            "Latin-1” would garble them; upload it as the service takes them, without this conversion") in page
    page = upload_converted(alice_client, project, [SimpleUploadedFile("a.txt", b"text\n")], ["textinput:nope"])
    assert ("Nothing was added: “textinput:nope” is not a conversion the service offers; it offers: latin1 (Convert "
            "from Latin-1, for “Input text document” files); pdfconv (Convert from PDF Document, for “Input text "
            "document” files); docconv (Convert from MS Word Document, for “Input text document” files)") in page
    assert not project.files.exists()
    # A .txt of a PDF upload is the template's own format: sent as it is.
    upload_converted(alice_client, project, [SimpleUploadedFile("plain.txt", b"text\n")], ["textinput:pdfconv"])
    assert project.files.get().converter == ""


def test_the_api_upload_takes_a_conversion_by_its_id_and_the_pipeline_lists_them(converting_service, alice, bob):
    from tests.test_api import api, token_for

    client = api(token_for(alice))
    pipeline = converting_pipeline(converting_service)
    [described] = [p for p in client.get(reverse("api-pipeline-list")).json() if p["name"] == pipeline.name]
    assert [(c["id"], c["label"], c["extensions"]) for i in described["inputs"] for c in i["converters"]] == [
        ("latin1", "Convert from Latin-1", ["txt"]), ("pdfconv", "Convert from PDF Document", ["pdf"]),
        ("docconv", "Convert from MS Word Document", ["doc"])]
    response = client.post(reverse("api-project-list"), json.dumps({"name": "api texts", "pipeline": pipeline.name}),
                           content_type="application/json")
    assert response.status_code == 201, response.content
    project = Project.objects.get(name="api texts")
    url = reverse("api-file-list", args=[project.pk])
    response = client.post(url, {"files": [SimpleUploadedFile("café.txt", LATIN1_TEXT.encode("latin-1"))],
                                 "converter": "latin1"})
    assert response.status_code == 201, response.content
    [added] = response.json()["added"]
    assert (added["name"], added["converter"]) == ("café.txt", "latin1")

    response = client.post(url, {"files": [SimpleUploadedFile("b.txt", b"text\n")], "converter": "utf16"})
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_converter"
    assert response.json()["detail"].startswith("Nothing was added: “utf16” is not a conversion the service offers")
    response = client.post(url, {"files": [SimpleUploadedFile("b.txt", b"text\n")], "converter": ["latin1", "pdfconv"]})
    assert (response.status_code, response.json()["code"], response.json()["detail"]) == (
        400, "converter_twice", "Nothing was added: two conversions were chosen for “Input text document” files; "
        "choose one")

    # Another user's file is not found, converted or not, on the pages and in the API.
    other = api(token_for(bob))
    assert other.get(reverse("api-file-detail", args=[project.pk, added["id"]])).status_code == 404
    from django.test import Client

    bob_client = Client()
    bob_client.force_login(bob)
    assert bob_client.get(reverse("upload-download-file", args=[project.pk, added["id"]])).status_code == 404


def test_a_two_part_extension_stays_whole_on_the_service_and_the_output_gets_the_users_name(
        converting_service, alice_client):
    project = new_project(alice_client, converting_pipeline(converting_service))
    folia = b'<?xml version="1.0"?><FoLiA xmlns="http://ilk.uvt.nl/folia"/>\n'
    upload(alice_client, project, SimpleUploadedFile("mon livre.folia.xml", folia),
           SimpleUploadedFile("v1.2.final.folia.xml", folia))
    start(alice_client, project)
    run = work_until(project.runs.get(), Run.FINISHED)
    assert run.stage == Run.Stage.DONE, run.error
    assert output_bytes(run, "received.list") == b"mon_livre.folia.xml\nv1.2.final.folia.xml\n"
    page = upload(alice_client, project, SimpleUploadedFile(".folia.xml", folia))
    assert ".folia.xml: the name is only the extension .folia.xml; name the file (e.g. text.folia.xml) and upload it " \
        "again" in page
    assert sorted(run.fa_process.outputs) == ["mon livre.folia.xml", "received.list", "v1.2.final.folia.xml"]


@pytest.mark.parametrize("name, sent", [
    ("mon livre.folia.xml", "mon_livre.folia.xml"),  # was "mon_livre_folia.xml", to which CLAM added ".folia.xml"
    ("Émile été.FOLIA.XML", "Emile_ete.folia.xml"),  # the template's extension, as the template writes it
    ("v1.2.final.folia.xml", "v1.2.final.folia.xml"),  # several dots: safe as it is
    ("a b.c d.folia.xml", "a_b_c_d.folia.xml"),
    (".folia.xml", "file.folia.xml"),  # only the extension: a made-up stem
    ("notes.xml", "notes.xml"),  # another template's file keeps its one-part extension
])
def test_a_files_name_on_the_service_keeps_its_templates_two_part_extension(name, sent):
    from scripts import clamnames

    template = "foliainput" if name.lower().endswith(".folia.xml") else "xmlinput"
    [item] = clamnames.assign([{"name": name, "template": template}],
                              extensions={"foliainput": "folia.xml", "xmlinput": "xml"})
    assert item["clam_name"] == sent
    names = clamnames.NameMap([item])
    assert names.name(sent) == name
    stem = sent[:-len(".folia.xml")] if template == "foliainput" else "notes"
    assert names.name(f"{stem}.stats") == f"{name[:len(name) - len(sent) + len(stem)]}.stats"


def test_a_converted_file_is_sent_under_its_templates_extension_and_never_under_another_files_name():
    from scripts import clamnames

    inputs = clamnames.assign([{"name": "report.pdf", "template": "t", "converter": "pdfconv"},
                               {"name": "report.txt", "template": "t"}, {"name": "été.doc", "template": "t",
                                                                           "converter": "docconv"}],
                              extensions={"t": "txt"})
    assert [i["clam_name"] for i in inputs] == ["report.txt", "report-2.txt", "ete.txt"]
    names = clamnames.NameMap(inputs)
    # The service's text of a converted file is named by its stem: never as the user's .pdf or .doc.
    assert (names.name("ete.txt"), names.name("ete.stats"), names.name("report-2.txt")) == (
        "été.txt", "été.stats", "report.txt")


# The upload's checks of conversions, without a service: upload.services.Upload on a script built in the database
# (a trial's service: Latin-1, UTF-16, PDF and a converter of its own on its .txt template; FoLiA and other XML).

def trial_pipeline():
    from scripts.models import InputTemplate, Profile

    script = Script.objects.create(name="Lab word counter", url="http://127.0.0.1:9/")
    profile = Profile.objects.create(script=script, index=0)
    InputTemplate.objects.create(profile=profile, template_id="text", format="PlainTextFormat",
                                 label="Interview transcript", mimetype="text/plain", extension="txt", unique=False,
                                 converters=[["latin1", "Convert from Latin-1"], ["utf16", "Convert from UTF-16"],
                                             ["pdf2txt", "Extract text from PDF"],
                                             ["joinlines", "Join lines broken mid-word"]])
    for index, (template_id, label, extension) in enumerate([("folia", "FoLiA document", "folia.xml"),
                                                             ("xml", "Other XML document", "xml")], 1):
        InputTemplate.objects.create(profile=Profile.objects.create(script=script, index=index),
                                     template_id=template_id, format="XMLFormat", label=label, mimetype="text/xml",
                                     extension=extension, unique=False)
    return Pipeline.objects.create(name="Count words", kind=Pipeline.Kind.SINGLE, fa_script=script)


def upload_messages(project, files, converters=(), api=False):
    """The refusals and notes of one upload of {name: bytes}, as the page (or the API) shows them."""
    from upload import services

    upload = services.Upload(project, converters=converters, **({"api": True} if api else {}))
    for name, content in files.items():
        upload.add(SimpleUploadedFile(name, content), commit=False)
    upload.commit()
    # The byte's offset is no concern here (and is being counted from the file's start instead of a block's).
    return [re.sub(r"byte \d+( of a block)?", "byte N", o.message) for o in upload.outcomes if not o.saved] \
        + upload.notes


def test_a_text_not_in_utf8_is_told_the_conversion_the_service_offers_for_it(alice):
    from tests.factories import make_project

    project = make_project(alice, pipeline=trial_pipeline())
    files = {"latin1.txt": "Café\n".encode("latin-1"), "bom.txt": "Café\n".encode("utf-16"),
             "nobom.txt": "Café au lait\n".encode("utf-16-le")}
    assert upload_messages(project, files) == [
        "latin1.txt: the text is not UTF-8 (byte N cannot be decoded); save it as UTF-8 in your editor and "
        "upload it again, or choose “Convert from Latin-1” under “Interview transcript” files are",
        "bom.txt: this text is UTF-16; save it as UTF-8 in your editor and upload it again, or choose “Convert from "
        "UTF-16” under “Interview transcript” files are",
        "nobom.txt: this text is UTF-16; save it as UTF-8 in your editor and upload it again, or choose “Convert from "
        "UTF-16” under “Interview transcript” files are"]
    assert upload_messages(project, {"latin1.txt": files["latin1.txt"]}, api=True) == [
        "latin1.txt: the text is not UTF-8 (byte N cannot be decoded); save it as UTF-8 in your editor and "
        "upload it again, or send it with `converter=latin1`"]
    assert upload_messages(project, {"bom.txt": files["bom.txt"]}, ["latin1"]) == [
        "bom.txt: this text is UTF-16, which “Convert from Latin-1” does not convert; save it as UTF-8 in your editor "
        "and upload it again, or choose “Convert from UTF-16” under “Interview transcript” files are"]
    # A text that cannot be UTF-16 is not sent to be converted from it.
    assert upload_messages(project, {"plain.txt": b"Plain ASCII.\n"}, ["utf16"]) == [
        "plain.txt: this text is not UTF-16 (it has no byte-order mark and no NUL bytes), and “Convert from UTF-16” "
        "converts UTF-16 texts; upload it as the service takes them, without this conversion"]
    assert not project.files.exists()


def test_a_file_the_chosen_conversion_does_not_take_is_sent_as_it_is_with_a_note(alice):
    from scripts.models import converter_kind
    from tests.factories import make_project

    project = make_project(alice, pipeline=trial_pipeline())
    assert upload_messages(project, {"scan.pdf": b"%PDF-1.4\n", "notes.txt": b"Notes.\n"}, ["pdf2txt"]) == [
        "notes.txt: sent as it is; “Extract text from PDF” takes .pdf files"]
    assert {f.name: f.converter for f in project.files.all()} == {"notes.txt": "", "scan.pdf": "pdf2txt"}
    # "mid-word" is no Word document: a converter Equestria does not know takes any file, as the service judges.
    assert converter_kind("joinlines", "Join lines broken mid-word") == ""
    assert [converter_kind(*c) for c in [("docconv", "Convert from MS Word Document"), ("x", "Word document"),
                                         ("msword", "x"), ("c", "Convert from Word")]] == ["word"] * 4
    assert upload_messages(project, {"wrapped.txt": b"A line bro-\nken.\n"}, ["joinlines"]) == []
    # The administrator sees what each converter is taken for on the Script's page.
    assert project.pipeline.fa_script.profiles.get(index=0).input_templates.get().converter_text() == (
        "Convert from Latin-1 (latin1): .txt files; Convert from UTF-16 (utf16): .txt files; Extract text from PDF "
        "(pdf2txt): .pdf files; Join lines broken mid-word (joinlines): files of any name (not recognised: the service "
        "judges them)")
    assert project.files.get(name="wrapped.txt").converter == "joinlines"


def test_a_name_that_is_only_a_two_part_extension_is_refused_though_another_template_takes_its_last_part(alice):
    from tests.factories import make_project

    project = make_project(alice, pipeline=trial_pipeline())
    assert upload_messages(project, {".folia.xml": b"<FoLiA/>\n"}) == [
        ".folia.xml: the name is only the extension .folia.xml; name the file (e.g. text.folia.xml) and upload it "
        "again"]


def test_a_file_of_a_type_a_conversion_takes_is_told_that_one_conversion_in_a_short_sentence(alice):
    from tests.factories import make_project

    project = make_project(alice, pipeline=trial_pipeline())
    assert upload_messages(project, {"report.pdf": b"%PDF-1.4\n", "a.rtf": b"{\\rtf1}"}) == [
        "report.pdf: .pdf files are not used by the Count words pipeline; it takes .folia.xml, .txt, .xml; for a PDF "
        "choose “Extract text from PDF” under “Interview transcript” files are",
        "a.rtf: .rtf files are not used by the Count words pipeline; it takes .folia.xml, .txt, .xml; converted by the "
        "service when chosen under “… files are”: .pdf"]
    assert upload_messages(project, {"report.pdf": b"%PDF-1.4\n"}, api=True) == [
        "report.pdf: .pdf files are not used by the Count words pipeline; it takes .folia.xml, .txt, .xml; for a PDF "
        "send it with `converter=pdf2txt`"]


def test_files_of_one_stem_in_a_one_service_pipeline_go_under_stems_of_their_own():
    from scripts import clamnames

    books = [{"name": "book.folia.xml", "template": "folia"}, {"name": "book.xml", "template": "xml"}]
    extensions = {"folia": "folia.xml", "xml": "xml"}
    # An aligner's inputs pair by stem; a one-service pipeline's ("alone") pair with nothing, so the service's
    # outputs of each ("book.tokens.txt") do not overwrite each other.
    assert [i["clam_name"] for i in clamnames.assign(books, extensions=extensions)] == ["book.folia.xml", "book.xml"]
    alone = clamnames.assign([{**item, "alone": True} for item in books], extensions=extensions)
    assert [i["clam_name"] for i in alone] == ["book.folia.xml", "book-2.xml"]


def test_outputs_that_keep_the_services_names_say_whose_they_are_on_the_run_page_and_in_the_zip(alice, alice_client):
    from scripts import clamnames

    # memo.txt sent as it is, memo.rot converted into a .txt: both "memo" on the service; the outputs of the second
    # keep the service's names, as scripts.runner.step_download keeps a name that would clash once mapped.
    inputs = clamnames.assign([{"name": "memo.rot", "template": "text", "converter": "rot13", "alone": True},
                               {"name": "memo.txt", "template": "text", "alone": True}], extensions={"text": "txt"})
    assert [i["clam_name"] for i in inputs] == ["memo.txt", "memo-2.txt"]
    run = finished_run(alice, {"memo.count": b"2\n", "memo-2.count": b"3\n"})
    run.result_process.inputs = inputs
    run.result_process.save(update_fields=["inputs"])
    page = text(alice_client.get(run_url("pipelines-run", run)))
    assert ("memo-2.* are the outputs of memo.txt (two of your files have one name on the service, so these outputs "
            "keep the service's).") in page
    assert [(name, what) for name, what, _ in output_rows(page)] == [("memo-2.count", "of memo.txt"),
                                                                   ("memo.count", "—")]
    # The API's results list says it of each output, as the page does.
    from tests.test_api import api, token_for

    listed = api(token_for(alice)).get(reverse("api-result-list", args=[run.project_id, run.pk])).json()["results"]
    assert [(r["name"], r["of_file"]) for r in listed] == [("memo-2.count", "memo.txt"), ("memo.count", None)]
    archive = alice_client.get(run_url("pipelines-download-results", run))
    with zipfile.ZipFile(io.BytesIO(b"".join(archive.streaming_content))) as z:
        assert sorted(z.namelist()) == ["memo-2.count", "memo.count", "names-on-the-service.txt"]
        assert z.read("names-on-the-service.txt").decode() == (
            "Two of your files have one name on the service, so their outputs keep the service's names: memo-2.* are "
            "the outputs of memo.txt.\n")


def test_a_one_service_project_is_ready_to_run_in_the_api_too_and_its_file_table_has_no_empty_columns(
        alice, alice_client):
    from tests.factories import make_project
    from tests.test_api import api, token_for

    pipeline = single_pipeline()
    assert str(pipeline) == "Count words"  # no "()" of a language it does not have
    project = make_project(alice, pipeline=pipeline)
    assert upload_messages(project, {"pride.txt": b"It is a truth.\n"}) == []
    page = alice_client.get(project.get_absolute_url()).content.decode()
    assert "<th>Kind</th>" in page and "<th>Pairing</th>" not in page and "<th>Audio</th>" not in page
    described = api(token_for(alice)).get(reverse("api-project-detail", args=[project.pk])).json()
    assert described["state"] == "ready to run"
    assert "What your files go through: forced alignment in a language (recordings with their transcripts), or a " \
        "service run on your files." in unescape(alice_client.get(reverse("upload-create-project")).content.decode())
