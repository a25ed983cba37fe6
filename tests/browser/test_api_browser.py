"""The API's docs page (Swagger UI from drf-spectacular-sidecar) and the tokens page in Chromium, under the
site's Content-Security-Policy: the `page` fixture fails a test on any violation."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.browser.test_csp_browser import log_in
from tests.test_api import ENDPOINTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_docs_page_lists_every_operation_from_local_files_only(page, live_server):
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(live_server.url + reverse("api-docs"))
    expect(page.locator(".opblock")).to_have_count(len(ENDPOINTS))
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/projects/{project_id}/files/").first).to_be_visible()
    page.locator(".opblock-post .opblock-summary", has_text="/api/v1/projects/{project_id}/files/").click()
    expect(page.locator(".response-col_description", has_text="project_busy").first).to_be_visible()
    assert requested and all(url.startswith(live_server.url) for url in requested), requested


def test_a_token_is_made_and_revoked_on_the_tokens_page(page, live_server, alice):
    log_in(page, live_server, "alice")
    page.click("#user-menu")
    page.get_by_role("link", name="API tokens").click()
    page.fill("#id_name", "laptop")
    page.select_option("#id_expires", "30")
    page.get_by_role("button", name="Create token").click()
    key = page.locator("#token-key").input_value()
    assert len(key) == 64
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("Token “laptop” revoked")).to_be_visible()
    assert key not in page.content()
