"""Three `process_tasks` workers share one queue: 100 projects, each run exactly once.

Runs in the PostgreSQL pass of the test command (where several workers on
one database is the deployment this checks); SQLite is for one worker.
"""

import os
import re
import subprocess
import sys
import time
from collections import Counter

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection

from scripts.models import Process
from scripts.tasks import schedule_process
from tests.clamservers import USER, register_script, start_bundled_service, stop_service
from tests.helpers import ROOT, database_url_of_this_test_run

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="runs in the PostgreSQL pass of `make test`"),
]
PROJECTS = 100
WORKERS = 3


def test_three_workers_run_100_processes_each_exactly_once(tmp_path):
    service = start_bundled_service("custom", tmp_path, settings="tests.clamconfigs.slow",
                                    env={"CLAM_SERVICES_DEBUG": "1"})
    workers = []
    try:
        script = register_script(service, "fast")
        processes = []
        for number in range(PROJECTS):
            name = default_storage.save(f"projects/p{number}/files/in.txt", ContentFile(f"text {number}".encode()))
            process = Process.objects.create(
                script=script, inputs=[{"storage_name": name, "name": "in.txt", "template": "text"}],
                parameters={"seconds": "0"}, output_folder=f"projects/p{number}/runs/one",
            )
            schedule_process(process)
            processes.append(process)
        env = {**os.environ, "DATABASE_URL": database_url_of_this_test_run(), "MEDIA_ROOT": str(settings.MEDIA_ROOT),
               "CLAM_PASSWORD_KEYS": ",".join(settings.CLAM_PASSWORD_KEYS)}
        for number in range(WORKERS):
            log = open(tmp_path / f"worker{number}.log", "w")
            workers.append(subprocess.Popen([sys.executable, "manage.py", "process_tasks", "--sleep", "0.1"],
                                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 300
        while Process.objects.exclude(status__in=Process.FINISHED).exists():
            assert time.monotonic() < deadline, Counter(Process.objects.values_list("status", flat=True))
            time.sleep(0.5)
    finally:
        for worker in workers:
            worker.send_signal(15)
        for worker in workers:
            worker.wait(timeout=30)
        stop_service(service)

    assert Counter(Process.objects.values_list("status", flat=True)) == {"done": PROJECTS}
    for number, process in enumerate(processes):
        with open(os.path.join(default_storage.path(f"projects/p{number}/runs/one"), "result.txt")) as f:
            assert f.read() == f"TEXT {number}"
    # One CLAM project per process (its name is fixed by the process), none left on the server.
    # A step retried after a timeout or a 500 recreates that same project rather than adding one;
    # such retries must stay rare. (Their usual cause, CLAM's unlocked project index answering 500
    # under concurrent requests, is fixed in clamservices/clampatch.py; timeouts on a loaded machine remain.)
    created = Counter(re.findall(r"Creating project '(equestria[0-9a-f]+)'", service.log_path.read_text()))
    assert set(created) == {p.clam_project for p in processes}
    retried = {p.clam_project: p.detail for p in Process.objects.exclude(detail="")}
    assert sum(created.values()) - PROJECTS <= PROJECTS // 20, retried
    left = list((tmp_path / "clam" / "slow" / "projects" / USER).glob("equestria*"))
    assert left == []
