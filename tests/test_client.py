"""The folder client (clients/equestria_align.py, bin/equestria-align) end to end: the live test server, the
bundled services, a `manage.py process_tasks` worker and the client, each as it runs for real, on a folder of
tests/data recordings with one bad recording among them. Its refusals without a server: its own tests below."""

import contextlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import zipfile

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
    assert "Refused: broken.wav: this is not audio that can be read (damaged, or not really a WAV file); its " \
        "transcript broken.txt is left out" in lines, result.stderr
    assert not [line for line in lines if "broken" in line and "Refused" not in line], result.stderr
    # Only the recording with the unknown word is aligned again; the client says so, as the run page does, of as many
    # recordings as the summary line (broken.wav's among them).
    assert "Aligning 1 of the 3 recordings with your pronunciations, those that need them; 1 keeps the result of " \
           "the first alignment." in lines
    assert "Kept from the first alignment (not aligned again after the review): cards-001.wav" in lines
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
    assert resume[0] == "equestria-align" and resume[-4:-1] == ["--review", "stop", "--resume"], lines[-1]
    page = next(line for line in lines if line.startswith("Alignment started: ")).split()[-1]
    assert page != resume[-1]
    # Reviewed (here: accepted by the client itself), --resume with the run's address (its page's, as the client
    # printed it when it started, or the API's) downloads the results.
    resumed = client(alone, "--server", live_server.url, "--resume", page, "--poll", "0.2", "--timeout", "240",
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


def test_the_client_looks_at_a_run_when_its_progress_says_it_ends_not_a_poll_later():
    # A run's step going from 0 to 100 % in 8.2 s; the clock is the test's own (no waiting).
    module, now, looks = client_module(), [0.0], []

    class Api:
        def json(self, method, url):
            looks.append(now[0])
            stage = "done" if now[0] >= 8.2 else "aligning"
            return {"url": url, "page": url, "stage": stage, "stage_label": stage,
                    "progress": {"percent": min(100, int(now[0] / 8.2 * 100)), "status": "running"}}

    def sleep(seconds):
        now[0] += seconds

    run = module.wait(Api(), {"url": "r", "stage_label": "queued"}, poll=5, timeout=600, quiet=True,
                      clock=lambda: now[0], sleep=sleep)
    assert run["stage"] == "done"
    assert looks[-1] - 8.2 < 0.5  # backing off alone, the last look came 4.1 s after the end
    assert len(looks) <= 12


def test_a_result_already_in_the_output_folder_stops_the_client_before_it_uploads(tmp_path):
    for name in ("a b.wav", "a b.txt", "c.wav", "c.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a b.TextGrid").write_text("mine")
    # No server listens there: the client stops before it would have asked one.
    refused = client(tmp_path, "--output", tmp_path / "out", "--server", f"http://127.0.0.1:{free_port()}", token="k",
                     timeout=60)
    assert refused.returncode == 2 and refused.stderr == (
        f"equestria-align: {tmp_path / 'out' / 'a b.TextGrid'} exists already; nothing was overwritten. Choose "
        "another --output, or add --overwrite.\n")
    assert (tmp_path / "out" / "a b.TextGrid").read_text() == "mine"


def test_the_client_names_each_recordings_warnings(capsys, tmp_path):
    module = client_module()
    run = {"url": "r", "page": "p", "stage": "done", "stage_label": "done", "results": "list", "summary": "1 of 1",
           "outcomes": [{"recording": "long é.wav", "result": "long é.TextGrid", "message": "",
                         "warnings": ["6.3 s of what sounds like speech after the transcript's last word"]}]}

    class Api:
        def json(self, method, url, **options):
            return run if url == "r" else {"results": [], "zip": None}

    args = module.parser().parse_args(["folder", "--output", str(tmp_path), "--token", "k"])
    assert module.finish(Api(), run, args, refused=[], unpaired=[]) == module.OK
    said = capsys.readouterr().err.splitlines()
    assert "Warning: long é.wav: 6.3 s of what sounds like speech after the transcript's last word" in said
    assert not any(line.startswith("Kept from the first alignment") for line in said)  # no review: nothing kept


def test_the_client_names_the_recordings_that_kept_their_first_result(capsys, tmp_path):
    module = client_module()
    outcomes = [{"recording": f"a{n}.wav", "result": f"a{n}.TextGrid", "message": "", "warnings": [],
                 "kept_from_first_alignment": n != 2} for n in range(1, 14)]
    run = {"url": "r", "page": "p", "stage": "done", "stage_label": "done", "results": "list", "summary": "13 of 13",
           "outcomes": outcomes}

    class Api:
        def json(self, method, url, **options):
            return run if url == "r" else {"results": [], "zip": None}

    args = module.parser().parse_args(["folder", "--output", str(tmp_path), "--token", "k"])
    assert module.finish(Api(), run, args, refused=[], unpaired=[]) == module.OK
    assert ("Kept from the first alignment (not aligned again after the review): a1.wav, a3.wav, a4.wav, a5.wav, "
            "a6.wav, a7.wav, a8.wav, a9.wav, a10.wav, a11.wav and 2 more") in capsys.readouterr().err.splitlines()


def test_the_client_looks_often_while_the_results_are_downloaded_and_sees_the_end_within_a_quarter_second():
    # The service's results downloaded from 20 s to 22.3 s (as for 100 short recordings), then the run is done; the
    # clock is the test's own (no waiting).
    module, now, looks = client_module(), [0.0], []

    class Api:
        def json(self, method, url):
            looks.append(now[0])
            stage = "done" if now[0] >= 22.3 else "aligning"
            status = "running" if now[0] < 20 else "downloading"
            return {"url": url, "page": url, "stage": stage, "stage_label": stage,
                    "progress": {"percent": 100 if status == "downloading" else 50, "status": status}}

    def sleep(seconds):
        now[0] += seconds

    run = module.wait(Api(), {"url": "r", "stage_label": "queued"}, poll=1, timeout=600, quiet=True,
                      clock=lambda: now[0], sleep=sleep)
    assert run["stage"] == "done"
    assert looks[-1] - 22.3 <= 0.25  # backing off, the end was seen 0.76 s late
    downloading = [t for t in looks if 20 <= t < 22.3]
    assert len(downloading) <= 12


def test_the_client_never_writes_its_results_over_the_recordings_folder(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"RIFF")
    refused = client(tmp_path, "--output", tmp_path, "--server", f"http://127.0.0.1:{free_port()}", token="k", timeout=60)
    assert (refused.returncode, refused.stderr) == (2, f"equestria-align: --output is the folder of the recordings "
                                                       f"({tmp_path}): the results would replace its TextGrids. Choose "
                                                       "another folder.\n")


@contextlib.contextmanager
def serving(routes):
    """A small HTTP server on 127.0.0.1 answering GET {path: body} (JSON for a dict or list, else bytes; a callable
    is given the server's address first; a path with a query not in `routes` gets its path's body), for the
    client's downloads without a whole site."""
    import http.server

    class Routes(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            body = routes.get(self.path) or routes[self.path.partition("?")[0]]
            body = body(f"http://127.0.0.1:{self.server.server_address[1]}") if callable(body) else body
            body = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Routes)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def zip_of(members):
    """A zip of {name: bytes}; a ZipInfo as a name keeps its attributes (a link's)."""
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return data.getvalue()


def results_of(zip_bytes, names=("a.TextGrid",), recording="a.wav"):
    return {"/api/v1/runs/r/results/": lambda base: {
                "count": len(names), "next": None, "previous": None,
                "results": [{"recording": recording, "name": name} for name in names],
                "zip": {f: f"{base}/zip?format={f}" for f in ("all", "textgrid", "eaf", "csv", "json")}},
            **{f"/zip?format={f}": zip_bytes for f in ("all", "textgrid", "eaf", "csv", "json")}}


RUN = {"results": "runs/r/results/"}


def test_a_download_keeps_a_file_of_that_name_unless_told_to_overwrite(tmp_path):
    module = client_module()
    (tmp_path / "a.TextGrid").write_text("corrected by hand")
    # The zip's layout (pipelines.results.results_zip): the TextGrids at its top with the run's report, the
    # other formats in folders; the output folder gets the results of the format asked for, without folders.
    archive = zip_of({"a.TextGrid": "new", "b.TextGrid": "b", "report.csv": "recording,status\n",
                      "dictionary.dict": "pony P OW N IY\n", "ELAN/a.eaf": "<ANNOTATION_DOCUMENT/>"})
    with serving(results_of(archive, names=("a.TextGrid", "b.TextGrid"))) as base:
        api = module.Api(base, "token", timeout=10)
        with pytest.raises(module.Stop) as refused:
            module.download(api, RUN, tmp_path, "textgrid", quiet=True)
        assert str(refused.value) == (f"{tmp_path / 'a.TextGrid'} exists already; nothing was overwritten. Choose "
                                      "another --output, or add --overwrite.")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a.TextGrid"]  # b.TextGrid neither, nor a partial zip
        assert (tmp_path / "a.TextGrid").read_text() == "corrected by hand"

        assert module.download(api, RUN, tmp_path, "textgrid", quiet=True, overwrite=True) == ["a.TextGrid",
                                                                                                "b.TextGrid"]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a.TextGrid", "b.TextGrid"]
        assert (tmp_path / "a.TextGrid").read_text() == "new"
        assert module.download(api, RUN, tmp_path / "elan", "eaf", quiet=True) == ["a.eaf"]
        assert (tmp_path / "elan" / "a.eaf").read_text() == "<ANNOTATION_DOCUMENT/>"


def _link(name):
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize("member, message", [
    ("../x.TextGrid", "holds “../x.TextGrid”, which would be written outside {output}; nothing was written."),
    ("/tmp/x.TextGrid", "holds “/tmp/x.TextGrid”, which would be written outside {output}; nothing was written."),
    (_link("b.TextGrid"), "holds a link, “b.TextGrid”; nothing was written."),
], ids=["parent", "absolute", "link"])
def test_a_zip_with_a_name_outside_the_output_folder_or_a_link_is_refused_whole(tmp_path, member, message):
    module = client_module()
    output = tmp_path / "aligned"
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("a.TextGrid", "a")
        z.writestr(member, "/etc/passwd" if isinstance(member, zipfile.ZipInfo) else "x")
    with serving(results_of(archive.getvalue())) as base:
        with pytest.raises(module.Stop) as refused:
            module.download(module.Api(base, "token", timeout=10), RUN, output, "textgrid", quiet=True)
    assert str(refused.value) == "The results' zip the server sent " + message.format(output=output)
    assert list(output.iterdir()) == [] and not (tmp_path / "x.TextGrid").exists()


def test_a_one_service_runs_outputs_are_downloaded_with_their_subfolders_following_the_results_pages(tmp_path):
    module = client_module()
    archive = zip_of({"a.counts": "3", "sub/b.counts": "4", "report.csv": "recording,status\n"})
    routes = results_of(archive, names=("a.counts",), recording=None)
    first = routes["/api/v1/runs/r/results/"]
    routes["/api/v1/runs/r/results/"] = lambda base: {**first(base), "next": f"{base}/api/v1/runs/r/results/?page=2"}
    routes["/api/v1/runs/r/results/?page=2"] = {"count": 2, "next": None, "previous": "…",
                                        "results": [{"recording": None, "name": "sub/b.counts"}], "zip": None}
    with serving(routes) as base:
        written = module.download(module.Api(base, "token", timeout=10), RUN, tmp_path, "textgrid", quiet=True)
    assert written == ["a.counts", "sub/b.counts"]
    assert (tmp_path / "sub" / "b.counts").read_text() == "4" and not (tmp_path / "report.csv").exists()


def test_the_results_list_pages_and_says_so_of_a_page_it_does_not_have(alice, tmp_path):
    from django.urls import reverse

    from tests.test_api import api, assert_error
    from tests.test_exports import exported_run
    from tests.test_one_script import finished_run, single_pipeline

    _, run = exported_run(alice, tmp_path, stems=("a", "b", "c"))
    client = api(token_for(alice))
    url = reverse("api-result-list", args=[run.project_id, run.pk])

    first = client.get(url, {"page_size": 2}).json()
    assert (first["count"], [r["name"] for r in first["results"]], first["previous"]) == (
        3, ["a.TextGrid", "b.TextGrid"], None)
    assert first["next"] == f"http://testserver{url}?page=2&page_size=2"
    last = client.get(first["next"]).json()
    assert ([r["name"] for r in last["results"]], last["next"]) == (["c.TextGrid"], None)
    assert last["zip"] == first["zip"] and last["previous"] == f"http://testserver{url}?page_size=2"
    assert_error(client.get(url, {"page": 3, "page_size": 2}), 404, "not_found",
                 "There is no page “3” of this run's results: pages are numbered from 1, and each page's `next` "
                 "links to the one after it.")

    single = finished_run(alice, {"a.counts": b"3\n", "b.counts": b"4\n", "sub/c.counts": b"5\n"},
                          project=make_project(alice, name="Counts", pipeline=single_pipeline()))
    url = reverse("api-result-list", args=[single.project_id, single.pk])
    pages = [client.get(url, {"page": page, "page_size": 2}).json() for page in (1, 2)]
    assert [[r["name"] for r in page["results"]] for page in pages] == [["a.counts", "b.counts"], ["sub/c.counts"]]
    assert [page["count"] for page in pages] == [3, 3]


@pytest.mark.django_db(transaction=True)
def test_the_client_says_one_thing_of_each_recording_whose_transcript_is_empty(live_server, english, alice, worker,
                                                                              tmp_path):
    folder = tmp_path / "session"
    folder.mkdir()
    for extension in (".wav", ".txt"):
        shutil.copy(DATA / f"cards-001{extension}", folder)
    recordings = {"empty": b"", "blank": b"  \n\t\r\n", "dots": b"... -- !\n"}
    for stem, transcript in recordings.items():
        shutil.copy(DATA / "cards-002.wav", folder / f"{stem}.wav")
        (folder / f"{stem}.txt").write_bytes(transcript)
    output = tmp_path / "aligned"

    result = client(folder, "--server", live_server.url, "--output", output, "--poll", "0.2", "--timeout", "240",
                    token=token_for(alice))

    assert sorted(p.name for p in output.iterdir()) == ["cards-001.TextGrid"], result.stderr
    assert result.returncode == 1, result.stderr
    # One line of each recording (the progress bars aside), as the upload and the run's outcomes have it: the server
    # refused the empty transcripts, so their recordings were left out, never "add empty.txt".
    lines = [line for line in result.stderr.splitlines() if "%|" not in line and line.strip()]
    said = {stem: [line for line in lines if f"{stem}." in line] for stem in recordings}
    assert said == {
        "empty": ["Refused: empty.txt: the file is empty; its recording empty.wav is left out"],
        "blank": ["Refused: blank.txt: the file contains no text; its recording blank.wav is left out"],
        "dots": ["Left out: dots.txt has no words to align (only punctuation or spaces): correct it and upload it "
                 "again (tick “Replace”), or delete it and its recording."],
    }, result.stderr
    assert lines[-1] == f"1 of 4 recordings aligned; 3 not aligned. 1 result(s) in {output}"


def test_a_refusal_names_the_recording_it_leaves_out_only_when_it_is_its_partner():
    module = client_module()
    unpaired = [{"names": ["a.wav"], "badge": "no transcript", "message": "a.wav has no transcript: add a.txt."},
                {"names": ["b.TextGrid"], "badge": "no audio", "message": "b.TextGrid has no recording: add b.wav."},
                {"names": ["c.wav"], "badge": "too long", "message": "c.wav is 61.0 minutes long"}]
    refused = [("a.dict", "a.dict: not a dictionary"), ("a.TXT", "the file is empty"), ("a.eaf", "a.eaf: bad"),
               ("b.flac", "b.flac: no audio"), ("c.txt", "c.txt: the file is empty")]
    assert module.upload_lines(refused, unpaired) == [
        "Refused: a.dict: not a dictionary",
        "Refused: a.TXT: the file is empty; its recording a.wav is left out",
        "Refused: a.eaf: bad",
        "Refused: b.flac: no audio; its transcript b.TextGrid is left out",
        "Refused: c.txt: the file is empty",
        "Left out: c.wav is 61.0 minutes long",
    ]


@pytest.mark.django_db(transaction=True)
def test_the_client_unpacks_the_zip_the_server_streams(live_server, alice, tmp_path, capfd):
    """The real results zip, made while it is sent (no Content-Length), through a real server: unpacked whole,
    and the progress counts what came."""
    from tests.test_exports import exported_run

    project, run = exported_run(alice, tmp_path, stems=("a", "b"))
    module = client_module()
    api = module.Api(live_server.url, token_for(alice), timeout=30)
    results = f"projects/{project.pk}/runs/{run.pk}/results/"
    with api.call("GET", api.url(f"projects/{project.pk}/runs/{run.pk}/results.zip"), stream=True) as response:
        assert "Content-Length" not in response.headers and response.headers["Content-Type"] == "application/zip"
    assert module.download(api, {"results": results}, tmp_path / "elan", "eaf", quiet=False) == ["a.eaf", "b.eaf"]
    assert all((tmp_path / "elan" / name).read_bytes().startswith(b"<?xml") for name in ("a.eaf", "b.eaf"))
    assert module.download(api, {"results": results}, tmp_path / "grids", "textgrid", quiet=True) == [
        "a.TextGrid", "b.TextGrid"]
    assert textgrid.openTextgrid(str(tmp_path / "grids" / "b.TextGrid"), includeEmptyIntervals=False).tierNames
    assert "Downloading the results" in capfd.readouterr().err


def _stages(*looks):
    """An Api whose run is, look after look, at these (stage, percent, message)."""
    class Api:
        seen = 0

        def json(self, method, url):
            stage, percent, message = looks[min(Api.seen, len(looks) - 1)]
            Api.seen += 1
            return {"url": url, "page": url, "stage": stage, "stage_label": stage.replace("_", " "),
                    "progress": {"percent": percent, "status": "running", "message": message}}
    return Api()


LOOKS = [("aligning", 40, "aligning"), ("aligning", 97, "looking again at 2 recordings"), ("aligning", 100, ""),
         ("transcribing", 0, "proposing pronunciations"), ("transcribing", 60, ""), ("review", 100, "")]


def _drawn(err):
    """Each state tqdm drew on stderr (it redraws a line with \r)."""
    return [part.strip() for line in err.split("\n") for part in line.split("\r") if part.strip()]


def test_the_clients_bar_is_one_per_stage_never_goes_back_nor_says_100_before_its_stage_ends(capsys):
    module = client_module()
    assert module.tqdm is not None
    run = module.wait(_stages(*LOOKS), {"url": "r", "stage_label": "queued"}, poll=1, timeout=600, quiet=False,
                      clock=lambda: 0.0, sleep=lambda seconds: None)
    assert run["stage"] == "review"
    drawn = _drawn(capsys.readouterr().err)
    aligning = [d for d in drawn if d.startswith("aligning:")]
    transcribing = [d for d in drawn if d.startswith("transcribing:")]
    assert aligning and transcribing and len(aligning) + len(transcribing) == len(drawn), drawn
    assert not any(d.startswith("review") for d in drawn)  # no bar, let alone a full one, for the review

    def percents(lines):
        return [int(d.split(":")[1].split("%")[0]) for d in lines]
    # Each stage's bar only goes up, to 100 % only once its stage has ended (the server's 97 and 100 % are 99 while
    # it runs).
    for lines in (aligning, transcribing):
        assert percents(lines) == sorted(percents(lines)) and percents(lines)[-1] == 100
        assert 100 not in percents(lines)[:-1]
    assert 99 in percents(aligning) and 60 in percents(transcribing)
    # What the step does, after the bar; no rate ("1.11s/%") nor time left.
    assert any(d.endswith("looking again at 2 recordings") for d in aligning)
    assert any("proposing pronunciations" in d for d in transcribing)
    assert not any("/%" in d or "%/s" in d or "<" in d or "?" in d for d in drawn), drawn


def test_without_tqdm_the_stages_lines_say_the_same(capsys):
    module = client_module()
    module.tqdm = None
    module.wait(_stages(*LOOKS, ("done", 0, "")), {"url": "r", "stage_label": "queued"}, poll=1, timeout=600,
                quiet=False, clock=lambda: 0.0, sleep=lambda seconds: None)
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["aligning: 40% (aligning)", "aligning: 90% (looking again at 2 recordings)", "aligning: 90%",
                     "aligning: 100%", "transcribing: 0% (proposing pronunciations)", "transcribing: 60%",
                     "transcribing: 100%"], lines


def test_a_long_status_is_shortened_to_the_terminals_width(capsys, monkeypatch):
    module = client_module()
    monkeypatch.setattr(module.shutil, "get_terminal_size", lambda fallback: os.terminal_size((60, 24)))
    long = "looking again at the recordings whose words sound least like their transcripts " * 3
    module.wait(_stages(("aligning", 10, long), ("done", 0, "")), {"url": "r", "stage_label": "queued"}, poll=1,
                timeout=600, quiet=False, clock=lambda: 0.0, sleep=lambda seconds: None)
    drawn = _drawn(capsys.readouterr().err)
    assert any(d.endswith("…") and "looking again" in d for d in drawn), drawn
    assert all(len(d) <= 60 for d in drawn), drawn
