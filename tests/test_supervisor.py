"""The run command's supervisor: prepares a fresh install, serves on 127.0.0.1, stops on Ctrl-C."""

import base64
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

from tests.helpers import ROOT, clean_env, free_port


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


def test_run_command_serves_the_site_and_stops_everything_on_ctrl_c(tmp_path):
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
    assert len(pids) == 4
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}") or "zombie" in open(f"/proc/{pid}/status").read().lower()
    assert (tmp_path / "var" / "equestria.sqlite3").exists()
