"""The whole researcher flow in a real browser: upload, align, review the pronunciation, align again, look, download.

The test drives the task queue itself (tasks.run_next_task) while the browser
waits, instead of a separate worker process: the same step functions run.
"""

import threading
import time

import pytest
from background_task.tasks import tasks
from django.db import connection

from tests.conftest import PASSWORD
from tests.helpers import DATA

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker():
    stop = threading.Event()

    def loop():
        try:
            while not stop.is_set():
                if not tasks.run_next_task():
                    time.sleep(0.05)
        finally:
            connection.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=10)


def upload_into_new_project(page, live_server, name, files):
    """Log in as alice, create a project and upload `files` (paths) into it, as a researcher does."""
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    page.goto(live_server.url + "/projects/new/")
    page.fill("#id_name", name)
    with page.expect_navigation():
        page.get_by_role("button", name="Save").click()
    page.set_input_files("#id_files", files)
    with page.expect_navigation():
        page.get_by_role("button", name="Upload").click()


def test_researcher_aligns_reviews_and_downloads(page, live_server, alice, english, worker):
    upload_into_new_project(page, live_server, "Demo",
                            [str(DATA / f"{s}.{e}") for s in ("cards-001", "oov-equestria") for e in ("wav", "txt")])
    with page.expect_navigation():
        page.get_by_role("button", name="Start alignment").click()

    # The run page follows the run by itself until the review is needed.
    page.get_by_role("link", name="Review the proposed pronunciations").click(timeout=90000)
    assert page.locator("textarea").input_value().startswith("equestria IH K W EH S T R IY AH")
    with page.expect_navigation():
        page.get_by_role("button", name="Align again").click()
    page.get_by_role("link", name="Download all (zip)").wait_for(timeout=90000)

    row = page.locator("tr", has_text="oov-equestria.wav")
    row.get_by_role("link", name="View").click()
    picture = page.locator("#result-picture")
    picture.wait_for()
    assert picture.locator("g[data-tier=words] text", has_text="equestria").count() == 1
    assert picture.locator("g[data-tier=phones] rect").count() > 5

    page.go_back()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download all (zip)").click()
    assert download.value.suggested_filename == "Demo-results.zip"


def test_a_mixed_run_as_a_researcher_sees_it(page, live_server, alice, english, worker, tmp_path):
    """Good and bad pairs in one run: results for the good ones, a reason for each bad one, an amber end state."""
    import numpy as np
    import soundfile

    soundfile.write(str(tmp_path / "silent.wav"), np.zeros(32000, dtype=np.int16), 16000, subtype="PCM_16")
    (tmp_path / "silent.txt").write_text("ten of clubs")
    (tmp_path / "lonely.wav").write_bytes((DATA / "cards-002.wav").read_bytes())
    files = [str(DATA / f"cards-001.{e}") for e in ("wav", "txt")] + [
        str(tmp_path / name) for name in ("silent.wav", "silent.txt", "lonely.wav")
    ]
    upload_into_new_project(page, live_server, "Messy", files)

    # Not "ready": the recording without a transcript is named, and only the complete pairs can be aligned.
    assert page.locator(".alert-success", has_text="Ready to align").count() == 0
    assert page.locator("#unpaired", has_text="Not ready to align").count() == 1
    assert page.get_by_text("lonely.wav").first.is_visible()
    with page.expect_navigation():
        page.get_by_role("button", name="Align the 2 complete pairs only").click()

    page.locator("#run-summary").wait_for(timeout=90000)
    page.get_by_text("done with problems").first.wait_for(timeout=90000)
    good = page.locator("#outcomes tr", has_text="cards-001.wav")
    assert good.get_by_role("link", name="View").count() == 1
    bad = page.locator("#outcomes tr", has_text="silent.wav")
    assert "the recording is silent" in bad.inner_text()
    assert bad.get_by_role("link", name="View").count() == 0
    body = page.locator("body").inner_text()
    for leak in ("Traceback", "Error:", "/tmp/", ".py"):
        assert leak not in body
