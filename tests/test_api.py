"""The API (/api/v1/, the `api` app) through the test client: the schema, who may call what (every
endpoint × owner, another user, anonymous, a revoked token, an expired token), errors as {code, detail}
with the codes the schema lists, projects through the pages' forms. Uploads: test_api_uploads.py."""

import functools
import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import reverse
from openapi_spec_validator import validate

from api.errors import documented_codes
from api.models import Token
from pipelines import results, versions
from pipelines.models import Run
from scripts.models import ChoiceParameter, IntegerParameter, ParameterChoice, Process
from tests.factories import make_fa_pipeline, make_project, wav_bytes
from tests.test_confidence_pages import confident_grid
from tests.test_outcomes import entry, fa_process, finish, report
from upload.models import Project
from upload.services import Upload

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_throttle():
    # The throttle counts in the cache, which outlives a test; users of different tests may share an id.
    cache.clear()
    yield
    cache.clear()


def token_for(user, name="script", **kwargs):
    token, key = Token.objects.create(user=user, name=name, **kwargs)
    return key


def api(key=None):
    """A client as a script is one: no session, the token in the header."""
    return Client(HTTP_AUTHORIZATION=f"Token {key}") if key else Client()


def call(client, method, url, data=None, **kwargs):
    if method in ("post", "patch", "put") and not isinstance(data, dict | type(None)) or kwargs.pop("multipart", False):
        return getattr(client, method)(url, data, **kwargs)
    if method in ("post", "patch", "put"):
        return getattr(client, method)(url, json.dumps(data or {}), content_type="application/json", **kwargs)
    return getattr(client, method)(url, **kwargs)


@functools.cache
def schema_json():
    return api().get(reverse("api-schema")).json()


def operation(method, url_name):
    path = "/api/v1/" + PATHS[url_name]
    return schema_json()["paths"][path][method]


