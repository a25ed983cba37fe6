"""Pages a new user met in a trial, in Chromium under the Content-Security-Policy: the site's own 404
page, the project page while an alignment runs, the favicon."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from pipelines import services
from pipelines.models import Run
from tests.browser.test_csp_browser import log_in
from tests.factories import make_project, wav_bytes
from upload.services import Upload

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_address_that_is_not_there_shows_the_sites_page_with_a_way_back(page, live_server, alice, bob):
    theirs = make_project(bob, "Bob's")
    log_in(page, live_server, "alice")
    for url in (theirs.get_absolute_url(), "/no/such/page/"):
        response = page.goto(live_server.url + url)
        assert response.status == 404
        expect(page.get_by_role("heading", name="This page does not exist")).to_be_visible()
        expect(page.locator(".navbar-brand")).to_have_text("Equestria")
        assert "Not Found" not in page.content() and "Resolver404" not in page.content()
    with page.expect_navigation():
        page.get_by_role("link", name="Go to your projects").click()
    expect(page.get_by_role("heading", name="Your projects")).to_be_visible()


def test_the_project_page_hides_uploads_deletes_and_start_while_an_alignment_runs(page, live_server, alice):
    from django.core.files.uploadedfile import SimpleUploadedFile

    project = make_project(alice)
    upload = Upload(project)
    upload.add(SimpleUploadedFile("a.wav", wav_bytes()))
    upload.add(SimpleUploadedFile("a.txt", b"ten of clubs"))
    run = services.start_alignment(project)
    log_in(page, live_server, "alice")
    page.goto(live_server.url + project.get_absolute_url())
    expect(page.locator("#busy")).to_contain_text(
        "An alignment of this project is running; files cannot be added or deleted until it ends (or is cancelled).")
    for hidden in (page.locator("#upload-form"), page.get_by_role("button", name="Start alignment"),
                   page.get_by_role("button", name="Delete a.wav"), page.get_by_text("Ready to align")):
        expect(hidden).to_have_count(0)
    expect(page.get_by_role("link", name="Download").first).to_be_visible()
    # When the run ends, the page reloads by itself (static/js/refresh.js) and offers them again.
    Run.objects.filter(pk=run.pk).update(stage=Run.Stage.FAILED)
    expect(page.locator("#upload-form")).to_be_visible()
    expect(page.get_by_role("button", name="Delete a.wav")).to_be_visible()
    expect(page.get_by_role("button", name="Start alignment")).to_be_visible()
    expect(page.locator("#busy")).to_have_count(0)


def test_the_link_to_the_running_alignment_leads_to_its_page(page, live_server, alice):
    from django.core.files.uploadedfile import SimpleUploadedFile

    project = make_project(alice)
    upload = Upload(project)
    upload.add(SimpleUploadedFile("a.wav", wav_bytes()))
    upload.add(SimpleUploadedFile("a.txt", b"ten of clubs"))
    run = services.start_alignment(project)
    log_in(page, live_server, "alice")
    page.goto(live_server.url + project.get_absolute_url())
    with page.expect_navigation():
        page.get_by_role("link", name="Follow the running alignment").click()
    assert page.url == live_server.url + reverse("pipelines-run", args=[project.pk, run.pk])


def test_the_project_list_says_what_a_project_is_at_as_its_page_does(page, live_server, alice):
    from django.core.files.uploadedfile import SimpleUploadedFile

    project = make_project(alice)
    upload = Upload(project)
    upload.add(SimpleUploadedFile("a.wav", wav_bytes()))
    upload.add(SimpleUploadedFile("a.txt", b"ten of clubs"))
    log_in(page, live_server, "alice")
    list_state = page.locator("tr", has_text=project.name).locator("td").nth(2)
    page_state = page.locator("#project-state")
    for stage, said in ((None, "ready to align"), (Run.Stage.ALIGNING, "aligning"),
                        (Run.Stage.REVIEW, "waiting for your review of the pronunciations"),
                        (Run.Stage.REALIGNING, "aligning again with your pronunciations"),
                        (Run.Stage.DONE, "ready to align")):
        if stage == Run.Stage.ALIGNING:
            run = services.start_alignment(project)
        elif stage:
            Run.objects.filter(pk=run.pk).update(stage=stage)
        page.goto(live_server.url + reverse("upload-project-list"))
        expect(list_state).to_have_text(said)
        page.goto(live_server.url + project.get_absolute_url())
        expect(page_state).to_have_text(f"State: {said}")
        if stage in (Run.Stage.ALIGNING, Run.Stage.REVIEW):
            with page.expect_navigation():
                page_state.get_by_role("link").click()
            assert page.url == live_server.url + reverse("pipelines-run", args=[project.pk, run.pk])
    # The pipeline broke (a G2P script added to it was never imported); the files are as they were.
    from scripts.models import Pipeline, Script

    Pipeline.objects.filter(pk=project.pipeline_id).update(g2p_script=Script.objects.create(name="G2P", url="http://127.0.0.1:9/"))
    page.goto(live_server.url + reverse("upload-project-list"))
    expect(list_state).to_have_text("pipeline needs repair")
    page.goto(live_server.url + project.get_absolute_url())
    expect(page_state).to_have_text("State: pipeline needs repair")


def test_the_favicon_is_served_and_shown_under_the_policy(page, live_server, alice):
    log_in(page, live_server, "alice")
    href = page.locator('link[rel="icon"]').get_attribute("href")
    icon = page.request.get(live_server.url + href)
    assert icon.status == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    # What browsers ask for on pages that name no icon (the admin's): it leads to the same file.
    ico = page.request.get(live_server.url + "/favicon.ico")
    assert ico.status == 200 and ico.body() == icon.body()
