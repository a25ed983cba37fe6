"""A researcher aligns Dutch in a real browser (issue 18): picks the Dutch pipeline, uploads a recording made with
espeak-ng's Dutch voice, reviews the pronunciation of its unknown word in Dutch IPA (an English phone is refused
with a message), and sees Dutch phones in the result."""

import subprocess

import pytest

from tests.browser.test_pipeline_browser import worker  # noqa: F401  (a fixture)
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DUTCH = "De kat zit op de mat en de hond slaapt in het huis"


def test_a_researcher_aligns_dutch_speech_and_gets_dutch_phones(page, live_server, alice, dutch, worker, tmp_path):  # noqa: F811
    subprocess.run(["espeak-ng", "-v", "nl", "-w", str(tmp_path / "kat.wav"), DUTCH], check=True, timeout=60)
    (tmp_path / "kat.txt").write_text(DUTCH + "\n", encoding="utf-8")
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    page.goto(live_server.url + "/projects/new/")
    page.fill("#id_name", "Nederlands")
    page.select_option("#id_pipeline", label="Dutch — aligns nl, approximate: phones mapped to another language's "
                                             "acoustic model")
    with page.expect_navigation():
        page.get_by_role("button", name="Save").click()
    page.set_input_files("#id_files", [str(tmp_path / "kat.wav"), str(tmp_path / "kat.txt")])
    with page.expect_navigation():
        page.get_by_role("button", name="Upload").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Start alignment").click()

    page.get_by_role("link", name="Review the proposed pronunciations").click(timeout=90000)
    assert page.locator("textarea").input_value() == "slaapt s l a p t\n"
    assert page.get_by_text("Write them in IPA, separated by spaces").count() == 1
    assert page.get_by_text("Stress digits as in the CMU dictionary").count() == 0
    page.locator("textarea").fill("slaapt s l AA p t\n")
    with page.expect_navigation():
        page.get_by_role("button", name="Align again").click()
    assert page.get_by_text("Line 1: “AA” is not a phone of this aligner (in the pronunciation of “slaapt”).").count() == 1
    page.locator("textarea").fill("slaapt s l a p t\n")
    with page.expect_navigation():
        page.get_by_role("button", name="Align again").click()
    page.get_by_role("link", name="Download all (zip)").wait_for(timeout=90000)

    page.locator("tr", has_text="kat.wav").get_by_role("link", name="View").click()
    picture = page.locator("#result-picture")
    picture.wait_for()
    assert picture.locator("g[data-tier=words] text", has_text="slaapt").count() == 1
    assert picture.locator("g[data-tier=phones] text", has_text="œː").count() == 1
