"""The light job dispatcher of the bundled services (clamservices/dispatcher.py), run as CLAM runs it."""

import os
import subprocess
import sys
import time

import pytest

from tests.helpers import ROOT

DISPATCHER = [sys.executable, "-S", str(ROOT / "clamservices" / "dispatcher.py")]


def project(tmp_path):
    folder = tmp_path / "projects" / "user" / "p"
    (folder / "tmp").mkdir(parents=True)
    (folder / "tmp" / "scratch").write_text("x")
    (tmp_path / "projects" / "user" / ".index").write_text("{}")
    return folder


def dispatch(folder, *command, env=None):
    return subprocess.Popen([*DISPATCHER, "settings.module", f"{folder}/", *command], stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **(env or {})})


def test_a_job_that_succeeds_leaves_status_0_and_a_clean_project(tmp_path):
    folder = project(tmp_path)
    process = dispatch(folder, "sh", "-c", "echo working >&2; touch done-by-job")
    assert process.wait(timeout=30) == 0
    assert (folder / ".done").read_text() == "0"
    assert (folder / "done-by-job").exists()  # ran in the project folder
    assert "working" in process.stderr.read()  # the job's stderr is the dispatcher's (CLAM's error.log)
    assert not (folder / ".pid").exists()
    assert list((folder / "tmp").iterdir()) == []
    assert (tmp_path / "projects" / "user" / ".index").read_text() == "{}"  # CLAM's listing cache: not ours


def test_a_failing_job_leaves_its_non_zero_status(tmp_path):
    folder = project(tmp_path)
    assert dispatch(folder, "sh", "-c", "exit 5").wait(timeout=30) == 0
    assert (folder / ".done").read_text() == "5"


def test_a_job_that_cannot_start_fails_clearly(tmp_path):
    folder = project(tmp_path)
    process = dispatch(folder, str(tmp_path / "no-such-program"))
    assert process.wait(timeout=30) == 0
    assert (folder / ".done").read_text() == "1"
    assert "could not be started" in process.stderr.read()


def test_abort_stops_the_running_job(tmp_path):
    folder = project(tmp_path)
    process = dispatch(folder, "sleep", "60")
    deadline = time.monotonic() + 10
    while not (folder / ".pid").exists() or (folder / ".pid").read_text() == "":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    job_pid = int((folder / ".pid").read_text())
    (folder / ".abort").write_text("")  # what CLAM writes when a running project is deleted
    assert process.wait(timeout=15) == 0
    assert (folder / ".done").read_text() == "1" and (folder / ".aborted").exists()
    assert not (folder / ".abort").exists()
    try:
        os.kill(job_pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive


def test_a_job_running_too_long_is_stopped(tmp_path):
    folder = project(tmp_path)
    process = dispatch(folder, "sleep", "60", env={"CLAM_SERVICES_MAX_JOB_SECONDS": "1"})
    assert process.wait(timeout=20) == 0
    assert (folder / ".done").read_text() == "3"
    assert "longer than 1 s" in process.stderr.read()


@pytest.mark.parametrize(
    "command, env, status",
    [
        (["sh", "-c", "echo working >&2"], None, 0),
        (["sh", "-c", "exit 5"], None, 5),
        (["/no-such-program"], None, 1),
        (["sleep", "60"], {"CLAM_SERVICES_MAX_JOB_SECONDS": "1"}, 3),
    ],
)
def test_every_end_of_a_job_is_said_in_the_error_log_before_its_status(tmp_path, command, env, status):
    # A service killed with its jobs leaves "Started" without "Job ended": Equestria starts such a job again.
    folder = project(tmp_path)
    process = dispatch(folder, *command, env=env)
    assert process.wait(timeout=30) == 0
    lines = process.stderr.read().splitlines()
    assert lines[0] == "[CLAM Dispatcher] Started"
    assert lines[-1] == f"[CLAM Dispatcher] Job ended with exit status {status}"
    assert (folder / ".done").read_text() == str(status)
