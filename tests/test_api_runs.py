"""Runs and their results through the API (/api/v1/projects/{id}/runs/…): what the run page shows and downloads,
as JSON and as the same files. Finished runs are built as the worker leaves them (tests/test_exports.py's
`exported_run`, tests/test_confidence_pages.py's `confident_result`), without services. Who may call what:
test_api.py's access matrix."""

import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from pipelines.models import RecordingOutcome, Run
from scripts.models import BooleanParameter, IntegerParameter, Process
from tests.factories import make_project, wav_bytes
from tests.test_api import api, assert_error, operation, token_for
from tests.test_confidence_pages import confident_result
from tests.test_exports import content, exported_run
from tests.test_queue_health import BOUND, a_task
from tests.test_review import review_run  # noqa: F401  (a fixture)
from upload.services import Upload

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()  # the throttle counts in the cache, which outlives a test
    yield
    cache.clear()


def _run_url(name, run, *args):
    return reverse(name, args=[run.project_id, run.pk, *args])


def _process(project, **fields):
    return Process.objects.create(script=project.pipeline.fa_script, output_folder=f"{project.folder}/runs/x/fa",
                                  **fields)


# Runs


def test_a_projects_runs_are_listed_with_stage_progress_and_why_one_failed(alice):
    project = make_project(alice)
    failed = Run.objects.create(project=project, pipeline=project.pipeline, stage=Run.Stage.FAILED,
                                error="Traceback (most recent call last): …")
    running = Run.objects.create(project=project, pipeline=project.pipeline, fa_process=_process(
        project, status=Process.Status.RUNNING, completion=40, message="Aligning interview 2 of 5"))

    listed = api(token_for(alice)).get(reverse("api-run-list", args=[project.pk])).json()

    assert [(r["id"], r["stage"], r["stage_label"], r["progress"], r["error"]) for r in listed] == [
        (str(running.pk), "aligning", "aligning", {"percent": 40, "status": "running",
                                                  "message": "Aligning interview 2 of 5"}, None),
        # What the run page says of a failure it cannot show in plain words.
        (str(failed.pk), "failed", "failed", None, "the service stopped with an internal error; an "
                                                   "administrator can see the details in the process log"),
    ]
    assert listed[0]["url"] == "http://testserver" + _run_url("api-run-detail", running)
    assert listed[0]["page"] == "http://testserver" + _run_url("pipelines-run", running)
    assert listed[0]["finished_at"] is None and listed[0]["created_at"]


def test_a_run_says_what_became_of_each_recording_and_its_words_to_check_as_its_page_does(alice, alice_client):
    project, run = confident_result(alice)

    detail = api(token_for(alice)).get(_run_url("api-run-detail", run)).json()

    assert (detail["stage"], detail["stage_label"], detail["progress"], detail["summary"]) == (
        "done", "done", None, "1 of 1 recording aligned")
    picture = "http://testserver" + _run_url("pipelines-view-result", run, "interview.TextGrid")
    assert detail["outcomes"] == [{
        "recording": "interview.flac", "transcript": "interview.txt", "status": "aligned", "status_label": "aligned",
        "message": "", "warnings": [], "result": "interview.TextGrid",
        "words_to_check": {"count": 3, "words": [
            {"label": "w3", "confidence": 0.12, "time": "1.50 s", "speaker": None, "picture": picture + "?at=0%3A00"},
            {"label": "w7", "confidence": 0.31, "time": "3.50 s", "speaker": None, "picture": picture + "?at=0%3A01"},
            {"label": "w12", "confidence": 0.48, "time": "6.00 s", "speaker": None, "picture": picture + "?at=0%3A04"}]},
        "kept_from_first_alignment": False,  # no review
    }]
    assert detail["results"] == "http://testserver" + _run_url("api-result-list", run)
    assert detail["review_page"] is None
    page = alice_client.get(_run_url("pipelines-run", run)).content.decode()
    assert f'<p id="run-summary">{detail["summary"]}.</p>' in page


