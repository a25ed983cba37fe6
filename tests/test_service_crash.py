"""A CLAM service killed together with its running jobs (its whole process group, SIGKILL) and restarted.

CLAM then reports each lost job as done with errors, with the job's last status line ("working 1/10",
"Checking the input files") or "Done" as its message: the runner must recognise the lost job and start
it again, count it, and give up with a reason a person understands; and tell it from a job that really
failed, whose own reason stays. Real services on 127.0.0.1 (tests/clamconfigs/slow.py with CLAM's own
dispatcher, tests/clamconfigs/fast_fa.py with the bundled services' one), killed with os.killpg.
"""

import os
import signal
import time

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from scripts import runner
from scripts.clam import ClamConnection, NotAClamService
from scripts.models import Process, Script
from tests.clamservers import PASSWORD, USER, register_script, start_bundled_service
from tests.helpers import ROOT

pytestmark = pytest.mark.django_db(transaction=True)

SLOW = "tests.clamconfigs.slow"
FAST_FA = "tests.clamconfigs.fast_fa"
LOST = 'the service "{}" stopped while it was working on this run'


class Crashable:
    """A custom CLAM service in a process group of its own, which a test kills with its jobs and restarts."""

    def __init__(self, tmp_path, settings, env=None):
        self.tmp_path, self.settings = tmp_path, settings
        self.data = tmp_path  # the data folder it runs on now
        self.service = start_bundled_service("custom", tmp_path, settings=settings, env=env, own_group=True)
        self.port = int(self.service.url.rstrip("/").rsplit(":", 1)[1])
        self.earlier = set()  # projects left by earlier tests on a shared service

    @property
    def url(self):
        return self.service.url

    def kill_with_jobs(self):
        os.killpg(self.service.process.pid, signal.SIGKILL)
        self.service.process.wait(timeout=10)

    def restart(self, tmp_path=None, env=None):
        """Start the service again on its port, on the same data folder unless another is given."""
        self.data = tmp_path or self.tmp_path
        self.service = start_bundled_service(
            "custom", self.data, settings=self.settings, env=env, own_group=True, port=self.port
        )

    def stop(self):
        try:
            os.killpg(self.service.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.service.process.wait(timeout=10)

    def projects(self):
        """The project folders on the service that this test made, whoever CLAM filed them under."""
        return sorted(set(self._all_projects()) - self.earlier)

    def _all_projects(self):
        return [p.name for p in (self.tmp_path / "clam").glob("*/projects/*/*") if p.is_dir()]


@pytest.fixture(scope="module")
def _slow_service(tmp_path_factory):
    service = Crashable(tmp_path_factory.mktemp("slow"), SLOW)
    yield service
    service.stop()


@pytest.fixture
def slow_service(_slow_service):
    """The slow test service, shared by this module's tests (a start costs seconds): a test may kill and
    restart it; the next test finds it running on its own data folder again."""
    service = _slow_service
    service.earlier = set(service._all_projects())
    yield service
    if service.service.process.poll() is not None or service.data != service.tmp_path:
        service.stop()
        service.restart()


@pytest.fixture
def crashable(tmp_path):
    services = []

    def start(settings, env=None):
        services.append(Crashable(tmp_path, settings, env))
        return services[-1]

    yield start
    for service in services:
        service.stop()


def make_process(script, files):
    inputs = [
        {"storage_name": default_storage.save(f"projects/c/files/{name}", ContentFile(content)), "name": name,
         "template": template}
        for name, content, template in files
    ]
    # Long enough to be killed while it works, even on a busy machine (the kill follows the first
    # "working" within a poll or two).
    parameters = {"seconds": "2"} if script.name == "slow" else {}
    return Process.objects.create(
        script=script, inputs=inputs, parameters=parameters, output_folder="projects/c/runs/1"
    )


def text_process(script):
    return make_process(script, [("in.txt", b"hello", "text")])


def recording_process(script):
    return make_process(script, [("a.wav", (ROOT / "tests" / "data" / "cards-001.wav").read_bytes(), "audio"),
                                 ("a.txt", b"ten of clubs", "transcript")])


def drive(process, until, limit=60):
    """Run the process's steps (as the worker would, without waiting out the retry delays) until `until(process)`.

    Returns every message the process showed on the way.
    """
    deadline = time.monotonic() + limit
    messages = []
    process.refresh_from_db()
    while not until(process):
        assert not process.finished, (process.status, process.error)
        assert time.monotonic() < deadline, f"timed out: {process.status}, {process.message!r}"
        delay = runner.advance(process.pk)
        process.refresh_from_db()
        if process.message not in messages[-1:]:
            messages.append(process.message)
        if delay is not None and process.status == "running":
            time.sleep(min(delay, 0.1))
    return messages


def job_is_working(process):
    return process.status == "running" and process.message.startswith("working")


def finished(process):
    return process.finished


def assert_no_project_left(script, process):
    with pytest.raises(NotAClamService):
        ClamConnection.for_script(script).index_of(process.clam_project)


def test_a_job_lost_with_its_killed_service_is_started_again_and_finishes(slow_service):
    service = slow_service
    script = register_script(service, "slow")
    process = text_process(script)
    drive(process, job_is_working)
    service.kill_with_jobs()
    service.restart()
    messages = drive(process, finished)
    assert process.status == "done", (process.error, messages)
    assert f"retrying (attempt 1): {LOST.format('slow')}; starting it again" in messages
    with open(os.path.join(default_storage.path(process.output_folder), "result.txt")) as f:
        assert f.read() == "HELLO"
    assert process.detail == "" and process.attempts == 0
    assert process.log.startswith("The service lost the job: the job's dispatcher never said that the job ended\n")
    assert_no_project_left(script, process)
    assert service.projects() == []


def test_a_job_lost_with_a_killed_bundled_service_is_started_again_and_finishes(crashable):
    # The bundled services' own dispatcher (clamservices/dispatcher.py): with CLAM's, this lost job was
    # reported as "Done" with errors, and the run failed with "The alignment failed: Done".
    service = crashable(FAST_FA, env={"FAST_FA_SECONDS": "60"})
    script = register_script(service, "aligner")
    process = recording_process(script)
    drive(process, lambda p: p.status == "running")
    deadline = time.monotonic() + 30
    while "[CLAM Dispatcher] Started" not in "".join(
        p.read_text() for p in (service.tmp_path / "clam").glob("fast_fa/projects/*/*/output/error.log")
    ):
        assert time.monotonic() < deadline, "the job did not start"
        time.sleep(0.05)
    service.kill_with_jobs()
    service.restart(env={"FAST_FA_SECONDS": "0.2"})
    messages = drive(process, finished)
    assert process.status == "done", (process.error, messages)
    assert f"retrying (attempt 1): {LOST.format('aligner')}; starting it again" in messages
    assert sorted(process.outputs) == ["a.TextGrid", "oov.txt"]
    assert service.projects() == []


def test_the_bundled_aligner_killed_mid_alignment_and_restarted_aligns_every_recording(tmp_path):
    # Before: the first restart lost the project (404); with that fixed, the run failed with a line of the
    # aligner's log for its reason ('ERROR: "state_align_search.c", line 236: …'), after a status request that
    # timed out while CLAM waited 5 s for the dead dispatcher.
    service = start_bundled_service("forced_alignment", tmp_path, own_group=True)
    port = int(service.url.rstrip("/").rsplit(":", 1)[1])
    try:
        script = register_script(service, "Bundled forced alignment (English)")
        # Three copies of each: the job's processes align several recordings at once, and it must still be
        # at work when the service is killed.
        sources = ["austen-0870", "austen-0880", "austen-0890"] * 3
        stems = [f"{n}-{source}" for n, source in enumerate(sources)]
        process = make_process(script, [
            (f"{stem}.{kind}", (ROOT / "tests" / "data" / f"{source}.{kind}").read_bytes(), template)
            for stem, source in zip(stems, sources) for kind, template in (("wav", "audio"), ("txt", "transcript"))
        ])
        drive(process, lambda p: p.status == "running" and "Aligning" in p.message)
        os.killpg(service.process.pid, signal.SIGKILL)
        service.process.wait(timeout=10)
        service = start_bundled_service("forced_alignment", tmp_path, own_group=True, port=port)
        messages = drive(process, finished, limit=120)
    finally:
        os.killpg(service.process.pid, signal.SIGKILL)
        service.process.wait(timeout=10)
    assert process.status == "done", (process.error, messages)
    assert messages[0] == (
        'retrying (attempt 1): the service "Bundled forced alignment (English)" stopped while it was working on '
        "this run; starting it again"
    )
    assert sorted(process.outputs) == sorted([f"{stem}.TextGrid" for stem in stems] + ["alignment.log", "report.json"])


def test_a_real_worker_runs_a_job_lost_with_its_service_to_the_end(slow_service, tmp_path):
    from scripts.tasks import schedule_process
    from tests.test_worker_faults import start_worker

    service = slow_service
    script = register_script(service, "slow")
    process = text_process(script)
    schedule_process(process)
    # Short waits between the worker's tries while the service is down (2 s at most, 8 tries); how long
    # the runner backs off is not what this test is about.
    worker = start_worker(tmp_path, PROCESS_RETRY_MAX_SECONDS="2")
    try:
        wait_until(process, job_is_working)
        service.kill_with_jobs()
        service.restart()
        wait_until(process, finished, limit=90)
    finally:
        worker.kill()
        worker.wait(timeout=10)
    assert process.status == "done", process.error
    assert process.log.startswith("The service lost the job: ")
    assert service.projects() == []


def wait_until(process, until, limit=60):
    deadline = time.monotonic() + limit
    process.refresh_from_db()
    while not until(process):
        assert time.monotonic() < deadline, f"timed out: {process.status}, {process.message!r}"
        time.sleep(0.05)
        process.refresh_from_db()


def test_a_service_that_loses_the_job_every_time_fails_with_a_readable_reason(slow_service, settings):
    settings.PROCESS_MAX_ATTEMPTS = 2
    service = slow_service
    script = register_script(service, "slow")
    process = text_process(script)
    drive(process, job_is_working)
    service.kill_with_jobs()
    service.restart()
    messages = drive(process, lambda p: job_is_working(p) and p.log)
    assert messages[-1].startswith("working")  # the second attempt runs
    service.kill_with_jobs()
    service.restart()
    drive(process, finished)
    assert process.status == "failed"
    assert process.error == (
        f"{LOST.format('slow')}, 2 times; try again later, or ask an administrator to look at the service"
    )
    assert process.log.count("The service lost the job: ") == 2
    assert_no_project_left(script, process)
    assert service.projects() == []


def test_a_service_restarted_without_its_projects_starts_the_job_again(slow_service, tmp_path):
    service = slow_service
    script = register_script(service, "slow")
    process = text_process(script)
    drive(process, job_is_working)
    service.kill_with_jobs()
    (tmp_path / "new").mkdir()
    service.restart(tmp_path=tmp_path / "new")  # its data folder lost: every project answers 404
    messages = drive(process, finished)
    assert process.status == "done", (process.error, messages)
    assert f"retrying (attempt 1): {LOST.format('slow')}; starting it again" in messages
    assert "The service lost the job: the service answered 404 for the project: it no longer has it" in process.log


def test_a_lost_job_whose_pid_file_is_gone_is_started_again(slow_service):
    # Nothing says the job ran: CLAM shows the project as ready for a new job, for ever.
    service = slow_service
    script = register_script(service, "slow")
    process = text_process(script)
    drive(process, job_is_working)
    service.kill_with_jobs()
    for pid in (service.tmp_path / "clam").glob("slow/projects/*/*/.pid"):
        pid.unlink()
    service.restart()
    messages = drive(process, finished)
    assert process.status == "done", (process.error, messages)
    assert f"retrying (attempt 1): {LOST.format('slow')}; starting it again" in messages
    assert "The service lost the job: the project is ready again: the service has no job for it" in process.log


def test_a_project_gone_before_its_download_starts_the_job_again(slow_service):
    service = slow_service
    script = register_script(service, "slow")
    process = text_process(script)
    drive(process, lambda p: p.status == "downloading")
    ClamConnection.for_script(script).request("DELETE", f"{process.clam_project}/")
    assert runner.advance(process.pk) is not None
    process.refresh_from_db()
    assert process.status == "queued"
    assert process.message == f"retrying (attempt 1): {LOST.format('slow')}; starting it again"
    runs = os.path.dirname(default_storage.path(process.output_folder))
    assert not os.path.isdir(runs) or os.listdir(runs) == []  # no results, no .part folder
    drive(process, finished)
    assert process.status == "done"


def test_a_job_that_fails_without_a_word_is_a_failure_not_a_lost_job(crashable):
    service = crashable(FAST_FA, env={"FAST_FA_SECONDS": "0.1", "FAST_FA_EXIT": "1"})
    script = register_script(service, "aligner")
    process = recording_process(script)
    messages = drive(process, finished)
    assert process.status == "failed"
    assert process.error == "the job on the service ended with an error without saying why; ask your administrator"
    assert not any(m.startswith("retrying") for m in messages) and process.log.count("lost the job") == 0


def test_a_job_that_fails_keeps_its_own_reason(slow_service):
    service = slow_service
    script = register_script(service, "slow")
    process = text_process(script)
    process.parameters = {"seconds": "0.2", "fail": "True"}
    process.save()
    drive(process, finished)
    assert process.status == "failed" and process.error == "the test job was told to fail"


def fault_process(fault_server, scenario):
    script = Script.objects.create(name=scenario, url=f"{fault_server.url}fake/{scenario}/")
    return text_process(script)


def test_a_lost_job_is_recognised_behind_a_long_log_of_its_own(fault_server, settings):
    settings.PROCESS_MAX_ATTEMPTS = 2
    process = fault_process(fault_server, "lostlong")
    drive(process, finished)
    assert process.status == "failed"
    assert process.error.startswith(f"{LOST.format('lostlong')}, 2 times")


def test_a_failure_behind_a_long_log_keeps_its_reason(fault_server):
    process = fault_process(fault_server, "failedlong")
    drive(process, finished)
    assert process.status == "failed" and process.error == "the transcript is empty"


def test_a_restarted_bundled_service_keeps_its_projects(slow_service):
    # CLAM moved every user's projects into "anonymous" on its first restart (a migration from CLAM 0.6).
    service = slow_service
    connection = ClamConnection(service.url, USER, PASSWORD)
    connection.request("PUT", "kept/")
    service.kill_with_jobs()
    service.restart()
    assert connection.index_of("kept").find("status").get("code") == "0"
    assert service.projects() == ["kept"]
