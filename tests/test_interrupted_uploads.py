"""Uploads cut short: by the web server stopping (Ctrl-C, SIGKILL, a gunicorn stop), by the client going
away, or by a copy into media that fails half way. Nothing is left in the temporary folder or media
once the cleanup has run, and no half-written file ever appears under a stored name.

The web servers are real processes (runserver as `make run` starts it, and gunicorn as production
does) on a fresh install in tmp_path; the cleanup is the real command.
"""

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from scripts.models import Process
from tests.conftest import PASSWORD
from tests.factories import make_fa_pipeline, make_project
from tests.helpers import ROOT, clean_env, free_port, manage
from upload import cleanup
from upload import tempfiles as upload_tempfiles
from upload.models import ProjectFile

SETUP = f"""
from accounts.models import User
from tests.factories import make_project
user = User.objects.create_user("ada", "ada@example.org", {PASSWORD!r})
print(make_project(user, "interrupted").pk)
"""

MB = 1024 * 1024


def files_below(folder):
    """Every file below `folder` (folders themselves do not count)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir()) if folder.exists() else []


def wait_until(condition, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def wav_bytes(size):
    """A valid WAV file of `size` bytes (silence, 16 kHz mono)."""
    data = size - 44
    header = b"RIFF" + (data + 36).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
    header += (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + (16000).to_bytes(4, "little")
    header += (32000).to_bytes(4, "little") + (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
    return header + b"data" + data.to_bytes(4, "little") + bytes(data)


@pytest.fixture(scope="module")
def install(tmp_path_factory):
    """A fresh install (database, one user with one project) that each test serves with its own web server."""
    tmp = tmp_path_factory.mktemp("install")
    env = clean_env(tmp)
    for name in ("FILE_UPLOAD_TEMP_DIR", "MEDIA_ROOT", "DATABASE_URL"):
        env.pop(name, None)
    for step in (["migrate", "-v", "0"], ["collectstatic", "--noinput", "-v", "0"]):
        assert manage(step, env).returncode == 0
    setup = manage(["shell", "-c", SETUP], env)
    assert setup.returncode == 0, setup.stderr
    var = tmp / "var"
    return {"env": env, "project": setup.stdout.split()[-1], "temp": var / "tmp" / "uploads", "media": var / "media"}


def _terminal_signals():
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class WebServer:
    def __init__(self, install, kind, tmp_path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        if kind == "runserver":
            argv = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.port}", "--noreload"]
        else:
            # A graceful timeout shorter than the upload: the stop the issue saw in production.
            argv = [os.path.join(os.path.dirname(sys.executable), "gunicorn"), "equestria.wsgi", "--bind",
                    f"127.0.0.1:{self.port}", "--workers", "1", "--graceful-timeout", "2"]
        self.log = open(tmp_path / f"{kind}.log", "w")
        # The server starts with Ctrl-C's default action and nothing blocked, as from a terminal: not with
        # whatever an earlier test in this pytest process left (under pytest-xdist runserver once ignored it).
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=install["env"], stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True, preexec_fn=_terminal_signals)
        self.session = requests.Session()

        def answers():
            assert self.proc.poll() is None, "the web server exited early"
            try:
                return self.session.get(self.base + "/accounts/login/", timeout=10)
            except (requests.ConnectionError, requests.Timeout):
                return None

        wait_until(answers, "the web server answering", timeout=60)
        assert answers().status_code == 200
        response = self.session.post(self.base + "/accounts/login/", {
            "username": "ada", "password": PASSWORD, "csrfmiddlewaretoken": self.session.cookies["csrftoken"],
        }, headers={"Referer": self.base + "/"}, timeout=30)
        assert response.ok and "sessionid" in self.session.cookies

    def start_upload(self, project, name, total, sent):
        """Begin a streaming upload of a `total`-byte WAV file, send `sent` bytes of it and keep the connection open."""
        boundary = uuid.uuid4().hex
        head = (
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrfmiddlewaretoken\"\r\n\r\n"
            f"{self.session.cookies['csrftoken']}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n"
            "Content-Type: audio/wav\r\n\r\n"
        ).encode()
        length = len(head) + total + len(f"\r\n--{boundary}--\r\n")
        cookies = "; ".join(f"{k}={v}" for k, v in self.session.cookies.items())
        request = (
            f"POST /projects/{project}/files/ HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nCookie: {cookies}\r\n"
            f"Referer: {self.base}/\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {length}\r\n\r\n"
        ).encode()
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        sock.sendall(request + head + wav_bytes(total)[:sent])
        return sock

    def stop(self, signum):
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        self.proc.send_signal(signum)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.log.flush()
            signals = [line for line in status.splitlines() if line.startswith(("SigBlk", "SigIgn", "SigCgt"))]
            log = (self.log.name and Path(self.log.name).read_text())[-3000:]
            pytest.fail(f"the server did not stop within 60 s of signal {signum}; {signals}; its log:\n{log}")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.log.close()


@pytest.fixture
def serve(install, tmp_path):
    servers = []

    def start(kind):
        servers.append(WebServer(install, kind, tmp_path))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def upload_in_flight(install):
    """A temporary upload file has begun to fill."""
    return any(p.stat().st_size >= MB for p in install["temp"].glob("*")) if install["temp"].exists() else False


def cleanup_everything(install):
    result = manage(["remove_orphan_files", "--age-hours", "0"], install["env"])
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("kind, signum, left_before_cleanup", [
    ("runserver", signal.SIGINT, False),  # Ctrl-C of `make run`: the web process removes them at exit
    ("runserver", signal.SIGKILL, True),  # nothing can run in a killed process: the cleanup must
    ("gunicorn", signal.SIGINT, False),  # gunicorn's quick stop: the worker exits with SystemExit mid-request
    ("gunicorn", signal.SIGTERM, True),  # graceful stop whose timeout ends before the upload: worker killed
], ids=["runserver-ctrl-c", "runserver-sigkill", "gunicorn-quick-stop", "gunicorn-graceful-timeout"])
def test_a_web_server_stopped_mid_upload_leaves_nothing_after_the_cleanup(serve, install, kind, signum,
                                                                         left_before_cleanup):
    server = serve(kind)
    # A finished upload first: its file must survive the cleanup.
    response = server.session.post(
        f"{server.base}/projects/{install['project']}/files/",
        data={"csrfmiddlewaretoken": server.session.cookies["csrftoken"]},
        files={"files": (f"kept-{kind}-{signum}.wav", wav_bytes(3 * MB), "audio/wav")},
        headers={"Referer": server.base + "/"}, timeout=60,
    )
    assert response.ok and f"Added 1 file(s): kept-{kind}-{signum}.wav" in response.text
    assert files_below(install["temp"]) == []  # the normal end of a request removes its temporary file
    kept = [f for f in files_below(install["media"]) if f.endswith(f"kept-{kind}-{signum}.wav")]
    assert len(kept) == 1

    sock = server.start_upload(install["project"], "cut.wav", total=200 * MB, sent=8 * MB)
    try:
        wait_until(lambda: upload_in_flight(install), "the upload reaching the temporary folder")
        server.stop(signum)
    finally:
        sock.close()

    assert bool(files_below(install["temp"])) == left_before_cleanup
    output = cleanup_everything(install)
    assert files_below(install["temp"]) == []
    media = files_below(install["media"])
    assert [f for f in media if "cut.wav" in f] == []
    assert [f for f in media if f.endswith(f"kept-{kind}-{signum}.wav")] == kept
    if left_before_cleanup:
        assert "temporary upload files: 1 removed (" in output


def test_a_client_that_goes_away_mid_upload_leaves_no_temporary_file(serve, install):
    server = serve("runserver")
    sock = server.start_upload(install["project"], "gone.wav", total=100 * MB, sent=4 * MB)
    wait_until(lambda: upload_in_flight(install), "the upload reaching the temporary folder")
    sock.close()
    # No cleanup: the request's own end removes it, and the server goes on.
    wait_until(lambda: files_below(install["temp"]) == [], "the temporary file's removal")
    assert server.session.get(server.base + "/accounts/login/", timeout=10).status_code == 200
    assert [f for f in files_below(install["media"]) if "gone.wav" in f] == []


class RaisingAfter(io.RawIOBase):
    """A stream of `data` that raises `error` once `limit` bytes have been read: a client that goes
    away (OSError), or a web server told to stop in the middle (SystemExit, as gunicorn's quick stop)."""

    def __init__(self, data, limit, error):
        self.data, self.limit, self.error, self.position = data, limit, error, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        if self.position >= self.limit:
            raise self.error
        n = min(len(buffer), self.limit - self.position)
        buffer[:n] = self.data[self.position:self.position + n]
        self.position += n
        return n


def multipart_environ(path, stream, length, boundary):
    return {
        "REQUEST_METHOD": "POST", "PATH_INFO": path, "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
        "HTTP_HOST": "127.0.0.1", "CONTENT_TYPE": f"multipart/form-data; boundary={boundary}",
        "CONTENT_LENGTH": str(length), "wsgi.input": stream, "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
    }


@pytest.mark.django_db
@pytest.mark.parametrize("error", [OSError("connection reset by peer"), SystemExit(0)], ids=["client-gone", "server-stopping"])
def test_a_request_that_raises_mid_upload_leaves_no_temporary_file(alice, settings, tmp_path, error, caplog):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "uploads")
    (tmp_path / "uploads").mkdir()
    project = make_project(alice)
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.wav\"\r\n"
            "Content-Type: audio/wav\r\n\r\n").encode() + wav_bytes(6 * MB) + f"\r\n--{boundary}--\r\n".encode()
    stream = io.BufferedReader(RaisingAfter(body, 4 * MB, error))
    environ = multipart_environ(reverse("upload-add-files", args=[project.pk]), stream, len(body), boundary)
    responses = []
    if isinstance(error, SystemExit):
        with pytest.raises(SystemExit):
            WSGIHandler()(environ, lambda status, headers: None)
    else:
        responses.append(WSGIHandler()(environ, lambda status, headers: None))
        # An unreadable body: the client is gone and sees nothing; the log says so as a warning, not as an
        # "Internal Server Error" with a traceback (a mail to the ADMINS each time).
        assert responses[0].status_code == 400
        assert [r.levelname for r in caplog.records if r.levelno >= 30] == ["WARNING"]  # "Bad Request: …"
        assert "Traceback" not in caplog.text
    # Checked while the request and its upload handler are still referenced (here, and in a WSGI
    # server until the response is sent): removal must not wait for the garbage collector.
    assert stream.raw.position == 4 * MB
    assert files_below(tmp_path / "uploads") == []


