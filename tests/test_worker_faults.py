"""Real `process_tasks` workers, killed at random moments, and CLAM servers that fail mid-run."""

import os
import random
import signal
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from scripts import runner
from scripts.clam import ClamConnection, NotAClamService
from scripts.models import Process, Worker
from scripts.tasks import schedule_process
from tests.clamservers import USER, register_script, start_bundled_service, stop_service
from tests.helpers import ROOT, database_url_of_this_test_run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def slow_service(tmp_path_factory):
    service = start_bundled_service("custom", tmp_path_factory.mktemp("slow"), settings="tests.clamconfigs.slow")
    yield service
    stop_service(service)


@pytest.fixture
def slow_script(slow_service):
    return register_script(slow_service, "slow")


def make_process(script, parameters, text="hello"):
    name = default_storage.save("projects/w/files/in.txt", ContentFile(text.encode()))
    return Process.objects.create(
        script=script, inputs=[{"storage_name": name, "name": "in.txt", "template": "text"}],
        parameters=parameters, output_folder=f"projects/w/runs/{random.randrange(10**9)}",
    )


def start_worker(tmp_path, **settings_env):
    env = {
        **os.environ,
        "DATABASE_URL": database_url_of_this_test_run(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "CLAM_PASSWORD_KEYS": ",".join(settings.CLAM_PASSWORD_KEYS),
        "WORKER_HEARTBEAT_SECONDS": "1",
        "WORKER_STALE_SECONDS": "3",
        **settings_env,
    }
    log = open(tmp_path / f"worker-{time.monotonic_ns()}.log", "w")
    return subprocess.Popen([sys.executable, "manage.py", "process_tasks", "--sleep", "0.1"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)


def wait_for(predicate, limit=60):
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def remote_projects(service_dir):
    return [p.name for p in (service_dir / "clam" / "slow" / "projects" / USER).glob("*")] if service_dir else []


def test_a_worker_killed_at_random_moments_never_loses_or_duplicates_a_run(slow_script, slow_service, tmp_path):
    rng = random.Random(42)
    # Random moments, on top of tests/test_worker_recovery.py's kill inside each step kind. The worker
    # that finishes a round's process is the one killed in the next: it is up and polling when the
    # process arrives, so the moments fall on the process's steps rather than on a worker starting.
    worker = start_worker(tmp_path)
    wait_for(lambda: Worker.objects.filter(pid=worker.pid).exists())
    try:
        for _ in range(5):
            process = make_process(slow_script, {"seconds": "1.0", "outputs": "20"}, text="abc")
            schedule_process(process)
            time.sleep(rng.uniform(0.1, 2.0))
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            worker = start_worker(tmp_path)
            wait_for(lambda: Process.objects.get(pk=process.pk).finished, limit=60)
            check_round(process, slow_script)
    finally:
        worker.kill()
        worker.wait()


def check_round(process, slow_script):
    process.refresh_from_db()
    assert process.status == "done", (process.error, process.message)
    folder = default_storage.path(process.output_folder)
    assert open(os.path.join(folder, "result.txt")).read() == "ABC"
    assert sorted(os.listdir(folder)) == sorted(process.outputs + ["error.log"])
    assert all(os.path.getsize(os.path.join(folder, f"extra{i}.txt")) == 100_000 for i in range(20))
    parent = os.path.dirname(folder)
    assert not [n for n in os.listdir(parent) if ".part-" in n]
    try:
        ClamConnection.for_script(slow_script).index_of(process.clam_project)
        raise AssertionError("the CLAM project was left behind")
    except NotAClamService:
        pass


def test_a_server_that_goes_away_mid_run_is_retried_then_the_run_fails_with_the_reason(tmp_path, settings):
    service = start_bundled_service("custom", tmp_path, settings="tests.clamconfigs.slow")
    script = register_script(service, "vanishing")
    settings.PROCESS_MAX_ATTEMPTS = 3
    settings.PROCESS_RETRY_MAX_SECONDS = 0  # no backoff wait in the test
    process = make_process(script, {"seconds": "5"})
    assert runner.advance(process.pk) is not None  # started
    stop_service(service)
    delay = 0
    while delay is not None:
        delay = runner.advance(process.pk)
    process.refresh_from_db()
    assert process.status == "failed"
    assert process.error.startswith("gave up after 3 attempts") and "connection refused" in process.error


def test_a_job_that_fails_says_why_and_leaves_nothing_on_the_server(slow_script):
    process = make_process(slow_script, {"seconds": "0.2", "fail": "True"})
    delay = 0
    while delay is not None:
        time.sleep(min(delay, 0.2))
        delay = runner.advance(process.pk)
    process.refresh_from_db()
    assert process.status == "failed" and process.error == "the test job was told to fail"
    with pytest.raises(NotAClamService):
        ClamConnection.for_script(slow_script).index_of(process.clam_project)
