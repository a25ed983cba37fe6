"""The picture of a long result, a window at a time (pipelines.pictures.window): small pages for an hour,
readable labels, bad times told and clamped, the warnings' times linked to their windows; short
results drawn whole as before.

An hour-long FLAC (a tone during each "word", silence between) and a TextGrid of 7200 words are
written by the test; the run is built in the database (no CLAM service), as in tests/test_run_pages.py.
"""

import io
import re

import numpy as np
import pytest
import soundfile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from pipelines.models import Run
from tests.conftest import CsrfClient
from tests.factories import make_project
from tests.test_outcomes import entry, fa_process, finish, report
from upload.services import Upload

pytestmark = pytest.mark.django_db

RATE = 8000
WORD, GAP = 0.4, 0.1
WARNINGS = ["2 words fit the audio poorly (check the transcript and the recording there): “w1441” at 720.5 s, "
            "“w1442” at 721.0 s",
            "words 3600–3610 (“w3599” … “w3609”) could not be placed between 29:59 and 30:03; check the transcript there"]


def long_audio(seconds):
    """FLAC bytes: a quiet tone in each word, silence between (silence costs FLAC nothing)."""
    t = np.arange(int(seconds * RATE)) / RATE
    in_word = (t % (WORD + GAP)) < WORD
    samples = (np.sin(2 * np.pi * 220 * t) * 3000 * in_word).astype(np.int16)
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, RATE, format="FLAC")
    return buffer.getvalue()


def long_grid(seconds, points=False):
    """A TextGrid in Praat's long format: words w0, w1, … of WORD s with GAP s between, three phones each."""
    words, phones, start = [], [], 0.0
    while start + WORD + GAP <= seconds + 1e-9:
        words += [(start, start + WORD, f"w{len(words) // 2}"), (start + WORD, start + WORD + GAP, "")]
        phones += [(start + k * WORD / 3, start + (k + 1) * WORD / 3, p) for k, p in enumerate(("W", "ER", "D"))]
        phones.append((start + WORD, start + WORD + GAP, ""))
        start += WORD + GAP

    def tier(number, name, entries):
        return (f'    item [{number}]:\n        class = "IntervalTier"\n        name = "{name}"\n        xmin = 0\n'
                f"        xmax = {entries[-1][1]:.3f}\n        intervals: size = {len(entries)}\n"
                + "".join(f'        intervals [{i}]:\n            xmin = {a:.3f}\n            xmax = {b:.3f}\n'
                          f'            text = "{label}"\n' for i, (a, b, label) in enumerate(entries, 1)))

    # A point tier, as a researcher's own tools may add (the bundled aligner writes none).
    marks = (f'    item [3]:\n        class = "TextTier"\n        name = "marks"\n        xmin = 0\n'
             f"        xmax = {words[-1][1]:.3f}\n        points: size = 1\n        points [1]:\n"
             '            number = 1.5\n            mark = "here"\n') if points else ""
    return ('File type = "ooTextFile"\nObject class = "TextGrid"\n\nxmin = 0\n'
            f"xmax = {words[-1][1]:.3f}\ntiers? <exists>\nsize = {3 if points else 2}\nitem []:\n"
            + tier(1, "words", words) + tier(2, "phones", phones) + marks)


def long_result(owner, seconds=3600, name="Interview", pipeline=None, points=False):
    """A finished run whose one recording (interview.flac, `seconds` long) was aligned with WARNINGS."""
    project = make_project(owner, name, pipeline)
    upload = Upload(project)
    upload.add(SimpleUploadedFile("interview.flac", long_audio(seconds)))
    upload.add(SimpleUploadedFile("interview.txt", b"words"))
    process = fa_process(project, [], {"interview.TextGrid": long_grid(seconds, points),
                                       "report.json": report(entry("interview.flac", status="warnings",
                                                                   warnings=WARNINGS))})
    run = Run.objects.create(project=project, pipeline=project.pipeline, stage=Run.Stage.ALIGNING, fa_process=process)
    finish(process)
    run.refresh_from_db()
    return project, run


@pytest.fixture
def hour(alice):
    return long_result(alice)


@pytest.fixture
def bob_client(bob):
    client = CsrfClient()
    client.force_login(bob)
    return client


def view(client, project, run, at=None, status=200):
    url = reverse("pipelines-view-result", args=[project.pk, run.pk, "interview.TextGrid"])
    response = client.get(url, {"at": at} if at is not None else {})
    assert response.status_code == status
    return response.content.decode()


