"""A researcher runs a service Equestria has never seen (CLAM's textstats demo) in a real browser: upload, set the
language of the texts, run, follow, look at an output and download them all."""

import zipfile

import pytest

from scripts import importer
from scripts.models import Pipeline, Script
from tests.browser.test_pipeline_browser import upload_into_new_project, worker  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_researcher_runs_textstats_and_gets_every_output(page, live_server, alice, clam_demo, worker, tmp_path):  # noqa: F811
    script = Script.objects.create(name="Text statistics", url=clam_demo("textstats").url)
    assert importer.import_script(script) is None
    Pipeline.objects.create(name="Text statistics", kind=Pipeline.Kind.SINGLE, fa_script=script)
    text = tmp_path / "pride.txt"
    text.write_text("It is a truth universally acknowledged, that a single man in possession of a good fortune, "
                    "must be in want of a wife.\n")

    upload_into_new_project(page, live_server, "Austen", [str(text)])
    assert page.get_by_text("Ready to run: the files satisfy what the service needs.").is_visible()
    page.locator("summary", has_text="Settings").click()
    page.get_by_label("Language (of each “Input text document” file)").select_option("en")
    with page.expect_navigation():
        page.get_by_role("button", name="Run", exact=True).click()

    # The run page follows the run and shows the outputs once it is done.
    page.locator("#outputs").wait_for(timeout=60000)
    row = page.locator("#outputs tr", has_text="pride.txt.freqlist")
    assert "Document Frequency list" in row.inner_text()
    row.get_by_role("link", name="View").click()
    assert "truth" in page.locator("#output-text").inner_text()

    page.go_back()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download all (zip)").click()
    assert download.value.suggested_filename == "Austen-results.zip"
    with zipfile.ZipFile(download.value.path()) as archive:
        assert {"pride.txt.freqlist", "pride.txt.stats", "overall.stats", "overall.freqlist"} <= set(archive.namelist())


def test_researcher_uploads_a_latin1_text_by_choosing_its_conversion(page, live_server, alice, clam_demo, tmp_path):
    script = Script.objects.create(name="Text statistics", url=clam_demo("textstats").url)
    assert importer.import_script(script) is None
    Pipeline.objects.create(name="Text statistics", kind=Pipeline.Kind.SINGLE, fa_script=script)
    text = tmp_path / "émile.txt"
    text.write_bytes("Émile était là.\n".encode("latin-1"))

    upload_into_new_project(page, live_server, "Zola", [str(text)])
    assert page.get_by_text("émile.txt: the text is not UTF-8").is_visible()
    page.get_by_label("“Input text document” files are:").select_option(label="Convert from Latin-1 (.txt files)")
    page.set_input_files("#id_files", [str(text)])
    with page.expect_navigation():
        page.get_by_role("button", name="Upload").click()
    row = page.locator("tr", has_text="émile.txt")
    assert "converted by the service: Convert from Latin-1" in row.inner_text()
