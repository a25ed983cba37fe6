"""Transcripts given as utterance tiers (issue 17 item 3) in Chromium: a researcher uploads a recording with its
TextGrid and a damaged TextGrid, sees the pair and the message; a two-speaker result's picture keeps every tier
visible and apart (tests/test_speaker_results.py builds the result)."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.browser.test_csp_browser import log_in
from tests.factories import make_fa_pipeline, make_project
from tests.helpers import DATA
from tests.test_speaker_results import DRAWN, speakers_run
from tests.utterance_files import textgrid

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_recording_with_its_textgrid_is_paired_and_a_damaged_textgrid_is_refused_with_the_reason(
        page, live_server, alice, tmp_path):
    project = make_project(alice, "Interviews", pipeline=make_fa_pipeline(tiered=True))
    # Praat saves a TextGrid with a non-ASCII label as UTF-16.
    (tmp_path / "cards-001.TextGrid").write_bytes(textgrid({"speaker A": [(0.2, 1.5, "ten of clübs")]},
                                                           encoding="utf-16"))
    (tmp_path / "broken.TextGrid").write_bytes(b'File type = "ooTextFile"\nObject class = "TextGrid"\nxmax = zz\n')
    log_in(page, live_server, "alice")
    page.goto(live_server.url + project.get_absolute_url())
    expect(page.get_by_text("Accepted: .dict, .eaf, .flac, .TextGrid, .txt, .wav and .zip archives of them.")) \
        .to_be_visible()

    page.set_input_files("#id_files", [str(DATA / "cards-001.wav"), str(tmp_path / "cards-001.TextGrid"),
                                       str(tmp_path / "broken.TextGrid")])
    with page.expect_navigation():
        page.get_by_role("button", name="Upload").click()

    expect(page.get_by_text("Added 2 file(s): cards-001.wav, cards-001.TextGrid")).to_be_visible()
    expect(page.get_by_text("broken.TextGrid: it cannot be read as a TextGrid (a line is missing or damaged); open it "
                            "in Praat, save it again as a text file and upload that")).to_be_visible()
    expect(page.get_by_text("with cards-001.TextGrid")).to_be_visible()
    expect(page.get_by_text("with cards-001.wav")).to_be_visible()
    expect(page.get_by_text("Ready to align: every recording has its transcript (1 pair).")).to_be_visible()


def test_a_two_speaker_results_picture_shows_every_tier_apart(page, live_server, alice):
    project, run = speakers_run(alice)
    log_in(page, live_server, "alice")
    page.goto(live_server.url + reverse("pipelines-view-result", args=[project.pk, run.pk, "interview.TextGrid"]))

    picture = page.locator("#result-picture")
    expect(picture.locator("g.tier")).to_have_count(len(DRAWN))
    boxes = [picture.locator(f'g.tier[data-tier="{name}"]').bounding_box() for name in DRAWN]
    # One under another, none over the next, all inside the picture.
    for upper, lower in zip(boxes, boxes[1:]):
        assert upper["y"] + upper["height"] <= lower["y"] + 0.5
    whole = picture.bounding_box()
    assert boxes[-1]["y"] + boxes[-1]["height"] <= whole["y"] + whole["height"] + 0.5
    # Each speaker's low-confidence words are marked.
    expect(picture.locator('g[data-tier="speaker A - words"] rect.low')).to_have_count(1)
    expect(picture.locator('g[data-tier="speaker B - words"] rect.low')).to_have_count(2)
