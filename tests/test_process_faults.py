"""A CLAM look-alike that misbehaves after the job: bad output names, endless or cut outputs, garbage, silence."""

from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from scripts import runner
from scripts.models import Process, Script

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quick(settings):
    settings.PROCESS_MAX_ATTEMPTS = 3
    settings.CLAM_READ_TIMEOUT = 1
    settings.CLAM_MAX_OUTPUT_BYTES = 1024 * 1024
    settings.PROCESS_RETRY_MAX_SECONDS = 0  # no backoff wait in the test


def run(fault_server, scenario, **fields):
    script = Script.objects.create(name=scenario, url=f"{fault_server.url}fake/{scenario}/")
    name = default_storage.save("projects/f/files/in.txt", ContentFile(b"hello"))
    process = Process.objects.create(
        script=script, inputs=[{"storage_name": name, "name": "in.txt", "template": "text"}],
        output_folder=f"projects/f/runs/{scenario}", **fields,
    )
    delay = 0
    while delay is not None:
        delay = runner.advance(process.pk)
    process.refresh_from_db()
    return process, Path(default_storage.path(process.output_folder))


def no_partial_files(folder):
    return not list(folder.parent.glob("*.part-*"))


def test_output_names_with_paths_are_never_written_outside_the_run(fault_server, settings):
    process, folder = run(fault_server, "traversal")
    assert process.status == "done" and process.outputs == ["good.txt"]
    assert sorted(p.name for p in folder.iterdir()) == ["good.txt"]
    media = Path(settings.MEDIA_ROOT)
    assert not list(media.rglob("evil.txt")) and not Path("/abs.txt").exists()
    assert process.clam_project in fault_server.deleted


def test_a_download_after_a_killed_one_leaves_only_the_results_and_no_stale_error(fault_server):
    # As a worker killed mid-download leaves things: its temporary folder, and the error of a retry before.
    stale = Path(default_storage.path("projects/f/runs/traversal.part-deadbeef"))
    stale.mkdir(parents=True)
    (stale / "good.txt").write_text("half")
    # Another process's download in progress in the same folder: not touched.
    Path(default_storage.path("projects/f/runs/other.part-cafe")).mkdir(parents=True)
    process, folder = run(fault_server, "traversal", detail="cannot connect to the server (connection refused)")
    assert process.status == "done" and process.detail == ""
    assert sorted(p.name for p in folder.parent.iterdir()) == ["other.part-cafe", "traversal"]


def test_an_endless_output_is_stopped_at_the_byte_cap_and_nothing_is_kept(fault_server):
    process, folder = run(fault_server, "endless")
    assert process.status == "failed" and "larger than the limit of 1048576 bytes" in process.error
    assert not folder.exists() and no_partial_files(folder)
    assert process.clam_project in fault_server.deleted


def test_a_download_cut_off_half_way_is_retried_then_fails_without_partial_files(fault_server):
    process, folder = run(fault_server, "vanish")
    assert process.status == "failed" and process.error.startswith("gave up after 3 attempts")
    assert not folder.exists() and no_partial_files(folder)


def test_an_output_that_trickles_in_is_stopped_and_retried_without_partial_files(fault_server, settings):
    settings.CLAM_TOTAL_TIMEOUT = 1
    process, folder = run(fault_server, "trickle")
    assert process.status == "failed"
    assert process.error == (
        f"gave up after 3 attempts while downloading: {fault_server.url.rstrip('/')} sent the results too slowly "
        "(less than 17 MiB/s)"
    )
    assert not folder.exists() and no_partial_files(folder)


def test_a_proxy_error_page_instead_of_xml_fails_clearly(fault_server):
    process, _ = run(fault_server, "garbage")
    assert process.status == "failed" and "a page that is not CLAM's XML (a proxy error?)" in process.error
    assert process.clam_project in fault_server.deleted


def test_a_server_that_stops_answering_while_polled_times_out_and_fails(fault_server):
    process, _ = run(fault_server, "hang")
    assert process.status == "failed"
    assert process.error == f"gave up after 3 attempts while running: {fault_server.url.rstrip('/')} did not answer within 1 s"


def test_a_start_the_service_answers_with_500_is_given_up_after_two_attempts_naming_the_step(fault_server):
    process, _ = run(fault_server, "start500")
    assert process.status == "failed"
    assert process.error == (f"gave up after 2 attempts at starting the job: {fault_server.url.rstrip('/')} had an "
                             "internal error (HTTP 500); ask your administrator")
    assert process.clam_project in fault_server.deleted


def test_a_server_answering_500_is_retried_then_fails_with_the_reason(fault_server):
    process, _ = run(fault_server, "error500")
    assert process.status == "failed"
    assert process.error.startswith("gave up after 3 attempts") and "internal error (HTTP 500)" in process.error
    assert process.clam_project in fault_server.deleted
