"""Benchmark: peak memory of the web process while it receives a 1 GB audio upload.

    .venv/bin/python -m tests.benchmarks.upload_memory [size in MB, default 1024]

Starts Equestria's web server (as `make run` does) on 127.0.0.1 with a fresh
database, logs in, and streams one large WAV file into a project. Reports the
web process's peak resident memory (VmHWM) before and after: the goal is a
rise of less than 50 MB. Prints a table and writes it to docs/performance.md.
"""

import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

from tests.benchmarks.aligner_speed import write_section
from tests.helpers import ROOT, free_port

SETUP = """
from accounts.models import User
from tests.factories import make_fa_pipeline, make_project
user = User.objects.create_user("bench", "bench@example.org", "bench password 123")
print(make_project(user, "bench").pk)
"""


def peak_kb(pid):
    return int(re.search(r"VmHWM:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))


def write_wav(path, size):
    data = size - 44
    header = b"RIFF" + (data + 36).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
    header += (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + (16000).to_bytes(4, "little")
    header += (32000).to_bytes(4, "little") + (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
    header += b"data" + data.to_bytes(4, "little")
    block = b"\x00" * (1 << 20)
    with open(path, "wb") as f:
        f.write(header)
        remaining = data
        while remaining:
            f.write(block[: min(remaining, len(block))])
            remaining -= min(remaining, len(block))


def multipart(path, token, boundary):
    head = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrfmiddlewaretoken\"\r\n\r\n{token}\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.wav\"\r\n"
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    length = len(head) + path.stat().st_size + len(tail)

    def body():
        yield head
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                yield chunk
        yield tail

    return body(), length


def main():
    size_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "EQUESTRIA_VAR_DIR": str(tmp / "var"), "FILE_UPLOAD_TEMP_DIR": str(tmp)}
        env.pop("DATABASE_URL", None)
        manage = [sys.executable, "manage.py"]
        subprocess.run(manage + ["migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        subprocess.run(manage + ["collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        project = subprocess.run(
            manage + ["shell", "-c", SETUP], cwd=ROOT, env=env, check=True, capture_output=True, text=True
        ).stdout.split()[-1]
        port = free_port()
        server = subprocess.Popen(
            manage + ["runserver", f"127.0.0.1:{port}", "--noreload"], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            session = requests.Session()
            for _ in range(100):
                try:
                    session.get(base + "/accounts/login/", timeout=2)
                    break
                except requests.ConnectionError:
                    time.sleep(0.2)
            token = session.cookies["csrftoken"]
            session.post(base + "/accounts/login/", {"username": "bench", "password": "bench password 123", "csrfmiddlewaretoken": token})
            session.get(f"{base}/projects/{project}/")
            before = peak_kb(server.pid)

            wav = tmp / "big.wav"
            write_wav(wav, size_mb * 1024 * 1024)
            boundary = uuid.uuid4().hex
            body, length = multipart(wav, session.cookies["csrftoken"], boundary)
            start = time.perf_counter()
            response = session.post(
                f"{base}/projects/{project}/files/", data=body,
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "Content-Length": str(length),
                         "Referer": base + "/"},
                allow_redirects=True,
            )
            elapsed = time.perf_counter() - start
            after = peak_kb(server.pid)
            stored = list((tmp / "var" / "media" / "projects").rglob("big.wav"))
            ok = response.ok and "Added 1 file(s)" in response.text and stored and stored[0].stat().st_size == wav.stat().st_size
        finally:
            server.terminate()
            server.wait(timeout=10)

    rise = (after - before) / 1024
    table = "\n".join([
        "## Upload memory (web process)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} by `tests/benchmarks/upload_memory.py`: one {size_mb} MB WAV "
        "uploaded to Django's development server (`make run`), streamed by the client. Peak resident memory "
        "(VmHWM) of the web process before and after the upload; goal: a rise under 50 MB.",
        "",
        "| upload | stored intact | time (s) | throughput (MB/s) | peak before (MB) | peak after (MB) | rise (MB) |",
        "|---|---|---:|---:|---:|---:|---:|",
        f"| {size_mb} MB WAV | {'yes' if ok else 'NO'} | {elapsed:.1f} | {size_mb / elapsed:.0f} | {before / 1024:.0f} | {after / 1024:.0f} | {rise:.1f} |",
        "",
    ])
    print(table)
    write_section(table)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
