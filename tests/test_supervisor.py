"""The run command's supervisor: prepares a fresh install, serves on 127.0.0.1, stops on Ctrl-C."""

import base64
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import clam.common.client

from equestria.supervisor import Supervisor
from tests.helpers import DATA, ROOT, clean_env, free_port


def wait_for_http(url, proc, timeout=90, auth=None):
    request = urllib.request.Request(url)
    if auth:
        token = base64.b64encode(":".join(auth).encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the supervisor exited early"
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.read().decode()
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout} s")


# One start of the run command for both (a fresh install's start costs tens of seconds).
def test_run_command_serves_the_site_starts_a_killed_worker_again_and_stops_everything_on_ctrl_c(tmp_path):
    port, fa_port, g2p_port = free_port(), free_port(), free_port()
    env = clean_env(
        tmp_path,
        PORT=str(port),
        CLAM_FA_PORT=str(fa_port),
        CLAM_G2P_PORT=str(g2p_port),
        EQUESTRIA_ADMIN_PASSWORD="admin pass 4567",
    )
    log = tmp_path / "run.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "equestria.supervisor"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # so that a failing test can stop the services and worker it started too
        )
        try:
            status, page = wait_for_http(f"http://127.0.0.1:{port}/accounts/login/", proc)
            assert status == 200 and "Log in" in page
            # The bundled CLAM services answer with the generated credentials.
            credentials = ("equestria", (tmp_path / "var" / "clam_services_password").read_text().strip())
            for clam_port, system_id in ((fa_port, "equestria_fa"), (g2p_port, "equestria_g2p")):
                status, page = wait_for_http(f"http://127.0.0.1:{clam_port}/", proc, auth=credentials)
                assert status == 200 and f'id="{system_id}"' in page and 'user="equestria"' in page
            # A killed worker is started again, and the site keeps answering.
            worker = int(wait_for_output(log, r"started worker \(pid (\d+)\)", proc).group(1))
            os.kill(worker, signal.SIGKILL)
            wait_for_output(log, r"\[equestria\] worker exited with status -9; starting it again\n", proc, timeout=30)
            restarted = wait_for_output(log, r"starting it again\n\[equestria\] started worker \(pid (\d+)\)", proc)
            assert int(restarted.group(1)) != worker
            assert os.path.exists(f"/proc/{restarted.group(1)}")
            # Its mails link to this port, not to the default 8000.
            environ = open(f"/proc/{restarted.group(1)}/environ", "rb").read().split(b"\0")
            assert f"EQUESTRIA_SITE_URL=http://127.0.0.1:{port}".encode() in environ
            status, page = wait_for_http(f"http://127.0.0.1:{port}/accounts/login/", proc)
            assert status == 200 and "Log in" in page
            # A forced alignment job running when Ctrl-C comes is in its service's process group, which the
            # stop ends. (The bundled job is short and may finish first, so the stand-in test further down
            # is the one sure to see a leftover job.)
            client = clam.common.client.CLAMClient(f"http://127.0.0.1:{fa_port}/", *credentials, basicauth=True)
            client.create("running")
            data = client.get("running")
            for wav in sorted(DATA.glob("*.wav")):
                client.addinputfile("running", data.inputtemplate("audio"), str(wav))
                client.addinputfile("running", data.inputtemplate("transcript"), str(wav.with_suffix(".txt")))
            client.start("running")
            fa_service = int(re.search(r"started forced alignment service \(pid (\d+)\)", log.read_text()).group(1))
            deadline = time.monotonic() + 30
            while len(processes_in_groups({fa_service})) < 2:  # the service and its job's dispatcher
                assert time.monotonic() < deadline, "the forced alignment job did not start"
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # whatever the supervisor left behind when the test failed
            except ProcessLookupError:
                pass
    output = log.read_text()
    assert "Created administrator 'admin'" in output
    assert "pipeline “English” ready" in output
    pids = [int(pid) for pid in re.findall(r"started .+? \(pid (\d+)\)", output)]
    assert len(pids) == 5  # the web server, two services, the worker and its restart
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}") or "zombie" in open(f"/proc/{pid}/status").read().lower()
    assert processes_in_groups(set(pids)) == []
    assert (tmp_path / "var" / "equestria.sqlite3").exists()


def start_run_command(tmp_path, log, **env):
    env = {"PORT": str(free_port()), "CLAM_FA_PORT": str(free_port()), "CLAM_G2P_PORT": str(free_port()), **env}
    port = int(env["PORT"])
    env = clean_env(tmp_path, **env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "equestria.supervisor"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,  # so that a failing test can stop the services and worker it started too
    )
    return proc, port


def end_run_command(proc):
    if proc.poll() is None:
        proc.kill()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


def wait_for_output(path, pattern, proc, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(pattern, path.read_text())
        if match:
            return match
        assert proc.poll() is None, "the supervisor exited early"
        time.sleep(0.2)
    raise AssertionError(f"{pattern!r} not in the output within {timeout} s")


def processes_in_groups(pgids):
    """Live (not zombie) processes whose process group is one of `pgids`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry}/stat").read()
        except OSError:
            continue
        state, _, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) in pgids and state != "Z":
            found.append(int(entry))
    return found


def test_a_part_that_keeps_dying_stops_the_run_command_with_a_message(tmp_path):
    log = tmp_path / "run.log"
    with log.open("w") as out, socket.socket() as taken:
        # A real reason for the web server to die at once: its port is in use.
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        proc, _ = start_run_command(tmp_path, out, PORT=str(taken.getsockname()[1]))
        try:
            status = proc.wait(timeout=180)
        finally:
            end_run_command(proc)
    output = log.read_text()
    assert output.count("[equestria] web exited with status 1; starting it again") == 5
    assert (
        "[equestria] web exited with status 1, 6 times within 60 s; stopping everything (its messages above say why)"
        in output
    )
    assert "That port is already in use" in output
    assert status == 1
    assert output.rstrip().endswith("[equestria] stopped")
    pids = {int(pid) for pid in re.findall(r"started .+? \(pid (\d+)\)", output)}
    assert processes_in_groups(pids) == []


def test_stopping_ends_everything_a_part_started(tmp_path, capfd):
    """A CLAM service's jobs are its children in its process group; a shell and its sleep stand in for them."""
    marker = tmp_path / "grandchild"
    supervisor = Supervisor([("service", ["sh", "-c", f"sleep 600 & echo $! > {marker}; wait"], signal.SIGTERM)])
    supervisor.start()
    leader = int(re.search(r"started service \(pid (\d+)\)", capfd.readouterr().out).group(1))
    try:
        deadline = time.monotonic() + 10
        while not (marker.exists() and marker.read_text().strip()):
            assert time.monotonic() < deadline, "the stand-in service did not start its job"
            time.sleep(0.05)
        grandchild = int(marker.read_text())
        supervisor.stop()
        assert processes_in_groups({leader}) == []
        assert not os.path.exists(f"/proc/{grandchild}") or "zombie" in open(f"/proc/{grandchild}/status").read()
    finally:
        try:
            os.killpg(leader, signal.SIGKILL)  # whatever stop() left behind when the test failed
        except ProcessLookupError:
            pass
