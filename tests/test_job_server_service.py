"""The bundled forced-alignment service runs its jobs through its job server (clamservices/jobserver.py).

Real services on 127.0.0.1 (tests/clamservers.py), each in a process group of its own that the test
kills at the end; the job's process is found through the project's `.pid` file and /proc (psutil).
"""

import os
import signal
import time

import clam.common.status
import psutil
import pytest
import requests

from clamservices.dispatcher import LOST_MESSAGE
from tests.clamservers import PASSWORD, USER, run_job, start_bundled_service
from tests.helpers import DATA

STEMS = ["austen-0870", "austen-0880", "austen-0890"]


def wait_for(condition, limit=30, what="condition"):
    deadline = time.monotonic() + limit
    while not (result := condition()):
        assert time.monotonic() < deadline, f"no {what} within {limit} s"
        time.sleep(0.02)
    return result


def stop_group(service):
    try:
        os.killpg(service.process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    service.process.wait(timeout=10)


@pytest.fixture(scope="module")
def fa(tmp_path_factory):
    root = tmp_path_factory.mktemp("fa-jobs")
    service = start_bundled_service("forced_alignment", root, own_group=True)
    service.root = root
    yield service
    stop_group(service)


def job_servers(service):
    servers = []
    for child in psutil.Process(service.process.pid).children():
        try:
            if "clamservices.jobserver" in child.cmdline():
                servers.append(child)
        except psutil.Error:  # a dispatcher that CLAM has not reaped yet
            pass
    return servers


def the_job_server(service):
    return wait_for(lambda: job_servers(service) and os.path.exists(job_socket(service)) and job_servers(service)[0],
                    what="job server")


def job_socket(service):
    return service.root / "clam" / "forced_alignment" / "jobserver.sock"


def start(service, stems=STEMS):
    client = service.client()
    project = f"js{os.getpid()}x{time.monotonic_ns()}"
    client.create(project)
    data = client.get(project)
    for stem in stems:
        client.addinputfile(project, data.inputtemplate("audio"), str(DATA / f"{stem}.wav"))
        client.addinputfile(project, data.inputtemplate("transcript"), str(DATA / f"{stem}.txt"))
    client.start(project)
    return client, project


def running_job(service, project):
    """The process of the project's running job (from `.pid`)."""
    pid_file = service.root / "clam" / "forced_alignment" / "projects" / USER / project / ".pid"

    def job():
        try:
            process = psutil.Process(int(pid_file.read_text()))
            return process if "dispatcher.py" not in " ".join(process.cmdline()) else None
        except (FileNotFoundError, ValueError, psutil.NoSuchProcess):
            return None

    return wait_for(job, what="running job")


def finish(client, project, limit=120):
    deadline = time.monotonic() + limit
    while (data := client.get(project)).status != clam.common.status.DONE:
        assert time.monotonic() < deadline, f"job did not finish within {limit} s"
        time.sleep(0.1)
    return data


def error_log(service, project):
    response = requests.get(f"{service.url}{project}/output/error.log", auth=(USER, PASSWORD), timeout=30)
    return response.text


def test_a_bundled_alignment_job_runs_in_a_child_of_the_job_server(fa):
    server = the_job_server(fa)
    client, project = start(fa)
    try:
        job = running_job(fa, project)
        assert job.ppid() == server.pid
        data = finish(client, project)
        assert not data.errors
        assert sorted(o.filename for o in data.output) == sorted(
            [f"{stem}.TextGrid" for stem in STEMS] + ["alignment.log", "report.json", "error.log"])
        lines = error_log(fa, project).splitlines()  # between these, PocketSphinx's own messages as before
        assert lines[0] == "[CLAM Dispatcher] Started" and lines[-1] == "[CLAM Dispatcher] Job ended with exit status 0"
        assert "Traceback" not in "\n".join(lines)
    finally:
        client.delete(project)


def zombies(service):
    """The service's children that have ended without being reaped."""
    return [c for c in psutil.Process(service.process.pid).children() if c.status() == psutil.STATUS_ZOMBIE]


def test_a_job_of_the_job_server_is_started_without_a_shell_or_a_dispatcher_process(fa):
    server = the_job_server(fa)
    client, project = start(fa, STEMS[:1])
    try:
        job = running_job(fa, project)
        assert job.ppid() == server.pid
        others = [p for p in psutil.Process(fa.process.pid).children(recursive=True) if p.pid not in (server.pid, job.pid)
                  and p.ppid() != job.pid]  # the job's own pool processes, if any
        assert [p.cmdline() for p in others] == []
        assert not finish(client, project).errors
    finally:
        client.delete(project)


def test_a_finished_job_leaves_no_zombie_in_the_service(fa):
    result = run_job(fa, [(DATA / "cards-001.wav", "audio"), (DATA / "cards-001.txt", "transcript")])
    assert not result.failed
    wait_for(lambda: not zombies(fa), limit=10, what="service without zombies")


def test_requests_leave_no_debug_lines_in_the_services_log(fa):
    result = run_job(fa, [(DATA / "cards-001.wav", "audio"), (DATA / "cards-001.txt", "transcript")])
    assert not result.failed
    log = fa.log_path.read_text()
    assert "Handling Multiple Authenticators" not in log and "Requested scheme" not in log


def test_a_job_server_that_does_not_answer_leaves_the_job_to_a_fresh_python_at_once(fa):
    server = the_job_server(fa)
    server.suspend()
    try:
        client, project = start(fa, STEMS[:1])
        try:
            job = running_job(fa, project)
            dispatcher = job.parent()
            assert "dispatcher.py" in " ".join(dispatcher.cmdline())
            # The dispatcher does not ask the job server again (and wait up to 10 s for it).
            assert "CLAM_SERVICES_JOB_SOCKET" not in dispatcher.environ()
            assert not finish(client, project).errors
        finally:
            client.delete(project)
    finally:
        server.resume()
    # The job server, back, drops the job it was asked for meanwhile and runs the next ones.
    result = run_job(fa, [(DATA / "cards-001.wav", "audio"), (DATA / "cards-001.txt", "transcript")])
    assert not result.failed and server.is_running() and the_job_server(fa).pid == server.pid


def test_deleting_a_running_project_stops_its_job_in_the_job_server(fa):
    server = the_job_server(fa)
    client, project = start(fa)
    job = running_job(fa, project)
    assert job.ppid() == server.pid
    client.delete(project)
    wait_for(lambda: not job.is_running() or job.status() == psutil.STATUS_ZOMBIE, what="end of the job")
    assert server.is_running()


def test_a_job_server_killed_mid_job_loses_the_job_and_is_started_again(fa):
    server = the_job_server(fa)
    client, project = start(fa)
    try:
        job = running_job(fa, project)
        server.kill()
        data = finish(client, project)
        assert data.errors
        log = error_log(fa, project)
        assert LOST_MESSAGE in log and "Job ended" not in log  # Equestria starts a lost job again
        wait_for(lambda: not job.is_running() or job.status() == psutil.STATUS_ZOMBIE, limit=5, what="end of the job")
    finally:
        client.delete(project)
    assert the_job_server(fa).pid != server.pid
    result = run_job(fa, [(DATA / "austen-0870.wav", "audio"), (DATA / "austen-0870.txt", "transcript")])
    assert not result.failed and "austen-0870.TextGrid" in result.outputs


def test_with_the_job_server_turned_off_jobs_start_as_before(tmp_path):
    service = start_bundled_service("forced_alignment", tmp_path, own_group=True,
                                    env={"CLAM_SERVICES_JOB_SERVER": "0"})
    service.root = tmp_path
    try:
        client, project = start(service, STEMS[:1])
        try:
            job = running_job(service, project)
            assert "dispatcher.py" in " ".join(job.parent().cmdline())
            assert not finish(client, project).errors
        finally:
            client.delete(project)
        assert job_servers(service) == [] and not job_socket(service).exists()
        # CLAM never waits for the shell it starts each job with; the service does.
        wait_for(lambda: not zombies(service), limit=10, what="service without zombies")
    finally:
        stop_group(service)
