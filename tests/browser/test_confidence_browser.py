"""A researcher finds the words to check on the run page, follows one to the result picture, sees it marked and
reads its confidence under the mouse, and downloads all of them, in Chromium (tests/test_confidence_pages.py builds
the result)."""

import csv
import io
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.browser.test_csp_browser import log_in
from tests.test_confidence_pages import LOW, confident_result

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_researcher_follows_the_least_confident_word_to_its_mark_in_the_picture(page, live_server, alice):
    project, run = confident_result(alice, seconds=120, low={**LOW, 100: 0.05})
    log_in(page, live_server, "alice")
    page.goto(live_server.url + reverse("pipelines-run", args=[project.pk, run.pk]))

    listed = page.locator("#words-to-check li")
    expect(listed).to_have_count(4)
    expect(listed.first).to_have_text("“w100” at 0:50.0 confidence 0.05")
    with page.expect_navigation():
        listed.first.get_by_role("link").click()

    expect(page.locator("#picture-window")).to_have_text("Showing 0:48–1:18 of 2:00")
    mark = page.locator("#result-picture g[data-tier=words] rect.low")
    expect(mark).to_have_count(1)
    expect(mark).to_have_attribute("data-confidence", "0.05")
    # Marked in colour: not the fill of the other words.
    other = page.locator("#result-picture g[data-tier=words] rect.l:not(.low)").first
    assert mark.evaluate("r => getComputedStyle(r).fill") != other.evaluate("r => getComputedStyle(r).fill")
    mark.evaluate("r => r.scrollIntoView({block: 'center', behavior: 'instant'})")
    box = mark.bounding_box()
    # Above the label, which lies over the middle of the box.
    under = page.evaluate("([x, y]) => document.elementFromPoint(x, y).closest('rect').textContent",
                          [box["x"] + box["width"] / 2, box["y"] + 3])
    assert under == "w100 0:50.000–0:50.400 · confidence 0.05"
    expect(page.locator("#confidence-legend")).to_contain_text("below 0.5 are marked")


def test_a_researcher_downloads_every_word_to_check_beyond_the_ten_shown(page, live_server, alice):
    project, run = confident_result(alice, low={n: round(0.1 + 0.01 * n, 2) for n in range(12)})
    log_in(page, live_server, "alice")
    page.goto(live_server.url + reverse("pipelines-run", args=[project.pk, run.pk]))

    expect(page.locator("#words-to-check li")).to_have_count(10)
    expect(page.locator(".recording-to-check h3")).to_have_text(
        "interview.flac (12 words, the 10 least confident shown: all in the CSV)")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download all 12 words to check (CSV)").click()
    assert download.value.suggested_filename == "words-to-check.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8-sig"))))
    assert [r["word"] for r in rows] == [f"w{n}" for n in range(12)]
    assert rows[11] == {"recording": "interview.flac", "speaker": "", "word": "w11", "start": "5.500", "end": "5.900",
                        "confidence": "0.21", "result": "interview.TextGrid"}