class FailingAfter(File):
    """Content that fails after `limit` bytes, as a disk that fills or a source that breaks would."""

    def __init__(self, limit):
        super().__init__(io.BytesIO(bytes(4 * MB)), name="x")
        self.limit = limit

    def chunks(self, chunk_size=None):
        sent = 0
        for chunk in super().chunks(64 * 1024):
            if sent >= self.limit:
                raise OSError(28, "No space left on device")
            sent += len(chunk)
            yield chunk


def test_a_copy_into_media_that_fails_half_way_leaves_nothing_under_its_name(settings):
    name = "projects/p/files/f/half.wav"
    with pytest.raises(OSError):
        default_storage.save(name, FailingAfter(MB))
    assert not default_storage.exists(name)
    assert files_below(settings.MEDIA_ROOT) == []


def test_a_stored_file_is_complete_and_a_taken_name_gets_another(settings):
    first = default_storage.save("projects/p/files/f/a.txt", ContentFile(b"first"))
    second = default_storage.save("projects/p/files/f/a.txt", ContentFile(b"second"))
    assert first == "projects/p/files/f/a.txt"
    assert second != first and second.startswith("projects/p/files/f/a_") and second.endswith(".txt")
    assert default_storage.open(first).read() == b"first" and default_storage.open(second).read() == b"second"
    # The name was free when Django chose it and taken when the file was complete (another upload won).
    taken = default_storage._save("projects/p/files/f/a.txt", ContentFile(b"third"))
    assert taken not in (first, second) and default_storage.open(taken).read() == b"third"
    assert sorted(files_below(settings.MEDIA_ROOT)) == sorted([first, second, taken])


