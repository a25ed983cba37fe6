"""One CLAM service that hangs for one project must not stall the other projects' runs (issue 13, §2).

A real CLAM service (tests.clamconfigs.slow) sits behind tests.faultserver.HangingProxy, which holds
every request for project A's CLAM project far longer than Equestria's read limit and passes
project B's on. One real `process_tasks` worker runs both, with the default limits. The proxy
records whether Equestria gave up on each held request, so the test counts requests and attempts
instead of timing anything.
"""

import os
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from scripts.models import Process
from scripts.tasks import schedule_process
from tests.clamservers import register_script, start_bundled_service, stop_service
from tests.faultserver import HangingProxy
from tests.helpers import ROOT, database_url_of_this_test_run

pytestmark = pytest.mark.django_db(transaction=True)

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
        wait_for(lambda: Process.objects.get(pk=hanging.pk).message.startswith("retrying (attempt 2)"),
                 "a second attempt of the hanging project")
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
