"""Playwright driving Debian's Chromium (headless) against the live test server.

Playwright's own browser download does not work on these machines, so the
tests launch /usr/bin/chromium, installed by bin/ensure-system-packages.
"""

import contextlib
import os

import pytest

CHROMIUM = os.environ.get("EQUESTRIA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the live
    # server's database access happens in another thread, but Django's guard
    # sees the loop and would refuse the ORM calls the tests make themselves.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


# Reports each Content-Security-Policy violation in every page and frame to the test, from
# before the page's own scripts run (an init script is not subject to the page's policy).
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportCspViolation(
    `${event.effectiveDirective} refused ${event.blockedURI || "?"} at ${event.sourceFile || event.documentURI}:${event.lineNumber}` +
    (event.sample ? ` (${event.sample})` : "")
  );
}, true);
"""


@pytest.fixture
def csp_violations():
    """Every Content-Security-Policy violation the browser met during the test (see `page`)."""
    return []


@pytest.fixture
def page(browser, csp_violations):
    """A fresh browser tab; the test fails if any page it showed broke the Content-Security-Policy."""
    context = browser.new_context()
    context.expose_binding("reportCspViolation", lambda source, text: csp_violations.append(text))
    context.add_init_script(REPORT_VIOLATIONS)
    # Chromium also logs each violation to the console, including those outside the DOM's reach.
    context.on("console", lambda message: "Content Security Policy" in message.text and csp_violations.append(message.text))
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    if not page.is_closed():
        from playwright.sync_api import Error

        # A round trip, so reports still under way arrive first; a page still navigating may refuse it.
        with contextlib.suppress(Error):
            page.evaluate("0")
    context.close()
    assert not csp_violations, "the pages broke the Content-Security-Policy:\n" + "\n".join(csp_violations)