def assert_error(response, status, code, detail=None, *, operation_of=None):
    """An error answer: its status, {code, detail}, and the code listed by the operation in the schema."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code, body
    if detail is not None:
        assert body["detail"] == detail
    for leak in ("Traceback", "Error:", "Exception", str(settings.BASE_DIR), "site-packages"):
        assert leak not in body["detail"], body
    if operation_of:
        assert code in documented_codes(operation(*operation_of)), (code, operation_of)


# Schema


PATHS = {
    "api-me": "me/",
    "api-pipeline-list": "pipelines/",
    "api-project-list": "projects/",
    "api-project-detail": "projects/{project_id}/",
    "api-file-list": "projects/{project_id}/files/",
    "api-file-detail": "projects/{project_id}/files/{file_id}/",
    "api-download-file": "projects/{project_id}/files/{file_id}/download/",
    "api-run-list": "projects/{project_id}/runs/",
    "api-run-detail": "projects/{project_id}/runs/{run_id}/",
    "api-run-review": "projects/{project_id}/runs/{run_id}/review/",
    "api-run-cancel": "projects/{project_id}/runs/{run_id}/cancel/",
    "api-result-list": "projects/{project_id}/runs/{run_id}/results/",
    "api-result": "projects/{project_id}/runs/{run_id}/results/{name}/",
    "api-results-zip": "projects/{project_id}/runs/{run_id}/results.zip",
    "api-result-versions": "projects/{project_id}/runs/{run_id}/results/{name}/versions/",
    "api-result-version": "projects/{project_id}/runs/{run_id}/results/{name}/versions/{number}/",
}
# (method, URL name, what a call of the owner answers); another user gets 404 for the objects of a project.
ENDPOINTS = [
    ("get", "api-me", 200),
    ("patch", "api-me", 200),
    ("get", "api-pipeline-list", 200),
    ("get", "api-project-list", 200),
    ("post", "api-project-list", 201),
    ("get", "api-project-detail", 200),
    ("patch", "api-project-detail", 200),
    ("delete", "api-project-detail", 200),
    ("get", "api-file-list", 200),
    ("post", "api-file-list", 201),
    ("get", "api-file-detail", 200),
    ("delete", "api-file-detail", 204),
    ("get", "api-download-file", 200),
    ("get", "api-run-list", 200),
    ("post", "api-run-list", 201),
    ("get", "api-run-detail", 200),
    ("get", "api-run-review", 200),
    ("post", "api-run-review", 200),
    ("post", "api-run-cancel", 200),
    ("get", "api-result-list", 200),
    ("get", "api-result", 200),
    ("get", "api-results-zip", 200),
    ("get", "api-result-versions", 200),
    ("get", "api-result-version", 200),
    ("put", "api-result-version", 201),
]


def test_the_schema_is_valid_openapi_3():
    schema = schema_json()
    validate(schema)
    assert schema["openapi"].startswith("3.")


def test_every_operation_of_the_schema_is_in_the_access_tests_and_lists_its_errors():
    operations = {(method, path) for path, ops in schema_json()["paths"].items() for method in ops}
    assert operations == {(method, "/api/v1/" + PATHS[name]) for method, name, _ in ENDPOINTS}
    for method, name, _ in ENDPOINTS:
        codes = documented_codes(operation(method, name))
        assert {"not_authenticated", "invalid_token", "token_expired", "throttled", "server_error"} <= codes


def test_the_schema_and_its_docs_page_need_no_login():
    assert api().get(reverse("api-schema"))["Content-Type"] == "application/vnd.oai.openapi+json"
    page = api().get(reverse("api-docs"))
    assert page.status_code == 200
    content = page.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in content
    assert "<script>" not in content and "<style>" not in content  # the Content-Security-Policy allows neither
    script = api().get(reverse("api-docs") + "?script=")
    assert script.status_code == 200 and reverse("api-schema") in script.content.decode()


# Who may call what


@pytest.fixture
def world(alice, bob):
    """Alice's project with a file and a finished run, and what each kind of caller sends."""
    project = make_project(alice)
    make_project(bob, name="Bob's", pipeline=project.pipeline)
    key = token_for(alice, "laptop")
    revoked = token_for(alice, "old")
    Token.objects.filter(name="old").delete()
    expired = token_for(alice, "short", expiry=timedelta(seconds=-1))
    response = api(key).post(reverse("api-file-list", args=[project.pk]),
                             {"files": [SimpleUploadedFile("a.txt", b"ten of clubs")]})
    assert response.status_code == 201, response.content
    process = fa_process(project, ["a"], {"a.TextGrid": confident_grid(2), "report.json": report(entry("a.wav"))})
    run = Run.objects.create(project=project, pipeline=project.pipeline, fa_process=process)
    finish(process)
    return {"project": project, "file": project.files.get(), "run": run, "owner": key, "other": token_for(bob),
            "anonymous": None, "revoked": revoked, "expired": expired}


def _request(world, method, name):
    project, f, run = world["project"], world["file"], world["run"]
    args = {"api-me": [], "api-pipeline-list": [], "api-project-list": [], "api-project-detail": [project.pk],
            "api-file-list": [project.pk], "api-run-list": [project.pk], "api-run-detail": [project.pk, run.pk],
            "api-run-review": [project.pk, run.pk], "api-run-cancel": [project.pk, run.pk],
            "api-result-list": [project.pk, run.pk], "api-result": [project.pk, run.pk, "a.TextGrid"],
            "api-result-versions": [project.pk, run.pk, "a.TextGrid"],
            "api-result-version": [project.pk, run.pk, "a.TextGrid", 1 if method == "put" else 0],
            "api-results-zip": [project.pk, run.pk]}.get(name, [project.pk, f.pk])
    url = reverse(name, args=args)
    if (method, name) == ("post", "api-project-list"):
        return url, {"name": "New", "pipeline": "English"}, False
    if (method, name) == ("patch", "api-me"):
        return url, {"notify_runs": False}, False
    if (method, name) == ("patch", "api-project-detail"):
        return url, {"name": "Renamed"}, False
    if (method, name) == ("post", "api-file-list"):
        return url, {"files": [SimpleUploadedFile("b.wav", wav_bytes())]}, True
    if (method, name) == ("put", "api-result-version"):  # version 0's tiers, each label in capitals
        Upload(project).add(SimpleUploadedFile("a.wav", wav_bytes(seconds=3)))
        tiers = versions.editor_tiers(results.result_path(run, "a.TextGrid"))["tiers"]
        return url, {"alignment": versions.alignment(run),
                     "tiers": [{"name": t["name"], "intervals": [{**i, "label": i["label"].upper()}
                                                                  for i in t["intervals"]]} for t in tiers]}, False
    if name in ("api-run-review", "api-run-cancel"):
        _waiting_for_review(run)
        if method == "post" and name == "api-run-review":
            return url, {"dictionary": "pony P OW N IY\n"}, False
    if (method, name) == ("post", "api-run-list"):
        Upload(project).add(SimpleUploadedFile("a.wav", wav_bytes()))  # a.txt's recording: ready to align
        return url, {}, False
    return url, None, False


