"""The fixes for CLAM's races (clamservices/clampatch.py)."""

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



def test_concurrent_index_updates_lose_no_project_and_never_fail(tmp_path, monkeypatch):
    """CLAM 3.2's own updateindex loses entries here (read-modify-write without a lock) or raises on a half-written file."""
    import json

    import clam.clamservice

    monkeypatch.setattr(clam.clamservice, "settings", type("S", (), {"ROOT": str(tmp_path) + "/"}), raising=False)
    folder = tmp_path / "projects" / "user"
    names = [f"p{t}x{n}" for t in range(8) for n in range(40)]
    for name in names:
        (folder / name).mkdir(parents=True)
    padding = [[f"old{n}", "2026-01-01 00:00:00", 1.0, 2] for n in range(300)]  # a big index takes a while to write
    (folder / ".index").write_text(json.dumps({"totalsize": 0.0, "projects": padding}))
    errors = []

    def client(t):
        for n in range(40):
            try:
                clampatch._updateindex("user", f"p{t}x{n}", 0.0, 0)
            except Exception as exc:  # noqa: BLE001 - any exception is the failure this test is about
                errors.append(repr(exc))

    threads = [threading.Thread(target=client, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    listed = {entry[0] for entry in json.loads((folder / ".index").read_text())["projects"]}
    assert set(names) <= listed


def test_an_unreadable_or_missing_index_is_dropped_not_an_error(tmp_path, monkeypatch):
    import clam.clamservice

    monkeypatch.setattr(clam.clamservice, "settings", type("S", (), {"ROOT": str(tmp_path) + "/"}), raising=False)
    folder = tmp_path / "projects" / "user"
    (folder / "p").mkdir(parents=True)
    clampatch._updateindex("user", "p", 0.0, 0)  # no index: nothing to update
    assert not (folder / ".index").exists()
    (folder / ".index").write_text("")  # half-written by a dispatcher
    clampatch._updateindex("user", "p", 0.0, 0)
    assert not (folder / ".index").exists()  # CLAM rebuilds it on the next listing



def test_a_zombie_job_counts_as_ended(project, monkeypatch):
    # A job whose dispatcher was killed with the service waits for init to reap it; CLAM took it for running.
    monkeypatch.setattr(clampatch, "DISPATCHER_GRACE_SECONDS", 0.2)
    parent = subprocess.Popen(["sh", "-c", "sleep 0 & exec sleep 30"])  # the exec'd sleep never reaps its child
    try:
        deadline = time.monotonic() + 10
        zombie = None
        while zombie is None:
            assert time.monotonic() < deadline, "no zombie appeared"
            children = subprocess.run(["ps", "-o", "pid=,stat=", "--ppid", str(parent.pid)], capture_output=True,
                                      text=True).stdout.split()
            if len(children) == 2 and children[1].startswith("Z"):
                zombie = int(children[0])
            time.sleep(0.05)
        (project / ".pid").write_text(str(zombie))
        assert clampatch._running("p", "user") is False
        assert (project / ".done").read_text() == "1"
    finally:
        parent.kill()
        parent.wait()
