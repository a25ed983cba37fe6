"""Deleting a project while its run is active, or at the same moment as a start or an upload.

Each ordering is made to happen deterministically: the test runs the delete (or the start) from
inside the other party, at the point where the race would otherwise land, and then lets that party
go on. The worker's steps are called directly, against the bundled forced-alignment service on
127.0.0.1. One test uses two threads with their own database connections; it runs on SQLite and, in
the PostgreSQL pass of bin/test, with PostgreSQL's row locks.
"""

import threading
import time
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

from pipelines import services as pipeline_services
from pipelines.models import RecordingOutcome, Run
from scripts import runner
from scripts.clam import ClamConnection, NotAClamService, ServerUnreachable
from scripts.models import Pipeline, Process
from tests.clamservers import register_script
from tests.helpers import DATA
from upload import services as upload_services
from upload.models import Project, ProjectFile
from upload.services import ProjectGone, Upload

pytestmark = pytest.mark.django_db(transaction=True)
GONE = "This project no longer exists: it was deleted."
BUSY = ("Nothing was added. An alignment of this project is running; files cannot be added or deleted until it "
        "ends (or is cancelled).")


@pytest.fixture
def fa_only(fa_service):
    """A pipeline of the bundled aligner alone: the recordings of these tests need no G2P."""
    return Pipeline.objects.create(name="English", language="en-us", fa_script=register_script(fa_service, "FA"))


def upload_file(stem, extension):
    return SimpleUploadedFile(f"{stem}.{extension}", (DATA / f"{stem}.{extension}").read_bytes())


@pytest.fixture
def project(alice, fa_only):
    project = Project.objects.create(owner=alice, name="cards", pipeline=fa_only)
    upload = Upload(project)
    upload.add(upload_file("cards-001", "wav"))
    upload.add(upload_file("cards-001", "txt"))
    assert all(o.saved for o in upload.outcomes), upload.outcomes
    return project


def folder_of(project_id):
    return Path(default_storage.path(f"projects/{project_id}"))


def remote_exists(process):
    try:
        ClamConnection.for_script(process.script).index_of(process.clam_project)
        return True
    except NotAClamService:
        return False


def work(process, until=lambda p: p.finished, limit=120):
    """Call the worker's step function as the task queue would, until `until` holds."""
    deadline = time.monotonic() + limit
    while True:
        process = Process.objects.select_related("script").get(pk=process.pk)
        if until(process):
            return process
        assert time.monotonic() < deadline, f"process stuck in {process.status}"
        delay = runner.advance(process.pk)
        if delay is None:
            continue
        time.sleep(min(delay, 0.2))


def delete(project_id):
    return upload_services.delete_project(Project.objects.get(pk=project_id))


def assert_all_gone(project_id, process):
    process.refresh_from_db()
    assert process.status == "cancelled" and process.error == "the project was deleted"
    assert runner.advance(process.pk) is None
    assert not remote_exists(process)
    assert not folder_of(project_id).exists()
    assert not Run.objects.exists() and not RecordingOutcome.objects.exists()
    assert not ProjectFile.objects.exists()


def test_deleting_a_project_stops_its_run_and_deletes_its_clam_project(project, alice_client):
    run = pipeline_services.start_alignment(project)
    process = work(run.fa_process, until=lambda p: p.status == "running")
    assert remote_exists(process)
    url = reverse("upload-delete-project", args=[project.pk])
    page = alice_client.get(url).content.decode()
    assert "An alignment of this project is running: deleting the project stops it, and its results are deleted " \
           "too." in page
    response = alice_client.post_form(url, {}, follow=True)
    assert "Project “cards” and its 2 file(s) were deleted. Its running alignment was stopped, and its results " \
           "were deleted too." in response.content.decode()
    assert_all_gone(project.pk, process)


def test_a_delete_while_the_worker_uploads_to_clam_leaves_nothing(project, monkeypatch):
    run = pipeline_services.start_alignment(project)
    real_request = ClamConnection.request

    def delete_before_the_job_starts(self, method, path, *args, **kwargs):
        if method == "POST" and path == f"{run.fa_process.clam_project}/" and Project.objects.exists():
            delete(project.pk)  # the inputs are on the service; the job is about to start
        return real_request(self, method, path, *args, **kwargs)

    monkeypatch.setattr(ClamConnection, "request", delete_before_the_job_starts)
    process = work(run.fa_process)
    assert_all_gone(project.pk, process)