def _waiting_for_review(run):
    """The run as the worker leaves it for the review: an unknown word and its proposal, a pipeline that takes a
    dictionary."""
    from scripts.models import InputTemplate

    pipeline = run.pipeline
    pipeline.fa_dictionary_input = InputTemplate.objects.get(profile__script=pipeline.fa_script,
                                                             template_id="dictionary")
    pipeline.save()
    Run.objects.filter(pk=run.pk).update(stage=Run.Stage.REVIEW, oov_words=["pony"], dictionary="pony P OW N IY\n",
                                         finished_at=None)


@pytest.mark.parametrize("method, name, ok", ENDPOINTS, ids=[f"{m} {n}" for m, n, _ in ENDPOINTS])
@pytest.mark.parametrize("caller", ["owner", "other", "anonymous", "revoked", "expired"])
def test_every_endpoint_answers_each_kind_of_caller(world, method, name, ok, caller):
    url, data, multipart = _request(world, method, name)
    before = (world["project"].files.count(), world["project"].runs.count())
    response = call(api(world[caller]), method, url, data, multipart=multipart)
    if caller == "owner":
        assert response.status_code == ok, response.content
    elif caller == "other":
        if name in ("api-pipeline-list", "api-project-list", "api-me"):
            assert response.status_code == ok
            assert "Austen" not in response.content.decode()  # alice's project is not among bob's
        else:
            assert_error(response, 404, "not_found", "Not found.", operation_of=(method, name))
    elif caller == "anonymous":
        assert_error(response, 401, "not_authenticated", "Authentication credentials were not provided.",
                     operation_of=(method, name))
        assert response["WWW-Authenticate"] == "Token"
    elif caller == "revoked":
        assert_error(response, 401, "invalid_token", operation_of=(method, name))
    else:
        assert_error(response, 401, "token_expired", operation_of=(method, name))
        assert response.json()["detail"].startswith("The token “short” expired on ")
    if caller != "owner":
        project = Project.objects.get(pk=world["project"].pk)  # nothing changed
        assert (project.name, project.files.count(), project.runs.count()) == ("Austen", *before)
        if name in ("api-run-review", "api-run-cancel"):
            assert Run.objects.get(pk=world["run"].pk).stage == Run.Stage.REVIEW
        assert project.owner.notify_runs is True


def test_a_token_in_the_query_string_or_a_form_field_is_not_taken(world):
    key = world["owner"]
    url = reverse("api-project-list")
    for query in ("token", "auth_token", "access_token", "key"):
        assert_error(api().get(f"{url}?{query}={key}"), 401, "not_authenticated")
    assert_error(api().post(url, {"token": key, "name": "x", "pipeline": "English"}), 401, "not_authenticated")


@pytest.mark.parametrize("header", ["Token", "Token a b", "Token caf\u00e9", "Token " + "f" * 200, "Bearer x"])
def test_a_malformed_token_header_is_refused_plainly(world, header):
    response = Client(HTTP_AUTHORIZATION=header).get(reverse("api-project-list"))
    assert response.status_code == 401
    assert response.json()["code"] in ("authentication_failed", "invalid_token")
    if not header.startswith("Token"):
        assert response.json()["detail"] == "The Authorization header must be “Token <key>”, not “Bearer …”."


