"""One CLAM service that hangs for one project must not stall the other projects' runs (issue 13, §2).

A real CLAM service (tests.clamconfigs.slow) sits behind tests.faultserver.HangingProxy, which holds
every request for project A's CLAM project far longer than Equestria's read limit and passes
project B's on. One real `process_tasks` worker runs both, with the default limits. The proxy
records whether Equestria gave up on each held request, so the test counts requests and attempts
instead of timing anything.
"""

import os
import socket
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
from background_task.models import Task
from background_task.tasks import tasks
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from scripts import runner
from scripts.clam import ClamConnection, ServerTimeout
from scripts.models import Process, Script
from scripts.tasks import schedule_process
from tests.clamservers import register_script, start_bundled_service, stop_service
from tests.faultserver import HangingProxy
from tests.helpers import ROOT, database_url_of_this_test_run

# Longer than the default read limit, shorter than the 30 s it was: a request Equestria waits out
# is answered, so only a short limit makes the proxy see it abandoned.
HANG_SECONDS = 15
LIMIT = 120  # stops the test if the worker is stuck; not an assertion on speed


@pytest.fixture
def proxy(tmp_path):
    service = start_bundled_service("custom", tmp_path, settings="tests.clamconfigs.slow")
    proxy = HangingProxy(service.url, HANG_SECONDS).start()
    yield proxy
    proxy.stop()
    stop_service(service)


def make_process(script, text, project):
    name = default_storage.save(f"projects/{project}/files/in.txt", ContentFile(text.encode()))
    return Process.objects.create(
        script=script, inputs=[{"storage_name": name, "name": "in.txt", "template": "text"}],
        parameters={"seconds": "0"}, output_folder=f"projects/{project}/runs/one",
    )


