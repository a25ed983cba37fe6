"""The folder client (clients/equestria_align.py, bin/equestria-align) end to end: the live test server, the
bundled services, a `manage.py process_tasks` worker and the client, each as it runs for real, on a folder of
tests/data recordings with one bad recording among them. Its refusals without a server: its own tests below."""

import os
import shutil
import subprocess
import sys

import pytest
from django.conf import settings
from praatio import textgrid

from tests.clamservers import PASSWORD, USER
from tests.factories import make_project
from tests.helpers import DATA, ROOT, database_url_of_this_test_run, free_port
from tests.test_api import token_for

CLIENT = [sys.executable, str(ROOT / "clients" / "equestria_align.py")]


def client(*args, token, timeout=300):
    env = {**os.environ, "EQUESTRIA_TOKEN": token}
    env.pop("EQUESTRIA_SERVER", None)
    return subprocess.run([*CLIENT, *map(str, args)], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def worker(tmp_path):
    env = {**os.environ, "DATABASE_URL": database_url_of_this_test_run(), "MEDIA_ROOT": str(settings.MEDIA_ROOT),
           "CLAM_PASSWORD_KEYS": ",".join(settings.CLAM_PASSWORD_KEYS), "CLAM_SERVICES_USER": USER,
           "CLAM_SERVICES_PASSWORD": PASSWORD}
    with open(tmp_path / "worker.log", "w") as log:
        process = subprocess.Popen([sys.executable, "manage.py", "process_tasks", "--sleep", "0.1"], cwd=ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    yield process
    process.terminate()
    process.wait(timeout=30)


@pytest.mark.django_db(transaction=True)
def test_the_client_aligns_a_folder_accepting_the_proposed_pronunciations(live_server, english, alice, worker,
                                                                         tmp_path):
    folder = tmp_path / "interviews"
    folder.mkdir()
    for stem in ("cards-001", "oov-equestria"):  # the second has a word the aligner does not know: a review
        for extension in (".wav", ".txt"):
            shutil.copy(DATA / f"{stem}{extension}", folder)
    (folder / "broken.wav").write_bytes(b"RIFF, but not a recording")
    (folder / "broken.txt").write_text("ten of clubs")
    (folder / "notes.md").write_text("not for the aligner")
    output = tmp_path / "aligned"

    result = client(folder, "--server", live_server.url, "--output", output, "--poll", "0.2", "--timeout", "240",
                    token=token_for(alice))

    assert sorted(p.name for p in output.iterdir()) == ["cards-001.TextGrid", "oov-equestria.TextGrid"], result.stderr
    assert result.returncode == 1, result.stderr  # done, but not everything: the bad recording is listed
    lines = result.stderr.splitlines()
    assert "Not uploaded (not a recording, transcript or dictionary): notes.md" in lines
    assert "Refused: broken.wav: this is not audio that can be read (damaged, or not really a WAV file)" \
        in lines, result.stderr
    assert "Left out: broken.txt has no recording: add broken.wav or broken.flac." in lines, result.stderr
    assert "Aligning again with the proposed pronunciations." in lines
    assert lines[-1] == f"2 of 3 recordings aligned; 1 not aligned. 2 result(s) in {output}"
    grid = textgrid.openTextgrid(str(output / "oov-equestria.TextGrid"), includeEmptyIntervals=False)
    assert "equestria" in [entry.label.lower() for tier in grid.tiers for entry in tier.entries]

    # --review stop, on the same server and worker: the client stops at the review with its page's address.
    alone = tmp_path / "review"
    alone.mkdir()
    for extension in (".wav", ".txt"):
        shutil.copy(DATA / f"oov-equestria{extension}", alone)
    stopped = client(alone, "--server", live_server.url, "--review", "stop", "--poll", "0.2", "--timeout", "240",
                     token=token_for(alice))
    assert stopped.returncode == 6, stopped.stderr
    last = stopped.stderr.splitlines()[-3]
    assert last.startswith("equestria-align: The run waits for your review of the pronunciations of 1 unknown "
                           "word(s) (equestria): http://"), last
    lines = stopped.stderr.splitlines()
    assert lines[-3].endswith("/dictionary/") and not (alone / "aligned").exists()  # the review page
    assert lines[-2] == "Once it is reviewed there, get the results with:"
    resume = lines[-1].split()
    assert resume[:2] == ["equestria-align", str(alone)] and resume[-2] == "--resume", lines[-1]
    # Reviewed (here: accepted by the client itself), the same command with --resume downloads the results.
    resumed = client(alone, "--server", live_server.url, "--resume", resume[-1], "--poll", "0.2", "--timeout", "240",
                     token=token_for(alice))
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(p.name for p in (alone / "aligned").iterdir()) == ["oov-equestria.TextGrid"]
    elsewhere = client(alone, "--server", live_server.url, "--resume", "http://127.0.0.1:9/api/v1/projects/x/runs/y/",
                       token=token_for(alice), timeout=60)
    assert elsewhere.returncode == 2 and "--resume takes the run's address that equestria-align printed" \
        in elsewhere.stderr


@pytest.mark.django_db(transaction=True)
def test_the_client_says_why_it_cannot_go_on(live_server, alice, tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    key = token_for(alice)
    down = client(folder, "--server", f"http://127.0.0.1:{free_port()}", token=key, timeout=60)
    assert (down.returncode, down.stderr) == (2, f"equestria-align: {folder} has no .wav, .flac, .txt, .TextGrid, "
                                                 ".eaf or .dict files.\n")
    (folder / "a.txt").write_text("ten of clubs")
    port = free_port()
    down = client(folder, "--server", f"http://127.0.0.1:{port}", token=key, timeout=60)
    assert (down.returncode, down.stderr) == (4, f"equestria-align: Cannot reach the server at http://127.0.0.1:{port}"
                                                 "/api/v1/: connection refused. Check --server and that the server "
                                                 "runs.\n")
    make_project(alice, name="empty")
    taken = client(folder, "--server", live_server.url, token=key, timeout=60)
    assert taken.returncode == 2
    assert taken.stderr.splitlines()[-1] == ("equestria-align: You already have a project named “empty”; choose "
                                             "another with --project (or delete it on the site).")
    refused = client(folder, "--server", live_server.url, token="0" * 64, timeout=60)
    assert refused.returncode == 3
    assert refused.stderr == ("equestria-align: The server refused the token: The token is not valid: it was revoked, "
                              "or it is not the whole key. Create a new one on the “API tokens” page of your account.\n")
    stopped = client(folder, "--server", live_server.url, "--review", "stop", token="", timeout=60)
    assert stopped.returncode == 2 and "give a token with --token or $EQUESTRIA_TOKEN" in stopped.stderr


def client_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("equestria_align", ROOT / "clients" / "equestria_align.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("streamed", [True, False], ids=["requests-toolbelt", "in-memory"])
def test_an_upload_throttled_once_is_sent_again_whole(tmp_path, streamed):
    import http.server
    import threading

    bodies = []

    class Throttling(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
            answer = b'{"refused": [], "notes": []}'
            self.send_response(429 if len(bodies) == 1 else 201)
            self.send_header("Retry-After", "0")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    module = client_module()
    if not streamed:  # as without requests-toolbelt installed (an optional package of the client)
        module.MultipartEncoder = module.MultipartEncoderMonitor = None
    (tmp_path / "a.txt").write_bytes(b"ten of clubs")
    server = http.server.HTTPServer(("127.0.0.1", 0), Throttling)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        api = module.Api(f"http://127.0.0.1:{server.server_address[1]}", "token", timeout=10, retries=2)
        refused, _ = module.upload(api, {"id": "p"}, [tmp_path / "a.txt"], max_bytes=1 << 20, max_files=10, quiet=True)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert refused == [] and len(bodies) == 2
    assert all(b"ten of clubs" in body for body in bodies)


def test_a_retry_after_that_is_not_seconds_waits_five():
    module = client_module()
    assert module.retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 5
    assert [module.retry_after(v) for v in (None, "nan", "-3", "2", "600")] == [5, 5, 5, 2, 120]


def test_the_client_never_writes_its_results_over_the_recordings_folder(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"RIFF")
    refused = client(tmp_path, "--output", tmp_path, "--server", f"http://127.0.0.1:{free_port()}", token="k", timeout=60)
    assert (refused.returncode, refused.stderr) == (2, f"equestria-align: --output is the folder of the recordings "
                                                       f"({tmp_path}): the results would replace its TextGrids. Choose "
                                                       "another folder.\n")


def test_a_download_keeps_a_file_of_that_name_unless_told_to_overwrite(tmp_path):
    import http.server
    import threading

    class Results(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            port = self.server.server_address[1]
            answer = (b"new" if self.path == "/a" else
                      f'{{"results": [{{"name": "a.TextGrid", "downloads": {{"textgrid": "http://127.0.0.1:{port}/a"}}}}]}}'
                      .encode())
            self.send_response(200)
            self.send_header("Content-Disposition", 'attachment; filename="a.TextGrid"')
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    module = client_module()
    (tmp_path / "a.TextGrid").write_text("corrected by hand")
    server = http.server.HTTPServer(("127.0.0.1", 0), Results)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        api = module.Api(f"http://127.0.0.1:{server.server_address[1]}", "token", timeout=10)
        run = {"results": "runs/r/results/"}
        with pytest.raises(module.Stop) as refused:
            module.download(api, run, tmp_path, "textgrid", quiet=True)
        assert str(refused.value) == (f"{tmp_path / 'a.TextGrid'} exists already; nothing of it was overwritten. "
                                      "Choose another --output, or add --overwrite.")
        assert (tmp_path / "a.TextGrid").read_text() == "corrected by hand"
        assert module.download(api, run, tmp_path, "textgrid", quiet=True, overwrite=True) == ["a.TextGrid"]
        assert (tmp_path / "a.TextGrid").read_text() == "new"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