def a_temporary_upload(settings, tmp_path, content, name="big.wav"):
    """An upload as Django's parser leaves a large one: a TemporaryUploadedFile in the temporary folder."""
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "uploads")
    os.makedirs(settings.FILE_UPLOAD_TEMP_DIR, exist_ok=True)
    uploaded = TemporaryUploadedFile(name, "audio/wav", len(content), None)
    uploaded.write(content)
    uploaded.flush()
    return uploaded


def test_a_temporary_upload_is_moved_into_media_not_copied(settings, tmp_path):
    uploaded = a_temporary_upload(settings, tmp_path, wav_bytes(3 * MB))
    temporary = uploaded.temporary_file_path()
    inode = os.stat(temporary).st_ino
    name = default_storage.save("projects/p/files/f/big.wav", uploaded)
    stored = os.stat(default_storage.path(name))
    # The same file on disk, under one name only: never written a second time.
    assert (stored.st_ino, stored.st_nlink, stored.st_size) == (inode, 1, 3 * MB)
    assert not os.path.exists(temporary)
    assert files_below(settings.MEDIA_ROOT) == [name]
    assert stored.st_mode & 0o777 == settings.FILE_UPLOAD_PERMISSIONS  # not the temporary file's 0600
    # What the upload middleware does at the end of the request is fine with a file moved away.
    uploaded.close()
    upload_tempfiles.remove(temporary)
    assert default_storage.open(name).read() == wav_bytes(3 * MB)