def test_a_browser_session_behind_a_proxys_basic_authentication_still_works(world, alice_client):
    response = alice_client.get(reverse("api-project-list"), HTTP_AUTHORIZATION="Basic eDp5")
    assert [p["name"] for p in response.json()] == ["Austen"]


def test_a_token_of_an_inactive_account_is_refused(world, alice):
    alice.is_active = False
    alice.save()
    assert_error(api(world["owner"]).get(reverse("api-project-list")), 401, "user_inactive", "This account is inactive.")


def test_a_token_notes_when_it_was_last_used(world):
    token = Token.objects.get(name="laptop")
    assert token.last_used_at is not None  # the upload of the fixture
    Token.objects.filter(pk=token.pk).update(last_used_at=None)
    api(world["owner"]).get(reverse("api-project-list"))
    assert Token.objects.get(pk=token.pk).last_used_at is not None


def test_the_browser_session_works_and_its_changes_need_the_csrf_token(world, alice_client):
    url = reverse("api-project-list")
    assert [p["name"] for p in alice_client.get(url).json()] == ["Austen"]
    response = alice_client.post(url, json.dumps({"name": "New", "pipeline": "English"}), content_type="application/json")
    assert_error(response, 403, "csrf_failed", operation_of=("post", "api-project-list"))
    assert "send the X-CSRFToken header with the value of the csrftoken cookie" in response.json()["detail"]
    token = alice_client.csrf_token(reverse("upload-project-list"))
    response = alice_client.post(url, json.dumps({"name": "New", "pipeline": "English"}),
                                 content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201


def test_calls_are_throttled_per_user(world, settings):
    settings.API_THROTTLE_RATE = "3/minute"
    cache.clear()  # the fixture's upload counted
    for _ in range(3):
        assert api(world["owner"]).get(reverse("api-project-list")).status_code == 200
    response = api(world["owner"]).get(reverse("api-project-list"))
    assert_error(response, 429, "throttled", operation_of=("get", "api-project-list"))
    assert int(response["Retry-After"]) > 0
    assert api(world["other"]).get(reverse("api-project-list")).status_code == 200  # another user has their own count


def test_refused_tokens_from_one_address_are_throttled_and_valid_ones_still_pass(world, settings):
    settings.API_FAILED_TOKEN_RATE = "3/minute"
    url = reverse("api-project-list")
    for key in (world["revoked"], world["expired"], "0" * 64):
        assert api(key).get(url).status_code == 401
    response = api("1" * 64).get(url)
    assert_error(response, 429, "throttled", operation_of=("get", "api-project-list"))
    wait = int(response["Retry-After"])
    assert 0 < wait <= 60
    assert response.json()["detail"] == (
        "Too many requests with a token that is not valid came from your address; wait before trying again, and check "
        f"the token (it may have been revoked or have expired). Expected available in {wait} seconds.")
    # A valid token from that address is not refused; nor are calls from another one, or in a browser's session.
    assert api(world["owner"]).get(url).status_code == 200
    assert api(world["expired"]).get(url).status_code == 429
    assert api(world["owner"]).get(url, REMOTE_ADDR="127.0.0.2").status_code == 200
    assert api("1" * 64).get(url, HTTP_X_FORWARDED_FOR="10.9.8.7").status_code == 429  # not a new address
    session = Client()
    session.force_login(world["project"].owner)
    assert session.get(url).status_code == 200


def test_calls_without_a_token_are_throttled_per_address_whatever_x_forwarded_for_they_send(settings):
    settings.API_THROTTLE_RATE = "3/minute"
    url = reverse("api-schema")  # open to anyone
    for n in range(3):
        assert api().get(url, HTTP_X_FORWARDED_FOR=f"10.0.0.{n}").status_code == 200
    response = api().get(url, HTTP_X_FORWARDED_FOR="10.0.0.99")  # a forged address: not a fresh allowance
    assert_error(response, 429, "throttled")
    assert api().get(url, REMOTE_ADDR="127.0.0.2").status_code == 200  # another caller has their own


def behind_proxy(settings, count=1):
    """Settings as equestria/settings.py makes them of AXES_PROXY_COUNT=<count> (tests/test_settings.py starts
    Django with it)."""
    settings.AXES_IPWARE_PROXY_COUNT = count - 1
    settings.AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]