def test_recordings_waiting_for_the_review_are_being_aligned_again_once_it_is_done(alice):
    project = make_project(alice)
    run = Run.objects.create(project=project, pipeline=project.pipeline, stage=Run.Stage.REVIEW, oov_words=["Qwzx"],
                             fa_process=_process(project, status=Process.Status.DONE))
    RecordingOutcome.objects.create(run=run, recording="a.wav", transcript="a.txt", status="waiting",
                                    message="its transcript has words the aligner does not know (“Qwzx”); it is "
                                            "aligned after your review of their pronunciations")
    client = api(token_for(alice))

    detail = client.get(_run_url("api-run-detail", run)).json()

    assert (detail["stage_label"], detail["summary"], detail["unknown_words"]) == (
        "waiting for your review of the pronunciations", "0 of 1 recording aligned; 1 waits for your review", ["Qwzx"])
    assert detail["review_page"] == "http://testserver" + _run_url("pipelines-review", run)
    assert detail["outcomes"][0]["status_label"] == "waits for your review"
    realign = _process(project, status=Process.Status.QUEUED)
    Run.objects.filter(pk=run.pk).update(stage=Run.Stage.REALIGNING, realign_process=realign)
    a_task(realign, due_seconds_ago=2 * BOUND + 5)  # and no worker has taken it up
    detail = client.get(_run_url("api-run-detail", run)).json()
    assert detail["outcomes"][0]["status_label"] == "being aligned with your pronunciations"
    assert detail["summary"] == "0 of 1 recording aligned; 1 is being aligned with your pronunciations"
    assert detail["progress"] == {"percent": 0, "status": "queued", "message": "",
                                  "waiting": "Waiting for a worker to take this up: none is running at the moment. It "
                                             "goes on by itself when one starts; if it has not after a few minutes, "
                                             "tell your administrator."}


def test_another_users_run_is_not_found_under_their_own_project_either(alice, bob):
    alice_project = make_project(alice)
    bobs = make_project(bob, "Bob's", pipeline=alice_project.pipeline)
    run = Run.objects.create(project=alice_project, pipeline=alice_project.pipeline, stage=Run.Stage.DONE)
    client = api(token_for(bob))
    for name, extra in (("api-run-detail", []), ("api-result-list", []), ("api-result", ["a.TextGrid"]),
                        ("api-results-zip", [])):
        assert_error(client.get(reverse(name, args=[bobs.pk, run.pk, *extra])), 404, "not_found", "Not found.")


# Results


def test_a_runs_results_list_each_recordings_result_with_a_download_per_format_and_the_zip(alice, tmp_path):
    project, run = exported_run(alice, tmp_path)

    listed = api(token_for(alice)).get(_run_url("api-result-list", run)).json()

    base = "http://testserver" + _run_url("api-result", run, "a.TextGrid")
    assert listed["results"][0] == {
        "recording": "a.wav", "name": "a.TextGrid",
        "downloads": {f: f"{base}?format={f}" for f in ("textgrid", "eaf", "csv", "json")},
        "picture": "http://testserver" + _run_url("pipelines-view-result", run, "a.TextGrid")}
    assert [(r["recording"], r["name"]) for r in listed["results"]] == [("a.wav", "a.TextGrid"), ("b.wav", "b.TextGrid")]
    zip_url = "http://testserver" + _run_url("api-results-zip", run)
    assert listed["zip"] == {f: f"{zip_url}?format={f}" for f in ("all", "textgrid", "eaf", "csv", "json")}


def test_a_run_without_results_lists_none_and_has_no_zip_yet(alice):
    project = make_project(alice)
    run = Run.objects.create(project=project, pipeline=project.pipeline, fa_process=_process(project))
    client = api(token_for(alice))

    assert client.get(_run_url("api-result-list", run)).json() == {"count": 0, "next": None, "previous": None,
                                                             "results": [], "zip": None}
    assert_error(client.get(_run_url("api-results-zip", run)), 409, "no_results", "This run has no results yet.",
                 operation_of=("get", "api-results-zip"))
    Run.objects.filter(pk=run.pk).update(stage=Run.Stage.FAILED)
    assert_error(client.get(_run_url("api-results-zip", run)), 409, "no_results", "This run ended without results.")