def test_a_moved_upload_whose_name_is_taken_gets_another(settings, tmp_path):
    first = default_storage.save("projects/p/files/f/a.wav", ContentFile(b"first"))
    uploaded = a_temporary_upload(settings, tmp_path, b"second")
    second = default_storage.save("projects/p/files/f/a.wav", uploaded)
    assert second != first and second.startswith("projects/p/files/f/a_")
    third = a_temporary_upload(settings, tmp_path, b"third")
    taken = default_storage._save("projects/p/files/f/a.wav", third)
    assert taken not in (first, second)
    assert [default_storage.open(n).read() for n in (first, second, taken)] == [b"first", b"second", b"third"]
    assert sorted(files_below(settings.MEDIA_ROOT)) == sorted([first, second, taken])
    assert os.listdir(settings.FILE_UPLOAD_TEMP_DIR) == []
    uploaded.close()
    third.close()


def test_an_uploaded_file_added_to_a_project_is_moved_into_media(alice, settings, tmp_path):
    from upload.services import Upload

    uploaded = a_temporary_upload(settings, tmp_path, wav_bytes(MB), name="cards.wav")
    inode = os.stat(uploaded.temporary_file_path()).st_ino
    upload = Upload(make_project(alice))
    upload.add(uploaded)
    assert [(o.name, o.saved) for o in upload.outcomes] == [("cards.wav", True)]
    record = ProjectFile.objects.get(name="cards.wav")
    assert os.stat(record.file.path).st_ino == inode
    assert os.listdir(settings.FILE_UPLOAD_TEMP_DIR) == []
    uploaded.close()  # as the request's end does