def test_a_delete_while_the_worker_sends_the_inputs_leaves_no_clam_project(project, monkeypatch):
    run = pipeline_services.start_alignment(project)
    real_request = ClamConnection.request

    def delete_before_the_first_input(self, method, path, *args, **kwargs):
        if method == "POST" and "/input/" in path and Project.objects.exists():
            # The delete removes the CLAM project and the files; the worker's upload then makes the
            # project again on the service (CLAM creates one on any upload) and cannot read the next file.
            delete(project.pk)
        return real_request(self, method, path, *args, **kwargs)

    monkeypatch.setattr(ClamConnection, "request", delete_before_the_first_input)
    process = work(run.fa_process)
    assert_all_gone(project.pk, process)


def test_a_delete_while_the_worker_polls_a_finished_job_leaves_nothing(project, monkeypatch):
    run = pipeline_services.start_alignment(project)
    real_status = runner._status

    def delete_when_the_job_is_done(connection_, process):
        root, status = real_status(connection_, process)
        if status.get("code") == "2" and process.status == "running" and Project.objects.exists():
            delete(project.pk)  # the worker has just read "done" and goes on to record it
        return root, status

    monkeypatch.setattr(runner, "_status", delete_when_the_job_is_done)
    process = work(run.fa_process)
    assert_all_gone(project.pk, process)


def _failing_remote_deletes(monkeypatch):
    """The service does not answer the delete's own DELETE (a network blip; it cannot be made to happen
    for one request of a shared test service, hence simulated): then the worker must delete the CLAM project."""
    real_request = ClamConnection.request

    def request(self, method, path, *args, **kwargs):
        if method == "DELETE" and blip.is_set():
            raise ServerUnreachable("cannot connect to the server (connection refused)")
        return real_request(self, method, path, *args, **kwargs)

    blip = threading.Event()
    monkeypatch.setattr(ClamConnection, "request", request)
    return blip


def test_a_delete_during_the_download_removes_the_results_and_the_clam_project(project, monkeypatch):
    run = pipeline_services.start_alignment(project)
    process = work(run.fa_process, until=lambda p: p.status == "downloading")
    blip = _failing_remote_deletes(monkeypatch)
    real_open_result = runner._open_result

    def delete_while_downloading(path):
        if Project.objects.exists():
            blip.set()
            delete(project.pk)  # the worker goes on downloading into its temporary folder
            blip.clear()
        return real_open_result(path)

    monkeypatch.setattr(runner, "_open_result", delete_while_downloading)
    assert remote_exists(process)
    assert runner.advance(process.pk) is None, Process.objects.get(pk=process.pk).message
    assert_all_gone(project.pk, process)


def test_a_delete_just_before_the_results_are_renamed_into_place_leaves_nothing(project, monkeypatch):
    run = pipeline_services.start_alignment(project)
    process = work(run.fa_process, until=lambda p: p.status == "downloading")
    blip = _failing_remote_deletes(monkeypatch)
    real_rename = runner._rename_into_place

    def delete_before_the_rename(process_, temporary, final):
        if Project.objects.exists():
            assert (Path(temporary) / "cards-001.TextGrid").exists()
            blip.set()
            delete(project.pk)  # every output is in the temporary folder, which goes with the project's
            blip.clear()
        return real_rename(process_, temporary, final)

    monkeypatch.setattr(runner, "_rename_into_place", delete_before_the_rename)
    assert runner.advance(process.pk) is None
    assert_all_gone(project.pk, process)


def test_a_delete_just_after_the_results_were_renamed_into_place_removes_them(project, monkeypatch):
    run = pipeline_services.start_alignment(project)
    process = work(run.fa_process, until=lambda p: p.status == "downloading")
    real_finish = runner._finish

    def delete_before_the_finish(process_, status, **fields):
        if status == "done" and Project.objects.exists():
            assert (folder_of(project.pk) / "runs" / str(run.pk) / "fa" / "cards-001.TextGrid").exists()
            delete(project.pk)
        return real_finish(process_, status, **fields)

    monkeypatch.setattr(runner, "_finish", delete_before_the_finish)
    assert runner.advance(process.pk) is None
    assert_all_gone(project.pk, process)
    assert process.outputs == []  # the cancel came first; the late "done" changed nothing


def test_a_download_that_comes_after_the_delete_writes_nothing(project, monkeypatch):
    run = pipeline_services.start_alignment(project)
    process = work(run.fa_process, until=lambda p: p.status == "downloading")
    # As a worker that took the process just before the delete: it holds the row as it was then.
    stale = Process.objects.select_related("script").get(pk=process.pk)
    blip = _failing_remote_deletes(monkeypatch)
    blip.set()
    delete(project.pk)
    blip.clear()
    assert remote_exists(process)
    runner.step_download(stale)
    assert_all_gone(project.pk, process)
    assert not list(Path(default_storage.path("projects")).iterdir())


