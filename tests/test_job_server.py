"""The job server of the bundled services (clamservices/jobserver.py) with the dispatcher, as the service runs them.

A real job server process (here with the test job module tests/served_job.py) and the real dispatcher;
the bundled services with theirs are in tests/test_job_server_service.py.
"""

import json
import os
import signal
import stat
import subprocess
import sys
import time

import psutil
import pytest

from clamservices.dispatcher import LOST_MESSAGE
from tests.helpers import DATA, ROOT
from tests.test_dispatcher import project

DISPATCHER = [sys.executable, "-S", str(ROOT / "clamservices" / "dispatcher.py")]
JOB = [sys.executable, "-m", "tests.served_job"]


def wait_for(condition, limit=15, what="condition"):
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {limit} s"
        time.sleep(0.05)


@pytest.fixture
def job_server(tmp_path):
    path = tmp_path / "jobs.sock"
    server = subprocess.Popen([sys.executable, "-m", "clamservices.jobserver", "tests.served_job", str(path)], cwd=ROOT)
    wait_for(path.exists, what="job server socket")
    yield server, path
    server.kill()
    server.wait(timeout=10)


def dispatch(folder, *command, socket_path, env=None):
    # PYTHONPATH as the service sets it, for jobs the dispatcher starts itself in the project folder.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CLAM_SERVICES_JOB_SOCKET": str(socket_path), **(env or {})}
    return subprocess.Popen([*DISPATCHER, "settings.module", f"{folder}/", *command], stderr=subprocess.PIPE,
                            text=True, env=env, cwd=ROOT)


def alive(pid):
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_job_is_a_fresh_child_of_the_job_server_with_the_dispatchers_output_and_environment(job_server, tmp_path):
    server, path = job_server
    folder = project(tmp_path)
    facts_file = tmp_path / "facts.json"
    process = dispatch(folder, *JOB, "facts", str(facts_file), socket_path=path, env={"SERVED_JOB_MARKER": "m1"})
    assert process.wait(timeout=30) == 0
    lines = process.stderr.read().splitlines()
    assert lines == ["[CLAM Dispatcher] Started", "a line for error.log",
                     "[CLAM Dispatcher] Job ended with exit status 0"]
    facts = json.loads(facts_file.read_text())
    assert facts["ppid"] == server.pid
    assert facts["pgrp"] == os.getpgid(server.pid)  # ends with its service's process group
    assert facts["cwd"] == str(folder)
    assert facts["marker"] == "m1" and facts["name"] == "__main__"
    assert facts["argv"][1:] == ["facts", str(facts_file)]
    assert facts["sockets"] == []  # neither the listening socket nor any dispatcher's connection
    assert facts["sigterm_default"] and facts["sigchld_default"] and facts["sigint_python"]
    assert facts["blocked"] == []
    assert (folder / ".done").read_text() == "0" and not (folder / ".pid").exists()
    assert not alive(facts["pid"])  # reaped


def test_the_socket_is_private_and_the_server_listens_on_nothing_else(job_server):
    server, path = job_server
    mode = os.stat(path).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    assert psutil.Process(server.pid).net_connections(kind="inet") == []
    assert [c.laddr for c in psutil.Process(server.pid).net_connections(kind="unix")] == [str(path)]


def test_abort_stops_a_job_of_the_job_server(job_server, tmp_path):
    server, path = job_server
    folder = project(tmp_path)
    process = dispatch(folder, *JOB, "sleep", str(tmp_path / "pid"), socket_path=path)
    # The job may write its own pid before the dispatcher has written `.pid` for it: wait for both.
    wait_for(lambda: (tmp_path / "pid").exists() and (tmp_path / "pid").read_text(), what="job")
    wait_for(lambda: (folder / ".pid").exists() and (folder / ".pid").read_text(), what="the job's .pid")
    job_pid = int((folder / ".pid").read_text())
    assert job_pid == int((tmp_path / "pid").read_text())
    assert psutil.Process(job_pid).ppid() == server.pid
    (folder / ".abort").write_text("")
    assert process.wait(timeout=20) == 0
    assert (folder / ".done").read_text() == "1" and (folder / ".aborted").exists()
    assert not alive(job_pid)
    assert server.poll() is None


def test_a_job_of_the_job_server_running_too_long_is_stopped(job_server, tmp_path):
    folder = project(tmp_path)
    process = dispatch(folder, *JOB, "sleep", str(tmp_path / "pid"), socket_path=job_server[1],
                       env={"CLAM_SERVICES_MAX_JOB_SECONDS": "1"})
    assert process.wait(timeout=20) == 0
    assert (folder / ".done").read_text() == "3"
    assert "longer than 1 s" in process.stderr.read()
    assert not alive(int((tmp_path / "pid").read_text()))


def test_a_crashing_job_fails_and_the_job_server_runs_the_next(job_server, tmp_path):
    server, path = job_server
    folder = project(tmp_path)
    assert dispatch(folder, *JOB, "crash", "-", socket_path=path).wait(timeout=30) == 0
    assert (folder / ".done").read_text() == "1"
    assert server.poll() is None
    second = project(tmp_path / "second")
    assert dispatch(second, *JOB, "fail", "-", socket_path=path).wait(timeout=30) == 0
    assert (second / ".done").read_text() == "5"


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_a_job_of_the_job_server_can_use_a_multiprocessing_pool(job_server, tmp_path, method):
    folder = project(tmp_path)
    process = dispatch(folder, *JOB, f"pool-{method}", str(tmp_path / "squares"), socket_path=job_server[1])
    assert process.wait(timeout=30) == 0, process.stderr.read()
    assert (folder / ".done").read_text() == "0"
    assert json.loads((tmp_path / "squares").read_text()) == [n * n for n in range(10)]