def svg(html):
    return html[html.index("<svg"):html.index("</svg>")]


def test_an_hour_long_result_is_shown_a_small_window_at_a_time_with_its_words_labelled(alice_client, hour):
    html = view(alice_client, *hour)
    assert len(html.encode()) < 200_000
    assert "Showing 0:00–0:30 of 1:00:00" in html
    assert html.count('class="row"') == 6  # 30 s in rows of 5 s
    words = re.findall(r'<text x="[\d.]+" y="25" class="w">(w\d+)</text>', html)
    assert words == [f"w{n}" for n in range(60)]  # every word of the window has its label, in order
    assert "<title>w59 0:29.500–0:29.900</title>" in html
    assert "← Earlier" not in html and 'href="?at=0:30">Later 30 s →</a>' in html


def test_a_window_is_found_by_its_time_and_has_neighbours_both_ways(alice_client, hour):
    html = view(alice_client, *hour, at="12:00")
    assert "Showing 12:00–12:30 of 1:00:00" in html
    assert 'href="?at=11:30">← Earlier 30 s</a>' in html and 'href="?at=12:30">Later 30 s →</a>' in html
    words = re.findall(r'class="w">(w\d+)</text>', html)
    assert words[0] == "w1440" and words[-1] == "w1499"
    assert svg(view(alice_client, *hour, at="720")) == svg(html)  # seconds say the same
    assert "Showing 1:00:00" not in view(alice_client, *hour, at="1:00:00")


def test_the_warnings_times_link_to_their_windows(alice_client, hour):
    html = view(alice_client, *hour, at="40:00")
    assert '“w1441” at <a href="?at=11:58">720.5 s</a>' in html
    assert 'could not be placed between <a href="?at=29:57">29:59</a> and <a href="?at=30:01">30:03</a>' in html
    assert 'class="w">w1441</text>' in view(alice_client, *hour, at="11:58")


BAD_TIMES = [
    ("abc", "“abc” is not a time: write minutes and seconds (12:30) or seconds (750). Showing the start of the recording.",
     "0:00–0:30"),
    ("-5:00", "Times start at 0:00: showing the start of the recording.", "0:00–0:30"),
    ("99:00", "The recording is 1:00:00 long: showing its end.", "59:30–1:00:00"),
    ("9" * 30, "is not a time: write minutes and seconds (12:30) or seconds (750).", "0:00–0:30"),
    ("12:3x", "“12:3x” is not a time", "0:00–0:30"),
    ("nan", "“nan” is not a time", "0:00–0:30"),
    ("59:45", None, "59:30–1:00:00"),
    ("", None, "0:00–0:30"),
]


def test_a_time_that_is_not_in_the_recording_is_told_and_the_nearest_window_shown(alice_client, hour):
    for at, note, shown in BAD_TIMES:
        html = view(alice_client, *hour, at=at)
        assert f"Showing {shown} of 1:00:00" in html, at
        if note:
            assert note in html, at
        else:
            assert 'id="picture-note"' not in html, at
        assert ("Later 30 s" in html) != shown.endswith("1:00:00"), at


def test_another_users_window_is_a_404_whatever_the_time(alice, hour, bob_client):
    project, run = hour
    for at in (None, "12:00", "abc", "-1", "99:00"):
        view(bob_client, project, run, at=at, status=404)


def test_a_short_result_is_drawn_whole_as_before_whatever_the_time(alice_client, alice):
    project, run = long_result(alice, seconds=40, name="Short")
    html = view(alice_client, project, run, at="0:20")
    assert 'class="row"' not in html and "Showing" not in html
    assert html.count("<line ") == 1000  # a line per column of the whole recording, as before
    assert "<title>w0 0.000–0.400 s</title>" in html and "<title>w79 39.500–39.900 s</title>" in html


@pytest.mark.parametrize("seconds", [40, 90])
def test_a_point_tier_is_left_out_of_the_picture_not_a_server_error(alice_client, alice, seconds):
    project, run = long_result(alice, seconds=seconds, name="Marks", points=True)
    html = view(alice_client, project, run)
    assert 'data-tier="words"' in html and 'data-tier="marks"' not in html


def test_a_number_in_a_warning_that_only_looks_like_a_time_stays_unlinked():
    from pipelines.pictures import linked_warnings

    assert linked_warnings(["at 0.1234567 s here, then near 1:05"]) == [
        [("at 0.1234567 s here, then near ", None), ("1:05", "1:03")]
    ]
