"""Every word to check of a run, not only the run page's ten per recording: the page links a CSV of them all
(pipelines.results.words_to_check_csv) and lists the words of the first RECORDINGS_TO_CHECK_LISTED recordings.
Results are written by the bundled aligner's own writer (tests/test_confidence_pages.py's helpers)."""

import csv
import io
import os
import re
import shutil

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from pipelines import exports, results
from pipelines.models import Run
from tests.factories import make_project
from tests.test_confidence_pages import confident_grid, confident_result, page
from tests.test_outcomes import entry, fa_process, finish, report
from tests.test_result_windows import long_audio
from upload.services import Upload

pytestmark = pytest.mark.django_db

TWELVE = {n: round(0.1 + 0.01 * n, 2) for n in range(12)}  # w0 the least confident


def csv_rows(response):
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="words-to-check.csv"'
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")  # spreadsheet programs read it as UTF-8
    return list(csv.reader(io.StringIO(body[1:])))


def test_the_run_page_shows_ten_words_a_recording_and_links_a_csv_of_all_of_them(alice_client, alice):
    project, run = confident_result(alice, low=TWELVE)

    html = page(alice_client, "pipelines-run", project.pk, run.pk)

    section = html[html.index('id="words-to-check"'):html.index("</section>")]
    assert re.findall(r"“(w\d+)”", section) == [f"w{n}" for n in range(10)]
    assert "interview.flac <span class=\"small text-muted\">(12 words, the 10 least confident shown: all in the CSV)" \
        in section
    url = reverse("pipelines-download-words-to-check", args=[project.pk, run.pk])
    assert f'<a id="words-to-check-csv" href="{url}">Download all 12 words to check (CSV)</a> of 1 recording' in section
    assert "to-check-cut" not in section

    rows = csv_rows(alice_client.get(url))
    assert rows[0] == ["recording", "speaker", "word", "start", "end", "confidence", "result"]
    assert rows[1] == ["interview.flac", "", "w0", "0.000", "0.400", "0.10", "interview.TextGrid"]
    assert [row[2] for row in rows[1:]] == [f"w{n}" for n in range(12)]


def test_the_csv_is_the_owners_only(alice, bob, client):
    project, run = confident_result(alice)
    url = reverse("pipelines-download-words-to-check", args=[project.pk, run.pk])
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts-login"))
    client.force_login(bob)
    assert client.get(url).status_code == 404


def test_a_run_with_many_recordings_lists_the_first_and_points_to_the_csv_for_the_rest(alice_client, alice,
                                                                                        monkeypatch):
    project = make_project(alice, "Many")
    upload = Upload(project)
    stems = ["a", "b", "c"]
    for stem in stems:
        upload.add(SimpleUploadedFile(f"{stem}.flac", long_audio(10)))
        upload.add(SimpleUploadedFile(f"{stem}.txt", b"words"))
    process = fa_process(project, [], {**{f"{s}.TextGrid": confident_grid(10, {1: 0.2}) for s in stems},
                                       "report.json": report(*(entry(f"{s}.flac") for s in stems))})
    run = Run.objects.create(project=project, pipeline=project.pipeline, stage=Run.Stage.ALIGNING, fa_process=process)
    finish(process)
    # Two stand for the hundred of the limit (the same code path, without a hundred results).
    monkeypatch.setattr(results, "RECORDINGS_TO_CHECK_LISTED", 2)

    html = page(alice_client, "pipelines-run", project.pk, run.pk)

    assert re.findall(r'data-recording="([^"]+)"', html) == ["a.flac", "b.flac"]
    assert "The words to check of the first 2 of 3 recordings are listed: download the CSV for the rest." in html
    assert "Download all 3 words to check (CSV)</a> of 3 recordings" in html
    rows = csv_rows(alice_client.get(reverse("pipelines-download-words-to-check", args=[project.pk, run.pk])))
    assert [(row[0], row[2]) for row in rows[1:]] == [("a.flac", "w1"), ("b.flac", "w1"), ("c.flac", "w1")]