EAF_DATE = re.compile(rb' DATE="[^"]+"')  # an EAF's header has the time it was made


@pytest.mark.parametrize("format", ["textgrid", "eaf", "csv", "json"])
def test_a_result_downloads_with_the_same_bytes_and_headers_as_from_the_run_page(alice, alice_client, tmp_path, format):
    project, run = exported_run(alice, tmp_path)
    page_url = _run_url("pipelines-download-result", run, "a.TextGrid") if format == "textgrid" else \
        reverse("pipelines-export-result", args=[project.pk, run.pk, format, "a.TextGrid"])
    from_page = alice_client.get(page_url)

    response = api(token_for(alice)).get(_run_url("api-result", run, "a.TextGrid"), {"format": format})

    assert response.status_code == 200
    for header in ("Content-Type", "Content-Disposition", "Content-Length", "X-Content-Type-Options"):
        assert response[header] == from_page[header], header
    assert EAF_DATE.sub(b"", content(response)) == EAF_DATE.sub(b"", content(from_page))
    assert response["Content-Disposition"] == {"textgrid": 'attachment; filename="a.TextGrid"'}.get(
        format, f'attachment; filename="a.{format}"')


def test_a_result_is_its_textgrid_when_no_format_is_asked_for_and_any_output_downloads_as_it_is(alice, tmp_path):
    project, run = exported_run(alice, tmp_path)
    client = api(token_for(alice))
    grid = (Path(default_storage.path(run.fa_process.output_folder)) / "a.TextGrid").read_bytes()

    assert content(client.get(_run_url("api-result", run, "a.TextGrid"))) == grid
    assert content(client.get(_run_url("api-result", run, "report.json"))).startswith(b'{"format": "equestria')


@pytest.mark.parametrize("format", ["textgrid", "eaf", "csv", "json", "all"])
def test_the_zip_is_the_run_pages_zip(alice, alice_client, tmp_path, format):
    project, run = exported_run(alice, tmp_path, stems=("Take1", "take1"))
    from_page = alice_client.get(_run_url("pipelines-download-results", run), {"format": format})

    response = api(token_for(alice)).get(_run_url("api-results-zip", run), {"format": format})

    assert response.status_code == 200
    for header in ("Content-Type", "Content-Disposition", "X-Content-Type-Options"):
        assert response[header] == from_page[header], header
    ours, theirs = (zipfile.ZipFile(io.BytesIO(content(r))) for r in (response, from_page))
    assert ours.namelist() == theirs.namelist()
    assert all(EAF_DATE.sub(b"", ours.read(n)) == EAF_DATE.sub(b"", theirs.read(n)) for n in ours.namelist())


def test_the_zip_has_every_format_when_none_is_asked_for(alice, tmp_path):
    project, run = exported_run(alice, tmp_path)

    response = api(token_for(alice)).get(_run_url("api-results-zip", run))

    assert response["Content-Disposition"] == 'attachment; filename="Austen-results.zip"'
    assert {"a.TextGrid", "ELAN/a.eaf", "CSV/a.csv", "JSON/a.json", "report.csv"} <= set(
        zipfile.ZipFile(io.BytesIO(content(response))).namelist())


def test_a_format_that_does_not_exist_is_refused_with_the_formats_that_do(alice, tmp_path):
    project, run = exported_run(alice, tmp_path)
    client = api(token_for(alice))

    assert_error(client.get(_run_url("api-result", run, "a.TextGrid"), {"format": "praat"}), 400, "invalid_format",
                 "There is no format “praat”: choose one of textgrid, eaf, csv, json.",
                 operation_of=("get", "api-result"))
    assert_error(client.get(_run_url("api-results-zip", run), {"format": "EAF"}), 400, "invalid_format",
                 "There is no format “EAF”: choose one of textgrid, eaf, csv, json, all.",
                 operation_of=("get", "api-results-zip"))