def start_worker(tmp_path):
    # The limits are the defaults: no CLAM_* timeout variables reach the worker.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAM_", "PROCESS_"))}
    env.update({
        "DATABASE_URL": database_url_of_this_test_run(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "CLAM_PASSWORD_KEYS": ",".join(settings.CLAM_PASSWORD_KEYS),
    })
    log = open(tmp_path / "worker.log", "w")
    return subprocess.Popen([sys.executable, "manage.py", "process_tasks", "--sleep", "0.1"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)


def wait_for(predicate, what):
    deadline = time.monotonic() + LIMIT
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.1)


@pytest.mark.django_db(transaction=True)
def test_a_service_hanging_for_one_project_does_not_stall_another_projects_run(proxy, tmp_path):
    assert HANG_SECONDS > settings.CLAM_READ_TIMEOUT + settings.CLAM_CONNECT_TIMEOUT
    script = register_script(SimpleNamespace(url=proxy.url), "behind a proxy")
    hanging = make_process(script, "stuck", "a")
    proxy.hang_projects.add(hanging.clam_project)
    schedule_process(hanging)  # queued first: the worker meets the hanging project before the other
    other = make_process(script, "hello", "b")
    schedule_process(other)

    worker = start_worker(tmp_path)
    try:
        wait_for(lambda: Process.objects.get(pk=other.pk).finished, "the other project's run")
        # Let the hanging project have its retry too (the retry starts by deleting the old CLAM project).
        wait_for(lambda: Process.objects.get(pk=hanging.pk).message.startswith("retrying (attempt 2)")
                 and len(proxy.outcomes(hanging.clam_project)) >= 2, "a second attempt of the hanging project")
        hanging.refresh_from_db()
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    other.refresh_from_db()
    assert other.status == "done", (other.error, other.message)
    with open(os.path.join(default_storage.path(other.output_folder), "result.txt")) as f:
        assert f.read() == "HELLO"
    assert not hanging.finished and hanging.status == "uploading"
    assert hanging.message == (
        f"retrying (attempt {hanging.attempts}): {proxy.url.rstrip('/')} did not answer within "
        f"{settings.CLAM_READ_TIMEOUT} s"
    )
    outcomes = proxy.outcomes(hanging.clam_project)
    # Equestria stopped waiting before the service answered, every time ...
    assert set(outcomes) == {"abandoned"}, outcomes
    # ... and each attempt ended at the first request that hung, instead of going on to the next.
    assert len(outcomes) == hanging.attempts, outcomes
    assert [method for project, method, _ in proxy.requests if project == hanging.clam_project][:2] == ["PUT", "DELETE"]


def fake_clam_process(fault_server, scenario, size=5, project="f"):
    script = Script.objects.create(name=scenario, url=f"{fault_server.url}fake/{scenario}/")
    name = default_storage.save(f"projects/{project}/files/in.txt", ContentFile(b"x" * size))
    return Process.objects.create(
        script=script, inputs=[{"storage_name": name, "name": "in.txt", "template": "text"}],
        output_folder=f"projects/{project}/runs/{scenario}",
    )


@pytest.mark.django_db
def test_an_upload_may_take_longer_to_answer_than_a_poll_in_proportion_to_its_size(fault_server, settings):
    # The fake CLAM answers an upload after SLOW_UPLOAD_SECONDS (2 s), everything else at once.
    settings.CLAM_READ_TIMEOUT = 1
    settings.CLAM_UPLOAD_SECONDS_PER_GB = 3 * 1024  # 3 s more for this 1 MiB file
    settings.PROCESS_MAX_ATTEMPTS = 2
    process = fake_clam_process(fault_server, "slowupload", size=1024 * 1024)
    assert runner.advance(process.pk) is not None
    process.refresh_from_db()
    assert process.status == "running", process.message
    assert process.attempts == 0


@pytest.mark.django_db
def test_a_step_that_waited_for_the_time_limit_is_retried_after_a_wait_that_grows_with_the_time_it_hung(
    fault_server, settings
):
    settings.CLAM_READ_TIMEOUT = 2
    process = fake_clam_process(fault_server, "hang")
    process.status = Process.Status.RUNNING  # the fake CLAM hangs on the project page, i.e. when polled
    process.save()
    delay = runner.advance(process.pk)
    # The step cannot have waited less than the read limit, so the next attempt is at least 2 × 2 s away.
    assert delay >= 2 * settings.CLAM_READ_TIMEOUT
    process.refresh_from_db()
    assert process.message == f"retrying (attempt 1): {fault_server.url.rstrip('/')} did not answer within 2 s"


def test_the_wait_before_a_retry_doubles_and_is_capped(settings):
    settings.PROCESS_RETRY_MAX_SECONDS = 60
    assert [runner._retry_delay(n, 5.0) for n in range(1, 6)] == [10, 20, 40, 60, 60]
    # A failure that costs no time (connection refused) is retried as soon as before: 2, 4, 8 … s.
    assert [runner._retry_delay(n, 0.01) for n in range(1, 4)] == [2, 4, 8]


@pytest.mark.django_db
def test_a_backed_off_process_does_not_hold_up_the_queue(fault_server, settings):
    settings.CLAM_READ_TIMEOUT = 1
    hanging = fake_clam_process(fault_server, "hang", project="a")
    hanging.status = Process.Status.RUNNING
    hanging.save()
    schedule_process(hanging)
    other = fake_clam_process(fault_server, "traversal", project="b")
    schedule_process(other)

    assert tasks.run_next_task()  # django-background-tasks' own choice: the oldest due task, the hanging one
    hanging.refresh_from_db()
    assert hanging.attempts == 1 and hanging.message.startswith("retrying (attempt 1)")
    # Its next attempt is scheduled at least 2 s later; the other process's steps (polls due within
    # 0.2 s) run meanwhile, as a worker's loop would run them.
    deadline = time.monotonic() + LIMIT
    while not Process.objects.get(pk=other.pk).finished and time.monotonic() < deadline:
        tasks.run_next_task() or time.sleep(0.05)
    other.refresh_from_db()
    hanging.refresh_from_db()
    assert other.status == "done" and hanging.attempts == 1
    assert Task.objects.count() == 1 and Task.objects.get().task_params.startswith(f'[["{hanging.pk}"]')


def test_a_server_that_takes_no_connections_is_reported_with_the_connect_limit(settings):
    settings.CLAM_CONNECT_TIMEOUT = 1
    # A listening socket whose queue is full: the kernel drops further connection attempts, as a
    # machine behind a firewall that drops packets does.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    queued = []
    for _ in range(5):
        client = socket.socket()
        client.setblocking(False)
        client.connect_ex(("127.0.0.1", port))
        queued.append(client)
    try:
        with pytest.raises(ServerTimeout) as error:
            ClamConnection(f"http://127.0.0.1:{port}/").index()
        assert str(error.value) == f"cannot connect to http://127.0.0.1:{port} within 1 s"
    finally:
        for client in queued:
            client.close()
        listener.close()
