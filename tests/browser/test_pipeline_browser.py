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
from tests.helpers import ROOT
from tests.test_pipeline_flow import english  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DATA = ROOT / "tests" / "data"


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


def test_researcher_aligns_reviews_and_downloads(page, live_server, alice, english, worker):  # noqa: F811
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    page.goto(live_server.url + "/projects/new/")
    page.fill("#id_name", "Demo")
    with page.expect_navigation():
        page.get_by_role("button", name="Save").click()
    page.set_input_files("#id_files", [str(DATA / f"{s}.{e}") for s in ("cards-001", "oov-equestria") for e in ("wav", "txt")])
    with page.expect_navigation():
        page.get_by_role("button", name="Upload").click()
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