def test_behind_one_proxy_each_caller_has_their_own_allowance_and_a_forged_entry_does_not_win(settings):
    behind_proxy(settings)
    settings.API_THROTTLE_RATE = "1/minute"
    url = reverse("api-schema")  # open to anyone

    # Every call comes from the proxy on loopback (the test client's REMOTE_ADDR, 127.0.0.1), which adds the address
    # it was called from after whatever X-Forwarded-For the caller sent (nginx's $proxy_add_x_forwarded_for).
    def via_proxy(caller, sent=None):
        return api().get(url, HTTP_X_FORWARDED_FOR=f"{sent}, {caller}" if sent else caller)

    assert via_proxy("198.51.100.1").status_code == 200
    assert_error(via_proxy("198.51.100.1"), 429, "throttled")
    assert via_proxy("198.51.100.2").status_code == 200  # another caller behind the same proxy
    assert_error(via_proxy("198.51.100.1", sent="203.0.113.9"), 429, "throttled")  # a forged address: no allowance
    assert via_proxy("198.51.100.3", sent="198.51.100.1").status_code == 200  # nor another caller's count


# Errors outside the resources


def test_an_unknown_url_under_the_api_is_a_json_404_that_notes_a_missing_slash(world):
    assert_error(api(world["owner"]).get("/api/v1/nothing/"), 404, "not_found", "No such URL: /api/v1/nothing/.")
    assert_error(api(world["owner"]).get("/api/v1/projects"), 404, "not_found",
                 "No such URL: /api/v1/projects. The API's URLs end with a slash: /api/v1/projects/")
    assert_error(api(world["owner"]).get("/api/v1/projects/not-a-uuid/"), 404, "not_found")


def test_a_method_an_endpoint_does_not_take_is_405(world):
    response = api(world["owner"]).put(reverse("api-project-list"), "{}", content_type="application/json")
    assert_error(response, 405, "method_not_allowed", 'Method "PUT" not allowed.')


def test_an_unexpected_error_is_a_json_500_without_its_detail(world, monkeypatch, caplog):
    # A bug cannot be made to happen for real: a function the view calls fails as one would.
    def fail(*args, **kwargs):
        raise RuntimeError("/work/secret/path failed")

    monkeypatch.setattr("api.views.readiness", fail)
    response = api(world["owner"]).get(reverse("api-file-list", args=[world["project"].pk]))
    assert_error(response, 500, "server_error", "An error on the server stopped this request; it is logged for the "
                 "administrators. Try it again later.", operation_of=("get", "api-file-list"))
    assert "/work/secret/path failed" in caplog.text


