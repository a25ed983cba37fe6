"""Real CLAM services on 127.0.0.1 for tests, and a small client loop to run jobs on them.

The job loop uses the `clam` client to create, upload and start, and plain
requests (with a timeout) to download outputs: the client's own download()
is broken (see CLAM-NOTES.md).
"""

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field

import clam.common.client
import clam.common.status
import requests

from tests.helpers import ROOT, free_port

USER = "equestria"
PASSWORD = "test-password-123"


@dataclass
class Service:
    url: str
    process: subprocess.Popen
    log_path: object

    def client(self, user=USER, password=PASSWORD):
        return clam.common.client.CLAMClient(self.url, user, password, basicauth=True)


def start_bundled_service(name, tmp_dir, timeout=60, settings=None, env=None, user=USER, password=PASSWORD,
                          latency=None, port=None, own_group=False):
    """Start a bundled service, or with name="custom", the CLAM settings module `settings`.

    With `latency` (seconds), a custom service answers every request that much later
    (tests/clamconfigs/latency_serve.py: a server across a network). With `port`, on that port (a
    service restarted where it was); with `own_group`, in a process group of its own that its jobs
    share, so a test can kill the service together with its jobs (os.killpg), as a crash would.
    """
    port = port or free_port()
    extra_env = env or {}
    env = {
        **os.environ,
        **extra_env,
        "CLAM_SERVICES_USER": user,
        "CLAM_SERVICES_PASSWORD": password,
        "CLAM_SERVICES_ROOT": str(tmp_dir / "clam"),
        "EQUESTRIA_VAR_DIR": str(tmp_dir / "var"),
    }
    log_path = tmp_dir / f"{settings or name}.log"
    argv = [sys.executable, "-m", "clamservices.serve", name, "--port", str(port)]
    if settings:
        argv += ["--settings", settings]
    if latency is not None:
        argv = [sys.executable, "-m", "tests.clamconfigs.latency_serve", "--settings", settings, "--port", str(port),
                "--latency", str(latency)]
    process = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env,
        stdout=log_path.open("a"),
        stderr=subprocess.STDOUT,
        start_new_session=own_group,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} service exited: {log_path.read_text()[-2000:]}")
        try:
            requests.get(url, timeout=2)
            return Service(url, process, log_path)
        except requests.ConnectionError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{name} service did not start within {timeout} s")


def stop_service(service):
    service.process.terminate()
    try:
        service.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        service.process.kill()


@dataclass
class JobResult:
    data: object
    outputs: dict = field(default_factory=dict)  # name -> bytes

    @property
    def failed(self):
        return bool(self.data.errors)

    def text(self, name):
        return self.outputs[name].decode("utf-8")


_counter = iter(range(1_000_000))


def start_job(client, project, files, parameters=None):
    """Create `project`, upload `files` ([(path, input template id)]) and start it; returns the start's CLAMData.
    The caller deletes the project (also when this raises)."""
    client.create(project)
    data = client.get(project)
    for path, template in files:
        client.addinputfile(project, data.inputtemplate(template), str(path))
    return client.start(project, **(parameters or {}))


def run_job(service, files, parameters=None, timeout=120, watch=None):
    """Run one job: files is [(path, input template id)]; returns its outputs. `watch(data)` gets each
    CLAMData polled while it runs (its status line and completion, as Equestria sees them) and the last."""
    client = service.client()
    project = f"t{os.getpid()}x{next(_counter)}"
    try:
        data = start_job(client, project, files, parameters)
        if data.errors and data.status != clam.common.status.DONE:
            # Refused (parameters, profiles). A job that fails within milliseconds (the in-service start
            # forks it at once) is often DONE with errors in the start's own answer: its outputs, error.log
            # among them, are there to fetch.
            return JobResult(data)
        deadline = time.monotonic() + timeout
        while data.status != clam.common.status.DONE:
            assert time.monotonic() < deadline, f"job did not finish within {timeout} s"
            time.sleep(0.1)
            data = client.get(project)
            if watch is not None:
                watch(data)
        result = JobResult(data)
        auth = (USER, PASSWORD)
        for output in data.output:
            name = output.filename
            response = requests.get(f"{service.url}{project}/output/{name}", auth=auth, timeout=30)
            response.raise_for_status()
            result.outputs[name] = response.content
        return result
    finally:
        client.delete(project)


def register_script(service, name):
    """A Script for a running test service, with the test credentials, imported."""
    from scripts.importer import import_script
    from scripts.models import Script

    script = Script(name=name, url=service.url, username=USER)
    script.set_password(PASSWORD)
    script.save()
    error = import_script(script)
    assert error is None, error
    return script


def start_demo_service(demo, tmp_dir, timeout=60):
    """One of CLAM's own demo services (tests/clamconfigs/demo_serve.py), open to anyone, on 127.0.0.1."""
    port = free_port()
    log_path = tmp_dir / f"{demo}.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("CONFIGFILE", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.clamconfigs.demo_serve", demo, "--port", str(port), "--root", str(tmp_dir / demo)],
        cwd=ROOT, env=env, stdout=log_path.open("a"), stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"CLAM demo {demo} exited: {log_path.read_text()[-2000:]}")
        try:
            requests.get(url, timeout=2)
            return Service(url, process, log_path)
        except requests.ConnectionError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"CLAM demo {demo} did not start within {timeout} s")
