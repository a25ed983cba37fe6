"""Confidence on the pages (issue 17, item 2): low-confidence words marked in the result picture with their value
on hover, and the run page's "words to check", least confident first, each linking to where it is.

The result TextGrids are written by the bundled aligner's own writer (clamservices.textgrids) from intervals
with a confidence, so the pages read what the aligner writes; the audio is a tone per word (no aligner runs).
"""

import re
import tempfile
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from clamservices.aligner import Alignment, Interval
from clamservices.textgrids import write_textgrid
from pipelines.models import Run
from tests.factories import make_project
from tests.test_outcomes import entry, fa_process, finish, report
from tests.test_result_windows import GAP, WORD, long_audio
from upload.services import Upload

pytestmark = pytest.mark.django_db

# Word number: its confidence; the others get 0.95.
LOW = {3: 0.12, 7: 0.31, 12: 0.48}


def confident_grid(seconds, low=LOW):
    """The bytes of a TextGrid with words w0, w1, … (WORD s, GAP s apart), a phone each, and their confidence tiers."""
    words, phones, start, number = [], [], 0.0, 0
    while start + WORD + GAP <= seconds + 1e-9:
        value = low.get(number, 0.95)
        words.append(Interval(start, start + WORD, f"w{number}", confidence=value))
        phones.append(Interval(start, start + WORD, "W", confidence=value))
        start, number = start + WORD + GAP, number + 1
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "g.TextGrid"
        write_textgrid(path, Alignment(words, phones), seconds)
        return path.read_text(encoding="utf-8")


def confident_result(owner, seconds=10, low=LOW, name="Interview"):
    """A finished run whose one recording (interview.flac) has a result with confidence tiers."""
    project = make_project(owner, name)
    upload = Upload(project)
    upload.add(SimpleUploadedFile("interview.flac", long_audio(seconds)))
    upload.add(SimpleUploadedFile("interview.txt", b"words"))
    process = fa_process(project, [], {"interview.TextGrid": confident_grid(seconds, low),
                                       "report.json": report(entry("interview.flac"))})
    run = Run.objects.create(project=project, pipeline=project.pipeline, stage=Run.Stage.ALIGNING, fa_process=process)
    finish(process)
    run.refresh_from_db()
    return project, run


def page(client, name, *args, query=None):
    response = client.get(reverse(name, args=args), query or {})
    assert response.status_code == 200
    return response.content.decode()


def test_the_result_picture_marks_low_confidence_words_with_their_value_on_hover(alice_client, alice):
    project, run = confident_result(alice)

    html = page(alice_client, "pipelines-view-result", project.pk, run.pk, "interview.TextGrid")

    marked = re.findall(r'class="low" data-confidence="([\d.]+)"><title>(w\d+) ', html)
    assert [(w, v) for v, w in marked if w.startswith("w")] == [("w3", "0.12"), ("w7", "0.31"), ("w12", "0.48")]
    assert "<title>w3 1.500–1.900 s · confidence 0.12</title>" in html
    assert "<title>w4 2.000–2.400 s · confidence 0.95</title>" in html
    # The confidence tiers are the marks, not tiers of their own.
    assert "words confidence" not in html and 'data-tier="phones confidence"' not in html
    assert "Words and phones with a confidence below 0.5 are marked" in html


def test_a_long_result_marks_low_confidence_words_in_its_window(alice_client, alice):
    project, run = confident_result(alice, seconds=120, low={100: 0.2})

    html = page(alice_client, "pipelines-view-result", project.pk, run.pk, "interview.TextGrid", query={"at": "0:48"})

    assert re.search(r'class="l low" data-confidence="0.20"><title>w100 0:50.000–0:50.400 · confidence 0.20</title>',
                     html)
    assert html.count("low\"") == 2  # w100 and its phone


def test_the_run_page_lists_the_words_to_check_least_confident_first_with_links_to_them(alice_client, alice):
    project, run = confident_result(alice, seconds=120, low={**LOW, 100: 0.05})

    html = page(alice_client, "pipelines-run", project.pk, run.pk)

    section = html[html.index('id="words-to-check"'):html.index("</section>")]
    listed = re.findall(r'href="([^"]+)">“(w\d+)” at ([\d.:]+)</a> <span class="text-muted confidence">confidence '
                        r'([\d.]+)</span>', section)
    view = reverse("pipelines-view-result", args=[project.pk, run.pk, "interview.TextGrid"])
    # Times as m:ss.s, as a long recording's warnings and picture give them.
    assert listed == [(view + "?at=0:48", "w100", "0:50.0", "0.05"), (view + "?at=0:00", "w3", "0:01.5", "0.12"),
                      (view + "?at=0:01", "w7", "0:03.5", "0.31"), (view + "?at=0:04", "w12", "0:06.0", "0.48")]
    assert "interview.flac <span class=\"small text-muted\">(4 words)</span>" in section


def test_a_short_recordings_words_to_check_give_their_time_in_seconds(alice_client, alice):
    project, run = confident_result(alice)

    html = page(alice_client, "pipelines-run", project.pk, run.pk)

    assert re.findall(r'“(w\d+)” at ([^<]+)</a>', html) == [("w3", "1.50 s"), ("w7", "3.50 s"), ("w12", "6.00 s")]


def test_the_run_page_has_no_words_to_check_when_every_word_is_confident(alice_client, alice):
    project, run = confident_result(alice, low={})

    assert "words-to-check" not in page(alice_client, "pipelines-run", project.pk, run.pk)


def test_the_words_to_check_are_recorded_with_the_outcome_and_the_run_page_reads_no_result(alice_client, alice):
    project, run = confident_result(alice)
    assert run.outcomes.get().to_check == {"count": 3, "words": [
        {"label": "w3", "confidence": 0.12, "at": "0:00", "time": "1.50 s"},
        {"label": "w7", "confidence": 0.31, "at": "0:01", "time": "3.50 s"},
        {"label": "w12", "confidence": 0.48, "at": "0:04", "time": "6.00 s"}]}
    # The result changes after the outcome was recorded: the page still lists what the worker read.
    (Path(default_storage.path(run.fa_process.output_folder)) / "interview.TextGrid").write_text(
        confident_grid(10, low={}), encoding="utf-8")

    html = page(alice_client, "pipelines-run", project.pk, run.pk)

    assert re.findall(r'“(w\d+)” at ([^<]+)</a>', html) == [("w3", "1.50 s"), ("w7", "3.50 s"), ("w12", "6.00 s")]


def test_an_outcome_recorded_before_words_to_check_were_kept_has_them_read_from_its_result(alice_client, alice):
    project, run = confident_result(alice, low={5: 0.2})
    run.outcomes.update(to_check=None)

    html = page(alice_client, "pipelines-run", project.pk, run.pk)

    assert re.findall(r'“(w\d+)” at ([^<]+)</a>', html) == [("w5", "2.50 s")]


def test_a_result_that_cannot_be_read_is_recorded_with_no_words_to_check(alice):
    project = make_project(alice, "Broken")
    upload = Upload(project)
    upload.add(SimpleUploadedFile("interview.flac", long_audio(10)))
    upload.add(SimpleUploadedFile("interview.txt", b"words"))
    process = fa_process(project, [], {"interview.TextGrid": "not a TextGrid",
                                       "report.json": report(entry("interview.flac"))})
    run = Run.objects.create(project=project, pipeline=project.pipeline, stage=Run.Stage.ALIGNING, fa_process=process)
    finish(process)
    outcome = run.outcomes.get()
    assert (outcome.status, outcome.to_check) == ("aligned", {"words": [], "count": 0})
