"""The Script's admin page shows each input template's converters with the files Equestria takes them for, in a
real browser, within a 1280-pixel window (in a column of their own, past the page's edge, they were cut off)."""

import pytest

from tests.conftest import PASSWORD as ADMIN_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_script_pages_converters_and_the_files_each_takes_fit_a_1280_pixel_window(page, live_server, admin_user):
    from tests.test_one_script import trial_pipeline

    script = trial_pipeline().fa_script
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(live_server.url + "/admin/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", ADMIN_PASSWORD)
    with page.expect_navigation():
        page.click("input[type=submit]")
    page.goto(live_server.url + f"/admin/scripts/script/{script.pk}/change/")
    summary = page.locator(".profile-summary").first
    line = summary.get_by_text("Join lines broken mid-word (joinlines): files of any name (not recognised")
    line.wait_for()
    # Within its fieldset, which cuts off what overflows it: what does not fit scrolls inside the summary instead.
    box = summary.bounding_box()
    field = page.locator(".field-profile_summary").bounding_box()
    assert box["x"] + box["width"] <= field["x"] + field["width"] <= 1280