def test_a_result_that_cannot_be_converted_says_so_and_stays_downloadable_as_it_is(alice, tmp_path):
    project, run = exported_run(alice, tmp_path)
    (Path(default_storage.path(run.fa_process.output_folder)) / "b.TextGrid").write_text("not a TextGrid")
    client = api(token_for(alice))

    assert_error(client.get(_run_url("api-result", run, "b.TextGrid"), {"format": "eaf"}), 422, "not_convertible",
                 "This result cannot be converted; download its TextGrid instead.", operation_of=("get", "api-result"))
    assert_error(client.get(_run_url("api-result", run, "report.json"), {"format": "csv"}), 422, "not_convertible",
                 "Only TextGrids are converted to other formats; download report.json as it is.")
    assert content(client.get(_run_url("api-result", run, "b.TextGrid"))) == b"not a TextGrid"


def test_a_result_the_run_does_not_have_is_not_found_by_name(alice, tmp_path):
    project, run = exported_run(alice, tmp_path)

    response = api(token_for(alice)).get(_run_url("api-result", run, "c.TextGrid"), {"format": "json"})

    assert_error(response, 404, "not_found", "This run has no result named “c.TextGrid”.",
                 operation_of=("get", "api-result"))


def test_a_download_may_be_asked_for_with_any_accept_header_and_errors_stay_json(alice, tmp_path):
    project, run = exported_run(alice, tmp_path)
    client = api(token_for(alice))

    response = client.get(_run_url("api-result", run, "a.TextGrid"), {"format": "eaf"}, HTTP_ACCEPT="text/x-eaf+xml")
    assert response.status_code == 200 and response["Content-Type"] == "text/x-eaf+xml"
    response = client.get(_run_url("api-results-zip", run), {"format": "docx"}, HTTP_ACCEPT="application/zip")
    assert_error(response, 400, "invalid_format")
    assert response["Content-Type"] == "application/json"


def test_the_schema_gives_the_formats_of_a_result_and_of_the_zip_and_no_other_format_parameter():
    def formats(method, name):
        return [sorted(p["schema"]["enum"]) for p in operation(method, name).get("parameters", []) if p["name"] == "format"]

    assert formats("get", "api-result") == [["csv", "eaf", "json", "textgrid"]]
    assert formats("get", "api-results-zip") == [["all", "csv", "eaf", "json", "textgrid"]]
    assert formats("get", "api-download-file") == []  # `?format=` is no renderer's choice anywhere in the API


def test_a_file_download_refused_is_json_whatever_the_accept_header_asked_for(alice, bob):
    project = make_project(alice)
    upload = Upload(project)
    upload.add(SimpleUploadedFile("a.txt", b"ten of clubs"))
    f = project.files.get()

    response = api(token_for(bob)).get(reverse("api-download-file", args=[project.pk, f.pk]),
                                       HTTP_ACCEPT="application/octet-stream")

    assert_error(response, 404, "not_found", "Not found.")
    assert response["Content-Type"] == "application/json"


def test_runs_and_a_runs_status_and_results_cost_a_fixed_number_of_queries(alice, tmp_path,
                                                                           django_assert_max_num_queries):
    project, run = exported_run(alice, tmp_path, stems=("a", "b", "c"))
    for _ in range(3):
        Run.objects.create(project=project, pipeline=project.pipeline, stage=Run.Stage.FAILED)
    client = api(token_for(alice))
    client.get(reverse("api-run-list", args=[project.pk]))  # the token's last use is written once a minute at most
    # Queries: the token and its user; the project with its pipeline, its profiles and templates; the runs with
    # their processes: 5, however many runs there are.
    with django_assert_max_num_queries(5):
        assert len(client.get(reverse("api-run-list", args=[project.pk])).json()) == 4
    # The token; the run with its project, pipeline and processes; its outcomes (which hold their words to check);
    # its corrected versions (whose words to check are read from them): 4, however many recordings there are.
    with django_assert_max_num_queries(4):
        assert len(client.get(_run_url("api-run-detail", run)).json()["outcomes"]) == 3
    # The token; the run; its outcomes: 3.
    with django_assert_max_num_queries(3):
        assert len(client.get(_run_url("api-result-list", run)).json()["results"]) == 3


