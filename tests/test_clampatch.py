"""The fix for CLAM's status race (clamservices/clampatch.py)."""

import os
import subprocess
import threading
import time

import pytest

from clamservices import clampatch


@pytest.fixture
def project(tmp_path, monkeypatch):
    from clam.clamservice import Project

    folder = tmp_path / "projects" / "user" / "p"
    folder.mkdir(parents=True)
    monkeypatch.setattr(Project, "path", staticmethod(lambda project, user: str(folder) + "/"))
    return folder


def ended_pid():
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_an_ended_job_waits_for_the_dispatchers_status_instead_of_reporting_failure(project):
    (project / ".pid").write_text(str(ended_pid()))

    def dispatcher_finishes():
        time.sleep(0.3)
        (project / ".done").write_text("0")
        os.unlink(project / ".pid")

    thread = threading.Thread(target=dispatcher_finishes)
    thread.start()
    assert clampatch._running("p", "user") is False
    thread.join()
    assert (project / ".done").read_text() == "0"


def test_a_job_whose_dispatcher_died_is_marked_failed(project, monkeypatch):
    monkeypatch.setattr(clampatch, "DISPATCHER_GRACE_SECONDS", 0.2)
    (project / ".pid").write_text(str(ended_pid()))
    assert clampatch._running("p", "user") is False
    assert (project / ".done").read_text() == "1"
    assert not (project / ".pid").exists()


def test_a_live_job_is_running(project):
    (project / ".pid").write_text(str(os.getpid()))
    assert clampatch._running("p", "user") is True


def test_exit_status_waits_for_the_dispatcher_to_write_it(project):
    (project / ".done").write_text("")

    def dispatcher_writes():
        time.sleep(0.2)
        (project / ".done").write_text("0")

    thread = threading.Thread(target=dispatcher_writes)
    thread.start()
    assert clampatch._exitstatus("p", "user") == 0
    thread.join()
