"""A researcher picks an export format on the run page and downloads it, in Chromium under the
Content-Security-Policy. The run's TextGrids are written by the bundled aligner's writer (tests/test_exports.py)."""

import csv
import io
import zipfile
from pathlib import Path

import pytest
from django.urls import reverse

from tests.browser.test_csp_browser import log_in
from tests.test_exports import exported_run

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_researcher_downloads_one_result_and_the_zip_in_the_format_they_pick(page, live_server, alice, tmp_path):
    project, run = exported_run(alice, tmp_path, stems=("interview 1", "日本語"))
    log_in(page, live_server, "alice")
    page.goto(live_server.url + reverse("pipelines-run", args=[project.pk, run.pk]))

    row = page.locator("#outcomes tr", has_text="interview 1.wav")
    with page.expect_download() as download:
        row.get_by_role("link", name="CSV").click()
    assert download.value.suggested_filename == "interview 1.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    assert [r["label"] for r in rows if r["tier"] == "words"] == ["ten", "of", "clubs"]

    page.get_by_label("Or one format only:").select_option(label="ELAN (.eaf)")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download zip").click()
    assert download.value.suggested_filename == "Austen-results-ELAN.zip"
    names = zipfile.ZipFile(download.value.path()).namelist()
    assert sorted(names) == ["ELAN/interview 1.eaf", "ELAN/日本語.eaf", "report.csv"]