def test_a_run_being_aligned_costs_the_same_queries_with_a_hundred_recordings_as_with_one(alice):
    # What a client that follows a run asks for every second or so: its cost must not grow with the recordings.
    project = make_project(alice)
    client = api(token_for(alice))
    counts = []
    for recordings in (1, 100):
        realign = _process(project, status=Process.Status.RUNNING, completion=40)
        run = Run.objects.create(project=project, pipeline=project.pipeline, stage=Run.Stage.REALIGNING,
                                 oov_words=["Qwzx"], fa_process=_process(project, status=Process.Status.DONE),
                                 realign_process=realign)
        RecordingOutcome.objects.bulk_create(RecordingOutcome(
            run=run, recording=f"r{n:03d}.wav", transcript=f"r{n:03d}.txt", status="waiting",
            message="aligned again after your review") for n in range(recordings))
        client.get(_run_url("api-run-detail", run))  # the token's last use is written once a minute at most
        with CaptureQueriesContext(connection) as queries:
            detail = client.get(_run_url("api-run-detail", run)).json()
        assert len(detail["outcomes"]) == recordings
        assert {o["status_label"] for o in detail["outcomes"]} == {"being aligned with your pronunciations"}
        counts.append(len(queries))
        Run.objects.filter(pk=run.pk).update(stage=Run.Stage.CANCELLED)
    assert counts[0] == counts[1], counts


# Starting a run


def _ready(owner, *stems):
    project = make_project(owner)
    upload = Upload(project)
    for stem in stems:
        upload.add(SimpleUploadedFile(f"{stem}.wav", wav_bytes()))
        upload.add(SimpleUploadedFile(f"{stem}.txt", b"ten of clubs"))
    return project


def _start(client, project, body):
    return client.post(reverse("api-run-list", args=[project.pk]), json.dumps(body), content_type="application/json")


def test_a_run_starts_with_typed_parameters_and_the_others_at_their_defaults(alice):
    project = _ready(alice, "a")
    script = project.pipeline.fa_script
    IntegerParameter.objects.create(script=script, clam_id="beam", name="Beam", type="integer", default=30, minimum=1,
                                    maximum=100)
    BooleanParameter.objects.create(script=script, clam_id="confidence", name="Confidence", type="boolean",
                                    default=True)

    response = _start(api(token_for(alice)), project, {"parameters": {"beam": 9}})

    assert response.status_code == 201, response.content
    run = Run.objects.get()
    assert response.json()["id"] == str(run.pk) and response.json()["stage"] == "aligning"
    # Not sent: its default, as the page's form shows it checked (an unchecked box would send False).
    assert run.parameters == {"beam": "9", "confidence": "True"}
    assert [i["name"] for i in run.fa_process.inputs] == ["a.txt", "a.wav"]


def test_a_start_the_page_refuses_is_refused_with_the_pages_message(alice):
    project = _ready(alice, "a")
    Upload(project).add(SimpleUploadedFile("b.wav", wav_bytes()))
    IntegerParameter.objects.create(script=project.pipeline.fa_script, clam_id="beam", name="Beam", type="integer",
                                    default=30, minimum=1, maximum=100)
    client = api(token_for(alice))

    assert_error(_start(client, project, {"parameters": {"beam": 0}}), 400, "min_value",
                 "Beam: Ensure this value is greater than or equal to 1.", operation_of=("post", "api-run-list"))
    assert_error(_start(client, project, {"parameters": {"speed": 2}}), 400, "unknown_parameter",
                 "This pipeline has no parameter speed; it takes: beam.", operation_of=("post", "api-run-list"))
    assert_error(_start(client, project, {}), 409, "cannot_start",
                 "Not every recording has a transcript with words: b.wav has no transcript: add b.txt. Add what is "
                 "missing, or choose “Align the 1 complete pair only” to leave these files out.",
                 operation_of=("post", "api-run-list"))
    assert_error(_start(client, project, {"parameters": {"beam": {"value": 9}}}), 400, "invalid",
                 "Beam: send a number, true or false, a text, or a choice's id (a list of them when several may be "
                 "chosen).", operation_of=("post", "api-run-list"))
    assert_error(_start(client, project, {"parameters": [9]}), 400, "parse_error",
                 "Send a JSON object, e.g. {\"parameters\": {\"beam\": 9}}.")
    assert_error(_start(client, project, {"only_complete_pairs": "yes"}), 400, "parse_error",
                 "Send `only_complete_pairs` as true or false.")
    assert not Run.objects.exists()
    assert _start(client, project, {"only_complete_pairs": True}).status_code == 201
    assert_error(_start(client, project, {"only_complete_pairs": True}), 409, "cannot_start",
                 "An alignment of this project is already running.")


