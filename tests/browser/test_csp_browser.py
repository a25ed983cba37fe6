"""The Content-Security-Policy in Chromium: the violation check that every browser test runs
(tests/browser/conftest.py) sees what the policy refuses, and the pages that once relied on inline
style still work without it."""

import pytest
from csp.utils import build_policy
from django.urls import reverse
from playwright.sync_api import expect

from pipelines.models import Run
from scripts.models import Process
from tests.conftest import PASSWORD
from tests.test_csp import POLICY, directives
from tests.test_outcomes import fa_process
from tests.test_run_pages import mixed_run

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Each line breaks the policy in its own way, except the data block, which is no script.
BREAKS_THE_POLICY = """<!doctype html><html><head><title>probe</title><style>p { color: red; }</style></head><body>
<script>document.title = "ran";</script>
<button id="button" onclick="document.title = 'clicked'">press</button>
<p style="color: blue">styled</p>
<script id="data" type="application/json">{"names": ["a.wav"]}</script>
</body></html>"""


def log_in(page, live_server, username):
    page.goto(live_server.url + reverse("accounts-login"))
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()


def test_the_violation_check_sees_inline_script_handlers_and_style_but_not_json_data(page, live_server, csp_violations):
    url = live_server.url + "/probe/"
    page.route(url, lambda route: route.fulfill(
        status=200, content_type="text/html", body=BREAKS_THE_POLICY,
        headers={"Content-Security-Policy": build_policy()},
    ))
    page.goto(url)
    page.click("#button")
    assert page.title() == "probe"  # neither the inline script nor the handler ran
    assert page.evaluate("JSON.parse(document.getElementById('data').textContent).names") == ["a.wav"]
    page.evaluate("0")
    refused = " ".join(csp_violations)
    for directive in ("script-src-elem", "script-src-attr", "style-src-elem", "style-src-attr"):
        assert f"{directive} refused inline" in refused, directive
    assert sum("script-src-elem refused" in v for v in csp_violations) == 1  # the inline script, not the data block
    csp_violations.clear()  # seen; the page fixture would fail the test on them


def test_the_progress_bar_of_an_active_run_gets_its_width_from_the_script(page, live_server, alice):
    project, run = mixed_run(alice)
    second = fa_process(project, "abcd", {}, status="running", folder="fa2")
    Process.objects.filter(pk=second.pk).update(completion=40, message="Aligning b.wav (2 of 4)")
    Run.objects.filter(pk=run.pk).update(stage=Run.Stage.REALIGNING, realign_process=second, finished_at=None)
    log_in(page, live_server, "alice")
    page.goto(live_server.url + reverse("pipelines-run", args=[project.pk, run.pk]))
    bar = page.locator("#run-status .progress-bar")
    assert bar.inner_text() == "40 %"
    assert bar.evaluate("bar => bar.style.width") == "40%"
    # The block the page refreshes by itself is sized too.
    Process.objects.filter(pk=second.pk).update(completion=70)
    expect(bar).to_have_text("70 %")
    assert bar.evaluate("bar => bar.style.width") == "70%"


def test_the_result_picture_fills_the_width_with_its_stylesheet(page, live_server, alice):
    project, run = mixed_run(alice)
    log_in(page, live_server, "alice")
    page.goto(live_server.url + reverse("pipelines-view-result", args=[project.pk, run.pk, "a.TextGrid"]))
    picture = page.locator("#result-picture")
    assert picture.evaluate("svg => getComputedStyle(svg).fontFamily") == "sans-serif"
    width = picture.evaluate("svg => svg.getBoundingClientRect().width")
    holder = picture.evaluate("svg => svg.parentElement.clientWidth")
    assert abs(width - holder) <= 1


def test_error_pages_keep_to_the_policy(page, live_server, alice):
    log_in(page, live_server, "alice")
    response = page.goto(live_server.url + "/projects/00000000-0000-0000-0000-000000000000/")
    assert response.status == 404
    assert directives(response.headers["content-security-policy"]) == POLICY


def test_a_form_refused_by_the_csrf_check_shows_a_page_that_keeps_to_the_policy(page, live_server, alice):
    page.goto(live_server.url + reverse("accounts-login"))
    page.context.clear_cookies()  # as when cookies are blocked: the form's token has no cookie to match
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Log in").click()
    assert navigation.value.status == 403
    assert "Allow cookies for this site" in page.content()
    assert page.locator("nav.navbar").is_visible()  # the site's stylesheet applies


def test_every_admin_list_and_form_keeps_to_the_policy(page, live_server, admin_user, alice):
    """Django's admin brings its own scripts (filters, actions, inlines, the permissions picker)."""
    from django.contrib import admin

    project, run = mixed_run(alice)
    page.goto(live_server.url + reverse("admin:login"))
    page.fill("#id_username", "admin")
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("input[type=submit]")
    for model in admin.site._registry:
        info = model._meta.app_label, model._meta.model_name
        assert page.goto(live_server.url + reverse("admin:%s_%s_changelist" % info)).status == 200
        first = model.objects.order_by("pk").first()
        if first is not None:
            assert page.goto(live_server.url + reverse("admin:%s_%s_change" % info, args=[first.pk])).status == 200
        # Some models cannot be added by hand (403): their page is checked all the same.
        assert page.goto(live_server.url + reverse("admin:%s_%s_add" % info)).status in (200, 403)