def test_the_csv_reads_a_result_once_while_it_stays_as_it_is(alice_client, alice, monkeypatch):
    project, run = confident_result(alice, low=TWELVE)
    url = reverse("pipelines-download-words-to-check", args=[project.pk, run.pk])
    results._every_word_to_check.cache_clear()
    read = []
    real = exports.read_result
    # A spy: the result is read as always, and each reading noted (a test cannot time hundreds of hour-long results).
    monkeypatch.setattr(exports, "read_result", lambda path, **kwargs: read.append(path) or real(path, **kwargs))

    first = csv_rows(alice_client.get(url))
    assert len(first) == 13 and len(read) == 1
    assert csv_rows(alice_client.get(url)) == first and len(read) == 1

    # The result replaced by a file of its own (as a new file is renamed into place), of the same size and time.
    path = results.result_path(run, "interview.TextGrid")
    stat = os.stat(path)
    shutil.copyfile(path, path + ".new")
    os.utime(path + ".new", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(path + ".new", path)
    assert csv_rows(alice_client.get(url)) == first and len(read) == 2


def test_cells_a_spreadsheet_would_take_for_a_formula_start_with_an_apostrophe(alice_client, alice):
    project = make_project(alice, "Formulas")
    upload = Upload(project)
    upload.add(SimpleUploadedFile("=cmd.flac", long_audio(10)))
    upload.add(SimpleUploadedFile("=cmd.txt", b"words"))
    words = {1: 0.2, 2: 0.25, 3: 0.3, 4: 0.35}
    grid = confident_grid(10, words).replace('"w1"', '"=SUM(A1)"').replace('"w2"', '"+1"').replace(
        '"w3"', '"-1"').replace('"w4"', '"@me"')
    process = fa_process(project, [], {"=cmd.TextGrid": grid, "report.json": report(entry("=cmd.flac"))})
    run = Run.objects.create(project=project, pipeline=project.pipeline, stage=Run.Stage.ALIGNING, fa_process=process)
    finish(process)

    rows = csv_rows(alice_client.get(reverse("pipelines-download-words-to-check", args=[project.pk, run.pk])))
    assert [(row[0], row[2], row[6]) for row in rows[1:]] == [
        ("'=cmd.flac", "'=SUM(A1)", "'=cmd.TextGrid"), ("'=cmd.flac", "'+1", "'=cmd.TextGrid"),
        ("'=cmd.flac", "'-1", "'=cmd.TextGrid"), ("'=cmd.flac", "'@me", "'=cmd.TextGrid")]


def test_speaker_labels_a_spreadsheet_would_take_for_a_formula_start_with_an_apostrophe(alice_client, alice):
    from tests.factories import make_fa_pipeline
    from tests.utterance_files import speaker_result, textgrid as transcript_grid

    project = make_project(alice, "Speakers", pipeline=make_fa_pipeline(tiered=True))
    upload = Upload(project)
    upload.add(SimpleUploadedFile("interview.flac", long_audio(10)))
    upload.add(SimpleUploadedFile("interview.TextGrid", transcript_grid()))
    grid = speaker_result(10, {"a3": 0.12, "b1": 0.3, "c2": 0.2, "d4": 0.25}, speakers=("=boss", "+1", "-2", "@team"))
    process = fa_process(project, [], {"interview.TextGrid": grid, "report.json": report(entry("interview.flac"))})
    run = Run.objects.create(project=project, pipeline=project.pipeline, stage=Run.Stage.ALIGNING, fa_process=process)
    finish(process)

    rows = csv_rows(alice_client.get(reverse("pipelines-download-words-to-check", args=[project.pk, run.pk])))
    assert [(row[1], row[2]) for row in rows[1:]] == [("'=boss", "a3"), ("'-2", "c2"), ("'@team", "d4"), ("'+1", "b1")]
