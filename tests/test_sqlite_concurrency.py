"""SQLite: a worker writing status while 20 researchers upload at once never shows "database is locked"."""

import os
import subprocess
import sys
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

from scripts.models import Process
from tests.conftest import CsrfClient
from tests.factories import make_fa_pipeline, make_project
from tests.helpers import ROOT, database_url_of_this_test_run

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="about SQLite's locking"),
]

WORKER = """
import time, django
django.setup()
from django.db import transaction
from django.db.models import F
from scripts.models import Process
deadline = time.monotonic() + {seconds}
writes = 0
while time.monotonic() < deadline:
    with transaction.atomic():
        Process.objects.filter(pk="{pk}").update(completion=(F("completion") + 1) % 100, message="busy")
        writes += 1
print(writes)
"""


def test_uploads_and_worker_writes_at_the_same_time(alice, settings):
    pipeline = make_fa_pipeline()
    projects = [make_project(alice, f"p{i}", pipeline) for i in range(20)]
    process = Process.objects.create(script=pipeline.fa_script, output_folder="x", status="running")
    env = {**os.environ, "DATABASE_URL": database_url_of_this_test_run(), "DJANGO_SETTINGS_MODULE": "equestria.settings",
           "CLAM_PASSWORD_KEYS": ",".join(settings.CLAM_PASSWORD_KEYS)}
    worker = subprocess.Popen([sys.executable, "-c", WORKER.format(seconds=6, pk=process.pk)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results, errors = [], []
    barrier = threading.Barrier(len(projects))

    def researcher(project):
        try:
            client = CsrfClient()
            client.force_login(alice)
            token = client.csrf_token(project.get_absolute_url())
            barrier.wait(timeout=30)
            for round_ in range(3):
                response = client.post(
                    reverse("upload-add-files", args=[project.pk]),
                    {"csrfmiddlewaretoken": token, "files": [SimpleUploadedFile(f"t{round_}.txt", b"ten of clubs")]},
                )
                results.append(response.status_code)
        except Exception as exc:  # collected and asserted below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=researcher, args=(p,)) for p in projects]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    out, err = worker.communicate(timeout=60)
    assert errors == []
    assert results == [302] * 60
    assert worker.returncode == 0 and "locked" not in err, err
    assert int(out.strip()) > 100  # the worker really wrote all along
    assert sum(p.files.count() for p in projects) == 60