def _another_file_system():
    """A folder on another file system than the tests' (tmpfs), or None."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.stat(shm).st_dev != os.stat(tempfile.gettempdir()).st_dev else None


@pytest.mark.skipif(_another_file_system() is None, reason="needs /dev/shm on a file system of its own")
def test_a_temporary_upload_on_another_file_system_is_copied_once_and_removed(settings):
    settings.FILE_UPLOAD_TEMP_DIR = tempfile.mkdtemp(dir=_another_file_system(), prefix="equestria-test-")
    try:
        uploaded = TemporaryUploadedFile("big.wav", "audio/wav", MB, None)
        uploaded.write(bytes(MB))
        uploaded.flush()
        temporary = uploaded.temporary_file_path()
        name = default_storage.save("projects/p/files/f/big.wav", uploaded)
        assert not os.path.exists(temporary) and default_storage.size(name) == MB
        assert files_below(settings.MEDIA_ROOT) == [name]  # nothing left in .partial
        uploaded.close()
    finally:
        shutil.rmtree(settings.FILE_UPLOAD_TEMP_DIR, ignore_errors=True)


KILLED_COPY = """
import sys, django
django.setup()
from django.core.files import File
from django.core.files.storage import default_storage
with open(sys.argv[1], "rb") as source:
    default_storage.save("projects/p/files/f/big.wav", File(source))