def test_an_upload_to_a_project_deleted_meanwhile_stores_nothing(project, alice_client, monkeypatch):
    real_check = upload_services.check_content

    def delete_during_the_check(path, name, kind, **options):
        if name == "cards-002.txt":
            delete(project.pk)  # the first file of the upload is already stored
        return real_check(path, name, kind, **options)

    monkeypatch.setattr(upload_services, "check_content", delete_during_the_check)
    url = reverse("upload-add-files", args=[project.pk])
    response = alice_client.post_form(url, {"files": [upload_file("cards-002", "wav"), upload_file("cards-002", "txt")]},
                                      form_url=project.get_absolute_url(), follow=True)
    assert response.redirect_chain[-1][0] == reverse("upload-project-list")
    assert GONE in response.content.decode()
    assert not ProjectFile.objects.exists()
    assert not folder_of(project.pk).exists()


def test_a_start_during_an_upload_sees_none_of_it_and_the_upload_is_refused_whole(project, alice_client, monkeypatch):
    real_check = upload_services.check_content
    runs = []

    def start_during_the_check(path, name, kind, **options):
        if name == "cards-002.txt":
            runs.append(pipeline_services.start_alignment(project, only_complete_pairs=True))
        return real_check(path, name, kind, **options)

    monkeypatch.setattr(upload_services, "check_content", start_during_the_check)
    url = reverse("upload-add-files", args=[project.pk])
    response = alice_client.post_form(url, {"files": [upload_file("cards-002", "wav"), upload_file("cards-002", "txt")]},
                                      form_url=project.get_absolute_url(), follow=True)
    assert BUSY in response.content.decode()
    [run] = runs
    assert sorted(i["name"] for i in run.fa_process.inputs) == ["cards-001.txt", "cards-001.wav"]
    assert not run.outcomes.exists()  # nothing was left out: the run never saw cards-002.wav
    assert sorted(project.files.values_list("name", flat=True)) == ["cards-001.txt", "cards-001.wav"]
    assert sorted(p.name for p in folder_of(project.pk).glob("files/*/*")) == ["cards-001.txt", "cards-001.wav"]
    runner.cancel(run.fa_process)


def at_once(monkeypatch, model, first, second):
    """Run `first` in a thread until it calls model.delete (a delete service has taken its locks by then),
    start `second` in another thread, then let `first` go on; each has its own database connection."""
    real_delete = model.delete
    locked, release = threading.Event(), threading.Event()

    def delete_slowly(self, *args, **kwargs):
        locked.set()
        assert release.wait(60)
        return real_delete(self, *args, **kwargs)

    monkeypatch.setattr(model, "delete", delete_slowly)
    results = {}

    def in_thread(name, function):
        try:
            results[name] = function()
        except Exception as exc:  # noqa: BLE001 - the test looks at what each side got
            results[name] = exc
        finally:
            connection.close()

    one = threading.Thread(target=in_thread, args=("first", first))
    one.start()
    assert locked.wait(60)
    two = threading.Thread(target=in_thread, args=("second", second))
    two.start()
    time.sleep(0.5)  # not an assertion: gives the second time to reach the lock and wait there
    release.set()
    one.join(60)
    two.join(60)
    return results["first"], results["second"]


def test_a_start_sent_with_a_delete_finds_the_project_gone(project, monkeypatch):
    deleted, started = at_once(monkeypatch, Project, lambda: delete(project.pk),
                               lambda: pipeline_services.start_alignment(project))
    assert deleted.files == 2
    assert isinstance(started, ProjectGone) and str(started) == GONE
    assert not Run.objects.exists() and not Process.objects.exists()
    assert not folder_of(project.pk).exists()


def test_a_start_sent_with_the_delete_of_a_file_does_not_align_the_deleted_file(project, alice_client, monkeypatch):
    transcript = project.files.get(name="cards-001.txt")
    url = reverse("upload-delete-file", args=[project.pk, transcript.pk])
    token = alice_client.csrf_token(project.get_absolute_url())
    response, started = at_once(monkeypatch, ProjectFile, lambda: alice_client.post(url, {"csrfmiddlewaretoken": token}),
                                lambda: pipeline_services.start_alignment(project))
    assert response.status_code == 302
    assert isinstance(started, pipeline_services.CannotStart)
    assert not Run.objects.exists() and not Process.objects.exists()


def test_a_clam_project_the_service_could_not_delete_at_once_is_deleted_later(project, monkeypatch):
    from background_task.models import Task

    from scripts.tasks import delete_clam_project

    run = pipeline_services.start_alignment(project)
    process = work(run.fa_process, until=lambda p: p.status == "running")
    blip = _failing_remote_deletes(monkeypatch)
    blip.set()
    delete(project.pk)  # the service is down at this moment: the researcher's audio is still on it
    assert remote_exists(process)
    queued = Task.objects.get(task_name="scripts.tasks.delete_clam_project")
    blip.clear()
    delete_clam_project.task_function(*queued.params()[0])  # what the worker runs when the task is due
    assert not remote_exists(process)