def test_two_jobs_at_once_run_in_two_processes(job_server, tmp_path):
    server, path = job_server
    folders = [project(tmp_path / name) for name in ("a", "b")]
    processes = [dispatch(f, *JOB, "sleep", str(f.parent / "pid"), socket_path=path) for f in folders]
    # The job writes its "pid" as it starts; the dispatcher writes ".pid" once it has the job's: either may be first.
    wait_for(lambda: all((f.parent / "pid").exists() and (f.parent / "pid").read_text() and (f / ".pid").exists()
                         and (f / ".pid").read_text() for f in folders), what="jobs")
    pids = {int((f / ".pid").read_text()) for f in folders}
    assert len(pids) == 2 and {psutil.Process(p).ppid() for p in pids} == {server.pid}
    for folder in folders:
        (folder / ".abort").write_text("")
    assert [p.wait(timeout=20) for p in processes] == [0, 0]


def test_a_job_server_killed_mid_job_loses_the_job_with_a_clear_message(job_server, tmp_path):
    server, path = job_server
    folder = project(tmp_path)
    process = dispatch(folder, *JOB, "sleep", str(tmp_path / "pid"), socket_path=path)
    wait_for(lambda: (tmp_path / "pid").exists() and (tmp_path / "pid").read_text(), what="job")
    job_pid = int((tmp_path / "pid").read_text())
    server.kill()
    assert process.wait(timeout=20) == 0
    lines = process.stderr.read().splitlines()
    # Without "Job ended", Equestria takes it for a job lost with its service and starts it again.
    assert lines == ["[CLAM Dispatcher] Started", LOST_MESSAGE]
    assert (folder / ".done").read_text() == "1" and not (folder / ".pid").exists()
    wait_for(lambda: not alive(job_pid), limit=5, what="end of the lost job")
    # The next job starts without the server.
    second = project(tmp_path / "second")
    assert dispatch(second, *JOB, "fail", "-", socket_path=path).wait(timeout=30) == 0
    assert (second / ".done").read_text() == "5"


def test_without_a_job_server_the_dispatcher_starts_the_job_itself(tmp_path):
    folder = project(tmp_path)
    facts_file = tmp_path / "facts.json"
    process = dispatch(folder, *JOB, "facts", str(facts_file), socket_path=tmp_path / "nothing-here.sock")
    assert process.wait(timeout=30) == 0
    assert (folder / ".done").read_text() == "0"
    assert json.loads(facts_file.read_text())["ppid"] == process.pid


def test_a_command_that_is_not_a_module_of_this_python_is_started_by_the_dispatcher(job_server, tmp_path):
    folder = project(tmp_path)
    process = dispatch(folder, "sh", "-c", 'echo "$PPID" > parent', socket_path=job_server[1])
    assert process.wait(timeout=30) == 0
    assert (folder / ".done").read_text() == "0"
    assert int((folder / "parent").read_text()) == process.pid


def test_a_job_that_ends_as_its_dispatcher_goes_away_does_not_stop_the_job_server():
    # Both can be reported by one select(): the job's end is handled first, and the dispatcher's going
    # away then found no job (KeyError) and ended the job server, with every other running job.
    from clamservices.jobserver import Server

    server = Server.__new__(Server)
    server.jobs = {}
    server._dispatcher_gone(12345)  # no exception


WARM_JOB = """
import json, runpy, sys
from clamservices import jobserver
jobserver.preload(sys.argv[1])
before = set(sys.modules)
sys.argv = [sys.argv[1], *sys.argv[3:]]
try:
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
except SystemExit as exc:
    status = exc.code
with open(sys.argv[-1] + "/../imported.json", "w") as f:
    json.dump({"status": status, "imported": sorted(set(sys.modules) - before)}, f)
"""


def test_an_alignment_job_in_the_job_server_imports_nothing_the_server_has_not_preloaded(tmp_path):
    # What a job imports itself, every job of a job server imports again: numpy.ma alone took 40-60 ms.
    from tests.fajob import job_command, make_job

    folder = make_job(tmp_path / "project", [DATA / "cards-001.wav", DATA / "cards-001.txt"])
    command = job_command(folder)
    subprocess.run([sys.executable, "-c", WARM_JOB, "clamservices.fa_job", "unused", *command[3:]], cwd=folder,
                   env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True, timeout=120, capture_output=True)
    facts = json.loads((folder / "imported.json").read_text())
    assert facts == {"status": 0, "imported": []}


def test_each_job_runs_the_job_module_as_the_job_server_compiled_it_once(tmp_path):
    # Like every module the server preloads, the job module is read once: not compiled again per job.
    module = tmp_path / "modules" / "one_off_job.py"
    module.parent.mkdir()
    job = "import sys\nif __name__ == '__main__':\n    open(sys.argv[1], 'w').write({!r} + __name__)\n"
    module.write_text(job.format("as loaded "))
    path = tmp_path / "jobs.sock"
    server = subprocess.Popen([sys.executable, "-m", "clamservices.jobserver", "one_off_job", str(path)], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(module.parent)])})
    try:
        wait_for(path.exists, what="job server socket")
        module.write_text(job.format("changed "))
        folder, out = project(tmp_path), tmp_path / "out.txt"
        process = dispatch(folder, sys.executable, "-m", "one_off_job", str(out), socket_path=path)
        assert process.wait(timeout=30) == 0
        assert out.read_text() == "as loaded __main__"
    finally:
        server.kill()
        server.wait(timeout=10)