"""


def test_a_process_killed_during_the_copy_into_media_never_shows_the_file_under_its_name(tmp_path):
    media = tmp_path / "media"
    fifo = tmp_path / "source"
    os.mkfifo(fifo)
    env = clean_env(tmp_path, MEDIA_ROOT=str(media), DJANGO_SETTINGS_MODULE="equestria.settings")
    proc = subprocess.Popen([sys.executable, "-c", KILLED_COPY, str(fifo)], cwd=ROOT, env=env,
                            stderr=subprocess.PIPE)
    try:
        with open(fifo, "wb") as source:
            source.write(bytes(3 * MB))
            source.flush()
            wait_until(lambda: any(p.is_file() and p.stat().st_size >= 2 * MB for p in media.rglob("*")),
                       "the copy reaching media")
            proc.kill()
            proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert not (media / "projects" / "p" / "files" / "f" / "big.wav").exists()
    assert [f.split("/")[0] for f in files_below(media)] == [".partial"]


@pytest.fixture
def aged(settings, tmp_path):
    """Write a file (in media or the temp folder) and make it `hours` old."""
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "uploads")

    def write(path, hours=48, content=b"x" * 10):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        when = time.time() - hours * 3600
        os.utime(path, (when, when))
        return path

    return write


@pytest.mark.django_db
def test_the_cleanup_keeps_referenced_and_young_files_and_removes_old_orphans(alice, settings, tmp_path, aged):
    media, temp = settings.MEDIA_ROOT, tmp_path / "uploads"
    project = make_project(alice, pipeline=make_fa_pipeline())
    record = ProjectFile(project=project, name="a.wav", template_id="audio", kind="audio", size=10)
    record.file.save("a.wav", ContentFile(b"x" * 10), save=False)
    record.save()
    aged(media / record.file.name)
    done = Process.objects.create(script=project.pipeline.fa_script, output_folder=f"{project.folder}/runs/r/fa",
                                  status=Process.Status.DONE)
    running = Process.objects.create(
        script=project.pipeline.fa_script, output_folder=f"{project.folder}/runs/r2/fa", status=Process.Status.RUNNING,
        inputs=[{"storage_name": f"{project.folder}/runs/r/g2p/oov.txt", "name": "oov.txt", "template": "t"}],
    )
    kept = [
        aged(media / done.output_folder / "a.TextGrid"),
        aged(media / done.output_folder / "sub" / "deep.log"),
        aged(media / running.inputs[0]["storage_name"]),
        aged(media / project.folder / "files" / "new" / "young.wav", hours=1),  # an upload storing it now
        aged(media / ".partial" / "young", hours=1),  # an upload copying it now
        aged(media / "not-ours" / "notes.txt"),  # MEDIA_ROOT/… outside projects/ is not Equestria's
        aged(temp / "tmpyoung.upload.wav", hours=1),
        aged(temp / "someone-elses.txt"),  # a shared temp folder: only upload names go
    ]
    (media / running.output_folder).mkdir(parents=True)  # empty but referenced: the run page lists it
    removed = [
        aged(media / project.folder / "files" / "gone" / "orphan.wav", content=b"y" * 1000),
        aged(media / project.folder / "runs" / "r" / "fa.part-1234" / "a.TextGrid"),
        aged(media / "projects" / "deleted-project" / "files" / "f" / "b.wav"),
        aged(media / ".partial" / "0123abcd", content=b"z" * 500),
        aged(temp / "tmpab12.upload.wav", content=b"t" * 2000),
        aged(temp / "equestria-upload-xyz"),
        aged(temp / "equestria-zip-abc" / "00000"),
    ]
    aged(media / "projects" / "empty-old" / "files" / "x" / "gone.txt").unlink()  # old empty folders
    for folder in (media / "projects" / "empty-old" / "files" / "x", media / "projects" / "empty-old" / "files",
                   media / "projects" / "empty-old", temp / "equestria-zip-abc"):
        os.utime(folder, (time.time() - 48 * 3600,) * 2)

    dry = cleanup.remove_orphans(dry_run=True)
    assert all(path.exists() for path in kept + removed)
    assert (dry.temporary.files, dry.partial.files, dry.unreferenced.files) == (3, 1, 3)

    report = cleanup.remove_orphans()
    assert [path for path in kept if not path.exists()] == []
    assert [path for path in removed if path.exists()] == []
    assert (report.temporary.files, report.temporary.bytes) == (3, 2020)
    assert (report.partial.files, report.partial.bytes) == (1, 500)
    assert (report.unreferenced.files, report.unreferenced.bytes) == (3, 1020)
    assert sorted(report.folders.paths) == sorted(dry.folders.paths) == sorted([
        f"{project.folder}/files/gone", f"{project.folder}/runs/r/fa.part-1234",
        "projects/deleted-project/files/f", "projects/deleted-project/files", "projects/deleted-project",
        "projects/empty-old/files/x", "projects/empty-old/files", "projects/empty-old",
    ])
    assert (media / running.output_folder).is_dir()
    assert (media / "projects").is_dir() and (media / ".partial").is_dir() and temp.is_dir()
    assert record.file.read() == b"x" * 10


@pytest.mark.django_db
def test_the_age_limit_counts_from_now(alice, settings, aged):
    make_project(alice)  # a database in use: see the refusals below
    orphan = aged(settings.MEDIA_ROOT / "projects" / "p" / "files" / "f" / "a.wav", hours=30)
    assert cleanup.remove_orphans(now=timezone.now() - timedelta(hours=8)).unreferenced.files == 0
    assert orphan.exists()
    settings.CLEANUP_ORPHAN_AGE_HOURS = 36
    assert cleanup.remove_orphans().unreferenced.files == 0
    assert cleanup.remove_orphans(age_hours=29).unreferenced.files == 1
    assert not orphan.exists()


@pytest.mark.django_db
def test_the_command_says_what_it_removed_and_a_dry_run_removes_nothing(alice, settings, aged, capsys):
    make_project(alice)
    orphan = aged(settings.MEDIA_ROOT / "projects" / "p" / "files" / "f" / "a.wav", content=b"a" * 2048)
    call_command("remove_orphan_files", "--dry-run")
    assert orphan.exists()
    assert capsys.readouterr().out.splitlines() == [
        "temporary upload files: 0 would be removed",
        "half-written media files: 0 would be removed",
        "media files no record refers to: 1 would be removed (2.0 KB)",
        "empty folders: 3 would be removed",
        "Dry run: nothing was removed; 2.0 KB would be freed.",
    ]
    call_command("remove_orphan_files", verbosity=2)
    assert not orphan.exists()
    assert capsys.readouterr().out.splitlines() == [
        "temporary upload files: 0 removed",
        "half-written media files: 0 removed",
        "  projects/p/files/f/a.wav",
        "media files no record refers to: 1 removed (2.0 KB)",
        "  projects/p/files/f",
        "  projects/p/files",
        "  projects/p",
        "empty folders: 3 removed",
        "2.0 KB freed.",
    ]


def project_files(media, count, hours=48):
    """`count` old files under projects/, as uploads left them."""
    for i in range(count):
        path = media / "projects" / f"p{i % 7}" / "files" / f"f{i}" / "a.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
        os.utime(path, (time.time() - hours * 3600,) * 2)
    return sorted(p for p in (media / "projects").rglob("*") if p.is_file())


@pytest.mark.django_db
def test_the_cleanup_removes_no_project_file_when_the_database_has_no_projects_at_all(settings, aged, caplog):
    media = settings.MEDIA_ROOT
    files = project_files(media, 3)
    partial = aged(media / ".partial" / "0123abcd")
    temporary = aged(Path(settings.FILE_UPLOAD_TEMP_DIR) / "tmpab12.upload.wav")
    report = cleanup.remove_orphans()
    assert all(path.exists() for path in files)
    assert report.unreferenced.files == 0 and report.folders.files == 0
    # What is never referenced goes all the same.
    assert not partial.exists() and not temporary.exists()
    assert report.refused == (
        f"Refusing to remove 3 project file(s) older than the cleanup age in {media / 'projects'}: the database has "
        "no projects, files or processes at all. Is this the database that goes with this MEDIA_ROOT (the settings "
        "or environment of this cron job or shell)? Nothing under it was removed (temporary files and .partial/ were "
        "cleaned). See them with `manage.py remove_orphan_files --dry-run -v 2`; if they really are orphans, run it "
        "with --force."
    )
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [report.refused]
    assert cleanup.remove_orphans(force=True).unreferenced.files == 3
    assert not any(path.exists() for path in files)


@pytest.mark.django_db
def test_the_cleanup_removes_no_project_file_when_more_than_half_and_more_than_a_hundred_look_orphaned(
        alice, settings):
    media = settings.MEDIA_ROOT
    project = make_project(alice)
    files = project_files(media, 101)  # of 101 + 100 referenced below: just over half
    for i in range(100):
        record = ProjectFile(project=project, name=f"k{i}.txt", template_id="t", kind="transcript", size=1)
        record.file.save(f"k{i}.txt", ContentFile(b"k"), save=False)
        record.save()
    report = cleanup.remove_orphans()
    assert report.unreferenced.files == 0 and all(path.exists() for path in files)
    assert report.refused.startswith(f"Refusing to remove 101 of the 201 project files in {media / 'projects'} as "
                                     "unreferenced: more than 50% of them look like orphans, which a crash does not "
                                     "leave (a database restored from an older backup, or another one).")
    # A hundred orphans, or fewer than half: a crash's leftovers, removed.
    files[0].unlink()
    assert cleanup.remove_orphans().unreferenced.files == 100
    assert ProjectFile.objects.count() == 100 and all(os.path.exists(r.file.path) for r in ProjectFile.objects.all())


@pytest.mark.django_db
def test_the_command_refuses_a_wrong_looking_database_unless_forced(settings, capsys):
    files = project_files(settings.MEDIA_ROOT, 2)
    call_command("remove_orphan_files", "--dry-run")
    captured = capsys.readouterr()
    assert "media files no record refers to: 2 would be removed (2 bytes)" in captured.out
    assert captured.err.startswith("Without --force a real run would not remove the unreferenced files: Refusing to "
                                   "remove 2 project file(s)")
    # A cron job whose environment names another, empty, database with the same MEDIA_ROOT.
    cron = clean_env(settings.MEDIA_ROOT.parent, MEDIA_ROOT=str(settings.MEDIA_ROOT))
    assert manage(["migrate", "--no-input"], cron).returncode == 0
    result = manage(["remove_orphan_files"], cron)
    assert result.returncode == 1, result.stderr
    assert "media files no record refers to: 0 removed" in result.stdout
    assert "Refusing to remove 2 project file(s)" in result.stderr and "Traceback" not in result.stderr
    assert all(path.exists() for path in files)
    call_command("remove_orphan_files", "--force")
    assert "media files no record refers to: 2 removed (2 bytes)" in capsys.readouterr().out
    assert not any(path.exists() for path in files)


def test_the_command_refuses_a_negative_age(tmp_path):
    result = manage(["remove_orphan_files", "--age-hours", "-2"], clean_env(tmp_path))
    assert result.returncode == 2
    assert "argument --age-hours: 0 or more hours, not -2" in result.stderr
    assert "Traceback" not in result.stderr
