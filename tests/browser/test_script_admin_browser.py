"""An administrator adds the bundled forced-alignment service in /admin, in a real browser."""

import pytest

from scripts.models import Script
from tests.clamservers import PASSWORD, USER
from tests.conftest import PASSWORD as ADMIN_PASSWORD
from tests.helpers import free_port

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def save_and_continue(page):
    with page.expect_navigation():
        page.click("input[name=_continue]")
    page.wait_for_load_state()


def test_administrator_adds_a_clam_service_sets_a_preset_and_sees_a_stopped_server(page, live_server, admin_user, fa_service):
    page.goto(live_server.url + "/admin/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", ADMIN_PASSWORD)
    with page.expect_navigation():
        page.click("input[type=submit]")
    page.goto(live_server.url + "/admin/scripts/script/add/")
    page.fill("#id_name", "Forced alignment")
    page.fill("#id_url", fa_service.url)
    page.fill("#id_username", USER)
    page.fill("#id_password", PASSWORD)
    save_and_continue(page)

    # Seven: the output's four, the length limit, and the language and its phone alphabet (issue 18).
    assert "Imported “Forced alignment” from its server: 1 profile(s), 7 parameter(s)." in page.content()
    content = page.content()
    for text in ("Transcript (UTF-8 text)", "Extra pronunciation dictionary", "TextGrid format", "Phone pass chunk"):
        assert text in content, text

    # Set a preset right on the Script page: the TextGrid format, to "short".
    row = page.locator("tr", has_text="textgrid_format")
    row.locator("input[name$='-value']").fill("short")
    row.locator("input[name$='-preset']").check()
    save_and_continue(page)
    assert "Imported “Forced alignment”" in page.content()
    parameter = Script.objects.get().parameters.get(clam_id="textgrid_format").specific
    assert parameter.value_for_clam() == "short"

    # Point it at a server that is not running: a clear message, nothing lost.
    page.fill("#id_url", f"http://127.0.0.1:{free_port()}/")
    save_and_continue(page)
    assert "could not be read: cannot connect to" in page.content()
    assert "connection refused" in page.content()
    assert Script.objects.get().parameters.filter(input_template=None).count() == 7

    # The change list, with its filters and actions (admin JS), under the Content-Security-Policy too.
    page.goto(live_server.url + "/admin/scripts/script/")
    page.locator("#result_list").get_by_role("link", name="Forced alignment").wait_for()
    page.locator("#action-toggle").check()
    assert page.locator("#result_list input.action-select").is_checked()


def log_in_as_admin(page, live_server):
    page.goto(live_server.url + "/admin/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", ADMIN_PASSWORD)
    with page.expect_navigation():
        page.click("input[type=submit]")


def test_an_address_without_a_scheme_is_refused_and_a_broken_pipeline_is_named(page, live_server, admin_user):
    from scripts.models import Pipeline

    log_in_as_admin(page, live_server)
    page.goto(live_server.url + "/admin/scripts/script/add/")
    page.fill("#id_name", "Aligner")
    page.fill("#id_url", "127.0.0.1:8001/aligner/")
    save_and_continue(page)
    assert (
        "Enter the whole address, starting with http:// or https:// (e.g. http://127.0.0.1:8001/aligner/): "
        "Equestria does not guess which of the two the service speaks."
    ) in page.locator(".errorlist").inner_text()
    assert not Script.objects.exists()

    # Saved with its scheme, but nothing answers there: the Script exists without profiles.
    page.fill("#id_url", f"http://127.0.0.1:{free_port()}/aligner/")
    save_and_continue(page)
    assert "could not be read: cannot connect to http://127.0.0.1:" in page.content()
    Pipeline.objects.create(name="Dutch", language="nl", fa_script=Script.objects.get())

    page.goto(live_server.url + "/admin/scripts/pipeline/")
    warning = page.locator(".messagelist .warning")
    assert warning.inner_text().startswith(
        "Pipeline “Dutch” is not offered to researchers, and its projects cannot start an alignment: its "
        "forced-alignment script “Aligner” has no profiles: its last import failed (cannot connect to http://127.0.0.1:"
    )
    assert "/aligner/ (connection refused))." in warning.inner_text()
    page.get_by_role("link", name="Dutch").click()
    page.wait_for_load_state()
    assert "Pipeline “Dutch” is not offered to researchers" in page.locator(".messagelist").inner_text()