def test_a_url_missing_its_slash_says_so_whatever_the_accept_header_asked_for(alice, tmp_path):
    project, run = exported_run(alice, tmp_path)

    response = api(token_for(alice)).get(_run_url("api-result", run, "a.TextGrid")[:-1], {"format": "eaf"},
                                         HTTP_ACCEPT="application/octet-stream")

    url = _run_url("api-result", run, "a.TextGrid")[:-1]
    assert_error(response, 404, "not_found", f"No such URL: {url}. The API's URLs end with a slash: {url}/")
    assert response["Content-Type"] == "application/json"


def test_a_run_from_before_outcomes_lists_its_textgrids_named_after_their_recordings(alice):
    from tests.test_outcomes import GRID, fa_process

    project = make_project(alice)
    process = fa_process(project, ["a"], {"a.TextGrid": GRID, "fa.log": "done"})
    run = Run.objects.create(project=project, pipeline=project.pipeline, stage=Run.Stage.DONE, fa_process=process)

    listed = api(token_for(alice)).get(_run_url("api-result-list", run)).json()

    assert [(r["recording"], r["name"]) for r in listed["results"]] == [("a.wav", "a.TextGrid")]
    assert api(token_for(alice)).get(_run_url("api-run-detail", run)).json()["outcomes"] == []


# The review and cancel: the review page's checks and messages (tests/test_review.py's run waiting for review)


def test_the_review_lists_each_word_its_proposals_recordings_and_the_phones_as_its_page_does(review_run):
    response = api(token_for(review_run.project.owner)).get(_run_url("api-run-review", review_run))

    body = response.json()
    assert body["words"] == [{"word": "pony", "proposed": ["P OW N IY"], "recordings": ["a.wav", "b.wav"]},
                             {"word": "zebra", "proposed": ["Z IY B R AH"], "recordings": ["b.wav"]}]
    assert body["dictionary"] == "pony P OW N IY\nzebra Z IY B R AH\n"
    assert body["phones"][:3] == ["AA", "AE", "AH"] and body["approximate"] is False
    assert body["phone_note"] == (f"Phones this aligner knows: {review_run.pipeline.phone_set}. Stress digits as in the "
                                  "CMU dictionary (AO1, ER0) are accepted and dropped, as the aligner does not use them.")
    assert body["page"] == "http://testserver" + _run_url("pipelines-review", review_run)


def test_a_reviewed_dictionary_is_refused_with_every_problem_of_the_review_page(review_run, alice_client):
    client = api(token_for(review_run.project.owner))
    sent = "pony P OW1 N IY Q\n<s> AH\nzebra\n"

    response = client.post(_run_url("api-run-review", review_run), {"dictionary": sent}, content_type="application/json")

    assert_error(response, 400, "dictionary_refused", operation_of=("post", "api-run-review"))
    problems = response.json()["problems"]
    assert problems[:3] == [
        "Line 1: “Q” is not a phone of this aligner (in the pronunciation of “pony”).",
        "Line 2: “<s>” is not a word the aligner can take: words in <…> or […] are the aligner's own markers "
        "(silence, noise), not words of a transcript.",
        "Line 3: “zebra” needs at least one phone after the word.",
    ]
    assert response.json()["detail"] == "\n".join(problems)
    page = alice_client.post_form(_run_url("pipelines-review", review_run), {"dictionary": sent}).content.decode()
    for problem in problems:
        assert escape(problem) in page
    review_run.refresh_from_db()
    assert review_run.stage == Run.Stage.REVIEW and review_run.realign_process is None