def test_a_json_body_over_the_limit_is_refused_before_it_is_read(world, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = api(world["owner"]).post(reverse("api-project-list"), json.dumps({"name": "x" * 200, "pipeline": "English"}),
                                        content_type="application/json")
    assert_error(response, 413, "request_too_large", operation_of=("post", "api-project-list"))


# Pipelines


def test_pipelines_say_what_files_they_take_and_what_a_researcher_may_set(alice):
    pipeline = make_fa_pipeline(tiered=True)
    script = pipeline.fa_script
    IntegerParameter.objects.create(script=script, clam_id="max_minutes", name="Longest recording (minutes)",
                                    type="integer", default=30, minimum=1, maximum=120)
    IntegerParameter.objects.create(script=script, clam_id="beam", name="Beam", type="integer", preset=True, value=9)
    choice = ChoiceParameter.objects.create(script=script, clam_id="tiers", name="Tiers", type="choice", multi=True,
                                            default="w")
    for order, choice_id in enumerate(("w", "p")):
        ParameterChoice.objects.create(parameter=choice, choice_id=choice_id, label=choice_id.upper(), order=order)
    [described] = api(token_for(alice)).get(reverse("api-pipeline-list")).json()
    assert (described["name"], described["kind"], described["language"], described["approximate"]) == (
        "English", "alignment", "en-us", False)
    assert [(i["extension"], i["kind"]) for i in described["inputs"]] == [
        ("dict", "dictionary"), ("eaf", "transcript"), ("flac", "audio"), ("TextGrid", "transcript"),
        ("txt", "transcript"), ("wav", "audio")]
    assert described["parameters"] == [  # the preset one is the administrator's, not offered
        {"id": "max_minutes", "name": "Longest recording (minutes)", "description": "", "type": "integer",
         "default": 30, "choices": None, "multiple": None, "minimum": 1.0, "maximum": 120.0, "max_length": None},
        {"id": "tiers", "name": "Tiers", "description": "", "type": "choice", "default": ["w"],
         "choices": [{"id": "w", "label": "W"}, {"id": "p", "label": "P"}], "multiple": True, "minimum": None,
         "maximum": None, "max_length": None},
    ]


# Projects


def test_create_rename_and_delete_a_project_as_the_pages_do(alice):
    make_fa_pipeline()
    client = api(token_for(alice))
    response = call(client, "post", reverse("api-project-list"), {"name": " Interviews ", "pipeline": "English"})
    assert response.status_code == 201
    created = response.json()
    assert (created["name"], created["pipeline"], created["state"], created["file_count"]) == (
        "Interviews", "English", "empty", 0)
    assert created["readiness"] == {"ready": False, "pairs": 0, "missing": ["Recording (.wav or .flac)",
                                    "Transcript (UTF-8 text, .txt)"], "unpaired": [], "warnings": []}
    assert created["page"] == f"http://testserver/projects/{created['id']}/"
    url = reverse("api-project-detail", args=[created["id"]])
    assert call(client, "patch", url, {"name": "Interviews 2024"}).json()["name"] == "Interviews 2024"
    response = client.delete(url)
    assert response.json() == {"detail": "Project “Interviews 2024” and its 0 file(s) were deleted.", "files": 0,
                               "stopped": 0}
    assert not Project.objects.exists()


@pytest.mark.parametrize("data, code, detail", [
    ({"name": "AUSTEN", "pipeline": "English"}, "duplicate_name", "Name: You already have a project with this name."),
    ({"pipeline": "English"}, "required", "Name: This field is required."),
    ({"name": "x" * 101, "pipeline": "English"}, "max_length",
     "Name: Ensure this value has at most 100 characters (it has 101)."),
    ({"name": "New", "pipeline": "Klingon"}, "invalid_choice",
     "Pipeline: Select a valid choice. That choice is not one of the available choices."),
    # A form's code without one of the API's own (Django's "null_characters_not_allowed"): "invalid", its message.
    ({"name": "x\u0000y", "pipeline": "English"}, "invalid", "Name: Null characters are not allowed."),
])
def test_a_project_the_form_refuses_is_refused_with_the_forms_message(alice, data, code, detail):
    make_project(alice)
    response = call(api(token_for(alice)), "post", reverse("api-project-list"), data)
    assert_error(response, 400, code, detail, operation_of=("post", "api-project-list"))
    assert response.json()["fields"][next(iter(response.json()["fields"]))][0]["code"] == code


def test_a_rename_to_a_name_in_use_is_refused(alice):
    project = make_project(alice)
    make_project(alice, name="Other", pipeline=project.pipeline)
    response = call(api(token_for(alice)), "patch", reverse("api-project-detail", args=[project.pk]), {"name": "other"})
    assert_error(response, 400, "duplicate_name", "Name: You already have a project with this name.",
                 operation_of=("patch", "api-project-detail"))


@pytest.mark.parametrize("name", [["a", "b"], {"x": 1}, 7, None])
def test_a_name_that_is_not_a_string_is_refused_not_stored_as_python_text(alice, name):
    make_fa_pipeline()
    response = call(api(token_for(alice)), "post", reverse("api-project-list"), {"name": name, "pipeline": "English"})
    assert_error(response, 400, "invalid", 'Name: send it as a string of text, e.g. {"name": "Interviews"}.',
                 operation_of=("post", "api-project-list"))
    assert not Project.objects.exists()


def test_a_rename_sent_as_a_multipart_form_is_refused_before_it_is_parsed(alice, settings):
    project = make_project(alice)
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    files = [SimpleUploadedFile(f"t{n}.txt", b"ten of clubs") for n in range(3)]
    client = api(token_for(alice))
    response = client.patch(reverse("api-project-detail", args=[project.pk]),
                            encode_multipart(BOUNDARY, {"files": files, "name": "x"}),
                            content_type=MULTIPART_CONTENT)
    assert_error(response, 415, "unsupported_media_type", operation_of=("patch", "api-project-detail"))
    project.refresh_from_db()
    assert project.name != "x"


@pytest.mark.parametrize("body", ["not json", "[1, 2]"])
def test_a_body_that_is_not_a_json_object_is_refused(alice, body):
    make_fa_pipeline()
    response = api(token_for(alice)).post(reverse("api-project-list"), body, content_type="application/json")
    assert_error(response, 400, "parse_error", operation_of=("post", "api-project-list"))


def test_a_pipeline_that_cannot_run_is_neither_listed_nor_taken(alice):
    from tests.test_pipeline_offering import never_imported_pipeline

    make_fa_pipeline()
    never_imported_pipeline()
    client = api(token_for(alice))
    assert [p["name"] for p in client.get(reverse("api-pipeline-list")).json()] == ["English"]
    response = call(client, "post", reverse("api-project-list"), {"name": "x", "pipeline": "Broken"})
    assert_error(response, 400, "invalid_choice")


def test_without_pipelines_a_project_cannot_be_created(alice):
    from tests.test_pipeline_offering import never_imported_pipeline

    never_imported_pipeline()  # not offered: as if there were none
    response = call(api(token_for(alice)), "post", reverse("api-project-list"), {"name": "x", "pipeline": "English"})
    assert_error(response, 409, "no_pipelines", "No pipelines are set up on this server yet, so there is nothing to "
                 "align with. Ask your administrator to define one (Admin → Pipelines).",
                 operation_of=("post", "api-project-list"))


def test_the_project_list_shows_state_counts_and_sizes_in_a_few_queries(alice, django_assert_max_num_queries):
    project = make_project(alice)
    key = token_for(alice)
    api(key).post(reverse("api-file-list", args=[project.pk]),
                  {"files": [SimpleUploadedFile("a.txt", b"ten of clubs"), SimpleUploadedFile("a.wav", wav_bytes())]})
    for name in ("Empty", "Running"):
        make_project(alice, name=name, pipeline=project.pipeline)
    _running(Project.objects.get(name="Running"))
    # Queries: the token, projects, their pipelines with what Pipeline.problems() reads, their files, their runs,
    # the FA scripts' profiles, templates and parameters: 8, however many projects there are.
    with django_assert_max_num_queries(8):
        listed = api(key).get(reverse("api-project-list")).json()
    assert sorted((p["name"], p["state"], p["file_count"]) for p in listed) == [
        ("Austen", "ready to align", 2), ("Empty", "empty", 0), ("Running", "aligning", 0)]
    assert next(p for p in listed if p["name"] == "Austen")["size"] == project.files.get(name="a.wav").size + 12


def _running(project):
    process = Process.objects.create(script=project.pipeline.fa_script, output_folder=f"{project.folder}/runs/x/fa")
    return Run.objects.create(project=project, pipeline=project.pipeline, stage=Run.Stage.ALIGNING, fa_process=process)


def test_a_project_whose_alignment_runs_says_so_and_keeps_its_files(world):
    _running(world["project"])
    client = api(world["owner"])
    detail = client.get(reverse("api-project-detail", args=[world["project"].pk])).json()
    busy = "An alignment of this project is running; files cannot be added or deleted until it ends (or is cancelled)."
    assert (detail["state"], detail["busy"]) == ("aligning", busy)
    response = client.delete(reverse("api-file-detail", args=[world["project"].pk, world["file"].pk]))
    assert_error(response, 409, "project_busy", f"a.txt was not deleted. {busy}", operation_of=("delete", "api-file-detail"))
    response = client.post(reverse("api-file-list", args=[world["project"].pk]),
                           {"files": [SimpleUploadedFile("b.txt", b"two")]})
    assert_error(response, 409, "project_busy", f"Nothing was added. {busy}", operation_of=("post", "api-file-list"))
    response = client.delete(reverse("api-project-detail", args=[world["project"].pk]))
    assert response.json()["detail"] == ("Project “Austen” and its 1 file(s) were deleted. Its running alignment was "
                                         "stopped, and its results were deleted too.")


# Files


def test_files_are_listed_with_kind_duration_rate_and_pairing_and_downloaded_as_uploaded(world):
    client = api(world["owner"])
    project = world["project"]
    wav = wav_bytes(1.5, rate=22050)
    client.post(reverse("api-file-list", args=[project.pk]), {"files": [SimpleUploadedFile("a.wav", wav),
                                                                       SimpleUploadedFile("b.wav", wav)]})
    files = {f["name"]: f for f in client.get(reverse("api-file-list", args=[project.pk])).json()}
    a = files["a.wav"]
    assert (a["kind"], a["template"], a["duration"], a["sample_rate"], a["channels"], a["size"]) == (
        "audio", "audio", 1.5, 22050, 1, len(wav))
    assert a["pairing"] == {"paired": True, "badge": "with a.txt", "message": ""}
    assert files["b.wav"]["pairing"] == {"paired": False, "badge": "no transcript", "message": ""}
    assert files["a.txt"]["kind"] == "transcript" and files["a.txt"]["duration"] is None
    one = client.get(reverse("api-file-detail", args=[project.pk, a["id"]])).json()
    assert one == a
    response = client.get(a["download"], HTTP_ACCEPT="application/octet-stream")
    assert response.status_code == 200 and b"".join(response.streaming_content) == wav
    assert response["Content-Disposition"] == 'attachment; filename="a.wav"'
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    detail = client.get(reverse("api-project-detail", args=[project.pk])).json()
    assert detail["readiness"]["unpaired"] == [
        {"names": ["b.wav"], "badge": "no transcript", "message": "b.wav has no transcript: add b.txt."}]
    assert client.delete(reverse("api-file-detail", args=[project.pk, files["b.wav"]["id"]])).status_code == 204
    assert sorted(project.files.values_list("name", flat=True)) == ["a.txt", "a.wav"]
    assert client.get(reverse("api-project-detail", args=[project.pk])).json()["readiness"]["ready"] is True


def test_a_project_whose_pipeline_needs_repair_says_so_as_the_pages_do(world):
    from scripts.models import Pipeline, Script

    # The aligner's files are as they were; a G2P script added to the pipeline was never imported.
    Pipeline.objects.filter(pk=world["project"].pipeline.pk).update(
        g2p_script=Script.objects.create(name="G2P", url="http://127.0.0.1:9/"))
    client = api(world["owner"])
    assert client.get(reverse("api-project-detail", args=[world["project"].pk])).json()["state"] == \
        "pipeline needs repair"
    assert [p["state"] for p in client.get(reverse("api-project-list")).json()] == ["pipeline needs repair"]


def test_a_pipeline_lists_its_fixed_file_names_as_the_upload_page_does(alice):
    from scripts.models import InputTemplate

    pipeline = make_fa_pipeline()
    profile = pipeline.fa_script.profiles.get()
    for order, (template_id, extension, filename) in enumerate(
            [("xml", "xml", ""), ("notes", "", "notes.md"), ("config", "ini", "setup.ini")], start=10):
        InputTemplate.objects.create(profile=profile, template_id=template_id, format="PlainTextFormat", label=template_id,
                                     mimetype="text/plain", extension=extension, filename=filename, optional=True,
                                     unique=False, order=order)
    [described] = api(token_for(alice)).get(reverse("api-pipeline-list")).json()
    # The upload page's "Accepted: notes.md (fixed name), setup.ini (fixed name), .dict, .flac, .txt, .wav, .xml".
    assert [(i["filename"], i["extension"], i["kind"]) for i in described["inputs"]] == [
        ("notes.md", "md", "transcript"), ("setup.ini", "ini", "transcript"), (None, "dict", "dictionary"),
        (None, "flac", "audio"), (None, "txt", "transcript"), (None, "wav", "audio"), (None, "xml", "transcript")]
