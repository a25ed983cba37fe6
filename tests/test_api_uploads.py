"""Uploads through the API give what the upload page gives: the cases of the page's own tests
(tests/test_upload.py), sent to both, get the same messages, the same files kept, the same limits."""

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from api.models import Token
from tests import test_upload
from tests.conftest import CsrfClient
from tests.factories import make_project
from tests.helpers import DATA
from tests.test_api import api, assert_error
from tests.test_upload import make_zip, messages_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()


def cases_of(test):
    """The parametrized cases of one of the page's tests."""
    [mark] = [m for m in test.pytestmark if m.name == "parametrize"]
    return mark.args[1]


@pytest.fixture
def two(alice):
    """A project for the page and one for the API, on one pipeline, and a client for each."""
    page_project = make_project(alice, name="Page")
    api_project = make_project(alice, name="API", pipeline=page_project.pipeline)
    page = CsrfClient()
    page.force_login(alice)
    _, key = Token.objects.create(user=alice, name="t")
    return page_project, api_project, page, api(key)


def both(two, *files, replace=False):
    """Upload the same files on the page and through the API: (the page's messages, the API's answer)."""
    page_project, api_project, page, client = two
    response = test_upload.upload(page, page_project, *files, replace=replace)
    data = {"files": [SimpleUploadedFile(name, content) for name, content in files]}
    if replace:
        data["replace"] = "true"
    return messages_of(response), client.post(reverse("api-file-list", args=[api_project.pk]), data)


def names(project):
    return sorted(project.files.values_list("name", flat=True))


@pytest.mark.parametrize("name, content, message", cases_of(test_upload.test_bad_files_are_refused_with_the_reason_and_others_still_saved))
def test_a_bad_file_is_refused_with_the_pages_message_and_the_others_kept(two, name, content, message):
    messages, response = both(two, (name, content), ("cards-001.txt", (DATA / "cards-001.txt").read_bytes()))
    assert response.status_code == 201, response.content
    body = response.json()
    assert [f["name"] for f in body["added"]] == ["cards-001.txt"]
    [refused] = body["refused"]
    assert refused["code"] == "file_refused" and message in refused["detail"]
    assert refused["detail"] in messages  # word for word what the page says
    assert names(two[0]) == names(two[1]) == ["cards-001.txt"]


@pytest.mark.parametrize("entries, symlink, message", cases_of(test_upload.test_a_zip_that_breaks_a_rule_is_refused_whole))
def test_a_zip_that_breaks_a_rule_is_refused_whole_with_the_pages_message(two, entries, symlink, message):
    messages, response = both(two, ("bad.zip", make_zip(entries, symlink)))
    assert_error(response, 400, "files_refused", operation_of=("post", "api-file-list"))
    body = response.json()
    assert message in body["detail"] and body["detail"] in messages
    assert body["refused"] == [{"name": "bad.zip", "code": "file_refused", "detail": body["detail"]}]
    assert names(two[0]) == names(two[1]) == []


def test_a_zip_of_pairs_is_unpacked_with_the_same_notes(two):
    archive = make_zip([("corpus/cards-001.wav", (DATA / "cards-001.wav").read_bytes()),
                        ("corpus/cards-001.txt", b"ten of clubs"), ("__MACOSX/corpus/._cards-001.wav", b"junk")])
    messages, response = both(two, ("corpus.zip", archive))
    body = response.json()
    assert response.status_code == 201
    assert sorted(f["name"] for f in body["added"]) == ["cards-001.txt", "cards-001.wav"]
    assert body["notes"] == messages[1:] == [
        "corpus.zip: skipped 1 file that macOS or Windows add to archives, not recordings or texts "
        "(__MACOSX/, ._*, .DS_Store, Thumbs.db, desktop.ini)"]
    assert all(f["pairing"]["paired"] for f in body["added"])


def test_a_name_already_in_the_project_needs_replace(two):
    both(two, ("a.txt", b"one"))
    messages, response = both(two, ("a.txt", b"two"))
    assert_error(response, 400, "files_refused",
                 "a.txt: a file with this name is already in the project; tick “replace” to overwrite it")
    assert response.json()["detail"] in messages
    messages, response = both(two, ("a.txt", b"two"), replace=True)
    assert response.status_code == 201
    assert two[1].files.get().file.read() == b"two"


def test_a_file_over_the_size_limit_is_not_received_and_says_so(two, settings):
    settings.UPLOAD_MAX_FILE_BYTES = 1000
    messages, response = both(two, ("big.txt", b"a" * 1001), ("ok.txt", b"b" * 1000))
    assert response.status_code == 201
    refused = response.json()["refused"]
    assert refused == [{"name": "big.txt", "code": "file_too_large",
                        "detail": "big.txt: the file is larger than the limit of 1000 bytes"}]
    assert refused[0]["detail"] in messages
    settings.UPLOAD_MAX_PROJECT_BYTES = 1500
    messages, response = both(two, ("more.txt", b"c" * 600))
    assert_error(response, 400, "files_refused", "more.txt: the project would exceed its limit of 1.5 KB; delete files first")
    assert response.json()["detail"] in messages


def test_too_many_files_in_one_upload_are_refused_whole(two, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    messages, response = both(two, *((f"g{i}.txt", b"text") for i in range(4)))
    assert_error(response, 400, "too_many_files", operation_of=("post", "api-file-list"))
    assert response.json()["detail"] in messages
    assert "Nothing was added" in response.json()["detail"]
    assert names(two[1]) == []


def test_an_upload_without_files_says_what_to_send(two):
    _, _, _, client = two
    response = client.post(reverse("api-file-list", args=[two[1].pk]), {"replace": "true"})
    assert_error(response, 400, "no_files", "Choose one or more files to upload.", operation_of=("post", "api-file-list"))
    response = client.post(reverse("api-file-list", args=[two[1].pk]), "{}", content_type="application/json")
    assert_error(response, 400, "no_files")


def test_odd_names_are_cleaned_as_on_the_page(two):
    for raw, stored in cases_of(test_upload.test_hostile_names_are_cleaned)[:6]:
        messages, response = both(two, (raw, b"words"))
        added = [f["name"] for f in response.json().get("added", [])]
        assert added == ([stored] if stored else []), (raw, response.json())
        assert names(two[0]) == names(two[1])


@pytest.mark.parametrize("content_type, body", [
    ("multipart/form-data", b"garbage"),
    ("multipart/form-data; boundary=", b"garbage"),
])
def test_a_multipart_body_that_cannot_be_parsed_is_a_json_error(two, content_type, body):
    response = two[3].generic("POST", reverse("api-file-list", args=[two[1].pk]), body, content_type=content_type)
    assert_error(response, 400, "parse_error", operation_of=("post", "api-file-list"))
    assert response.json()["detail"].startswith("The multipart body cannot be read (")


def test_an_upload_leaves_no_temporary_file(two, settings, tmp_path):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "uploads")
    big = b"words " * (settings.FILE_UPLOAD_MAX_MEMORY_SIZE // 5)  # streamed to a temporary file, as on the page
    response = two[3].post(reverse("api-file-list", args=[two[1].pk]),
                           {"files": [SimpleUploadedFile("big.dict", big), SimpleUploadedFile("bad.wav", big)]})
    assert response.status_code == 201
    assert [f["name"] for f in response.json()["added"]] == ["big.dict"]
    assert list((tmp_path / "uploads").iterdir()) == []