def test_a_missing_word_is_refused_until_it_is_left_out_by_choice_then_the_run_aligns_again(review_run):
    client = api(token_for(review_run.project.owner))
    url = _run_url("api-run-review", review_run)

    response = client.post(url, {"dictionary": "pony P AO1 N IY0\n"}, content_type="application/json")
    assert_error(response, 400, "dictionary_refused")
    assert response.json()["missing"] == ["zebra"]
    assert response.json()["problems"] == [
        "No pronunciation for “zebra”: the recordings with this word cannot be aligned without one. Add a line for "
        "it, or tick “Align without these words” to leave those recordings out."]

    response = client.post(url, {"dictionary": "pony P AO1 N IY0\n", "skip_missing": True},
                           content_type="application/json")
    assert response.status_code == 200, response.content
    assert (response.json()["stage"], response.json()["skipped_words"]) == ("realigning", ["zebra"])
    review_run.refresh_from_db()
    assert review_run.dictionary == "pony P AO N IY\n"
    assert_error(client.post(url, {"dictionary": "pony P OW N IY\n"}, content_type="application/json"), 409,
                 "not_in_review", "This run is not waiting for a review. It is aligning again with your pronunciations.",
                 operation_of=("post", "api-run-review"))


def test_skip_aligns_again_without_any_unknown_word(review_run):
    client = api(token_for(review_run.project.owner))
    response = client.post(_run_url("api-run-review", review_run), {"skip": "yes"}, content_type="application/json")
    assert_error(response, 400, "parse_error", "Send `skip` as true or false.")
    response = client.post(_run_url("api-run-review", review_run), {"skip": True}, content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["skipped_words"] == ["pony", "zebra"]


def test_a_dictionary_over_the_review_limit_is_refused_as_the_page_refuses_it(review_run, settings):
    settings.REVIEW_MAX_DICTIONARY_BYTES = 20
    response = api(token_for(review_run.project.owner)).post(
        _run_url("api-run-review", review_run), {"dictionary": "pony P OW N IY\nzebra Z IY B R AH\n"},
        content_type="application/json")
    assert_error(response, 413, "dictionary_too_large", "The dictionary is larger than 20 bytes; keep only the lines "
                 "for the words of this run (the aligner already knows all other words). Nothing was aligned yet.",
                 operation_of=("post", "api-run-review"))


def test_a_run_that_does_not_wait_for_a_review_has_none_to_show(alice):
    project, run = confident_result(alice)
    response = api(token_for(alice)).get(_run_url("api-run-review", run))
    assert_error(response, 409, "not_in_review", "This run is not waiting for a review. It is done.",
                 operation_of=("get", "api-run-review"))


def test_cancel_stops_a_run_waiting_for_review_and_refuses_one_that_ended(review_run, alice_client):
    client = api(token_for(review_run.project.owner))
    response = client.post(_run_url("api-run-cancel", review_run))
    assert response.status_code == 200, response.content
    assert response.json()["stage"] == "cancelled"
    assert {o["recording"]: o["status"] for o in response.json()["outcomes"]} == {
        "a.wav": "not_aligned", "b.wav": "not_aligned", "c.wav": "aligned"}
    response = client.post(_run_url("api-run-cancel", review_run))
    assert_error(response, 409, "not_cancellable", "This run has already ended (cancelled); there is nothing to "
                 "cancel.", operation_of=("post", "api-run-cancel"))
    # The page says the same.
    response = alice_client.post_form(reverse("pipelines-cancel-run", args=[review_run.project_id, review_run.pk]), {},
                                      form_url=reverse("accounts-password-change"))
    messages = [str(m) for m in alice_client.get(response["Location"]).context["messages"]]
    assert messages == ["This run has already ended (cancelled); there is nothing to cancel."]


def test_a_dictionary_with_a_null_character_is_refused_with_the_pages_message(review_run):
    client = api(token_for(review_run.project.owner))

    response = client.post(_run_url("api-run-review", review_run), {"dictionary": "pony P OW N IY\x00\n"},
                           content_type="application/json")

    assert_error(response, 400, "dictionary_refused")
    assert response.json()["problems"][0] == "Null characters are not allowed."
    assert response.json()["detail"].startswith("Null characters are not allowed.")
