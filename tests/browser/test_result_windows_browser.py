"""The picture of an hour-long result in Chromium: a window of readable words, its neighbours, a time
typed in, a warning's time followed, the word under the mouse (tests/test_result_windows.py builds
the result)."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.browser.test_csp_browser import log_in
from tests.test_result_windows import long_result

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_researcher_pages_through_an_hour_long_result_and_follows_a_warning(page, live_server, alice):
    project, run = long_result(alice)
    log_in(page, live_server, "alice")
    page.goto(live_server.url + reverse("pipelines-run", args=[project.pk, run.pk]))
    with page.expect_navigation():
        page.get_by_role("link", name="View", exact=True).click()
    window, picture = page.locator("#picture-window"), page.locator("#result-picture")
    expect(window).to_have_text("Showing 0:00–0:30 of 1:00:00")
    words = picture.locator("g[data-tier=words] text.w")
    expect(words).to_have_count(60)
    # Readable: a word's label as large on the screen as in a short recording's picture, and inside its box.
    label = picture.locator("g[data-tier=words] text", has_text="w12").first
    assert label.evaluate("t => t.getBoundingClientRect().height") >= 10
    # At once: Bootstrap makes scrolling smooth, and a box measured mid-scroll is not where the word ends up.
    label.evaluate("t => t.scrollIntoView({block: 'center', behavior: 'instant'})")
    box = label.bounding_box()
    # The word under the mouse is the one whose times its tooltip gives.
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    under = page.evaluate("([x, y]) => document.elementFromPoint(x, y).closest('rect, text').textContent",
                          [box["x"] + box["width"] / 2, box["y"] + box["height"] + 4])
    assert under == "w12 0:06.000–0:06.400"

    with page.expect_navigation():
        page.get_by_role("link", name="Later 30 s →").click()
    expect(window).to_have_text("Showing 0:30–1:00 of 1:00:00")
    expect(words.first).to_have_text("w60")

    page.fill("#picture-at", "42:10")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    expect(window).to_have_text("Showing 42:10–42:40 of 1:00:00")
    expect(words.first).to_have_text("w5060")

    with page.expect_navigation():
        page.locator("#picture-warnings").get_by_role("link", name="720.5 s").click()
    expect(window).to_have_text("Showing 11:58–12:28 of 1:00:00")
    expect(picture.locator("g[data-tier=words] text", has_text="w1441")).to_be_visible()

    page.fill("#picture-at", "an hour")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    expect(page.locator("#picture-note")).to_have_text(
        "“an hour” is not a time: write minutes and seconds (12:30) or seconds (750). Showing the start of the recording.")
    expect(window).to_have_text("Showing 0:00–0:30 of 1:00:00")
