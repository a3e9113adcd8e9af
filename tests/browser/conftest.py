"""Browser fixtures: Debian's Chromium driven by Playwright against the portal the `portal`
fixture serves over HTTP.

Every page a test visits goes through `Browser.visited()`: axe-core checks it for accessibility
violations and any Content-Security-Policy violation fails the test, so the pages are checked
exactly as they were used. The pages' CSP stays on: it refuses `add_script_tag` (an inline
script), so axe-core's source is given to each browser context as an init script, which Chromium
runs in every new document through the DevTools protocol, beyond the page's policy (evaluated
after each page had loaded, it cost a fifth of a second a page; as an init script, far less).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / ".local/node_modules/axe-core/axe.min.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@lru_cache(maxsize=1)
def axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def chromium():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@dataclass
class Browser:
    """One person's browser (own cookies), on the portal."""

    page: Page
    base_url: str
    csp_violations: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    def go(self, path: str) -> Page:
        self.page.goto(self.base_url + path)
        return self.visited()

    def submit(self, button: str, *, exact: bool = False) -> Page:
        """Press a form's submit button and check the page that answers (`exact` when another
        button's name starts with the same words)."""
        with self.page.expect_navigation():
            self.page.get_by_role("button", name=button, exact=exact).click()
        return self.visited()

    def follow(self, link: str) -> Page:
        """Follow a link by its name and check the page it leads to."""
        with self.page.expect_navigation():
            self.page.get_by_role("link", name=link).click()
        return self.visited()

    def fill(self, fields: dict[str, str]) -> None:
        for label, value in fields.items():
            self.page.get_by_label(label, exact=True).fill(value)

    def visited(self) -> Page:
        """Every page a test sees: no CSP violation, no axe-core violation."""
        self.page.wait_for_load_state("load")
        assert self.csp_violations == [], f"CSP violations on {self.page.url}: {self.csp_violations}"
        if not self.page.evaluate("typeof axe !== 'undefined'"):  # a document the init script missed
            self.page.evaluate(axe_source())
        result = self.page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        problems = [f"{v['id']} ({v['impact']}): {v['help']} -> {[n['target'] for n in v['nodes']][:3]}"
                    for v in result["violations"]]
        assert problems == [], f"axe-core violations on {self.page.url}:\n" + "\n".join(problems)
        self.checked.append(self.page.url)
        return self.page

    @property
    def path(self) -> str:
        return re.sub(r"^https?://[^/]+", "", self.page.url)

    def text(self) -> str:
        return self.page.inner_text("main")


@pytest.fixture
def open_browser(chromium, portal):
    """`open_browser(viewport=DESKTOP)` -> a fresh Browser; closed after the test."""
    contexts = []

    def make(viewport: dict | None = None, storage_state: dict | None = None) -> Browser:
        context = chromium.new_context(viewport=viewport or DESKTOP, storage_state=storage_state)
        context.add_init_script(script=axe_source())
        contexts.append(context)
        page = context.new_page()
        browser = Browser(page, portal.base_url)
        page.on("console", lambda msg: browser.csp_violations.append(msg.text)
                if "Content Security Policy" in msg.text else None)
        return browser

    make.base_url = portal.base_url
    yield make
    for context in contexts:
        context.close()


def complete_second_factor(browser: Browser, username: str) -> None:
    """Where a sign-in landed on the second factor's pages, finish it as a person would: read the
    key off the enrolment page into the app and confirm with its code (then keep the recovery
    codes), or enter a fresh code."""
    from tests.support.second_factor import AUTHENTICATORS

    if browser.path.startswith("/mfa/enroll"):
        AUTHENTICATORS.add(username, browser.page.get_by_test_id("mfa-secret").inner_text().replace(" ", ""))
        browser.fill({"Code from the app": AUTHENTICATORS.code(username)})
        browser.submit("Turn on the authenticator app")
        assert "Your recovery codes" in browser.text()
        browser.follow("I have saved my recovery codes")
    elif browser.path.startswith("/mfa/verify"):
        browser.fill({"Code from the app": AUTHENTICATORS.code(username)})
        browser.submit("Continue")


def signed_in(open_browser, username: str, password: str) -> Browser:
    """A fresh browser signed in through the sign-in page, past the second factor for office
    members (a patient's or a caregiver's sign-in has none), on the page the sign-in lands on.
    An office member whose page session is still live (`tests/support/kept_sessions.py`: its
    cookies are kept) gets it again, in a fresh browser."""
    from tests.support.kept_sessions import BROWSER, KEPT
    from tests.support.second_factor import AUTHENTICATORS

    opened: list[Browser] = []

    def live(cookies: dict) -> bool:
        browser = open_browser(storage_state=cookies)
        if browser.go("/").url.split("?")[0].endswith("/sign-in"):
            return False
        opened.append(browser)
        return True

    def sign_in(_ended: dict | None) -> dict:
        browser = open_browser()
        browser.go("/sign-in")
        browser.fill({"Username": username, "Password": password})
        browser.submit("Sign in")
        complete_second_factor(browser, username)
        opened.append(browser)
        return browser.page.context.storage_state()

    KEPT.get(BROWSER, open_browser.base_url, username, live=live, sign_in=sign_in,
             keep=lambda _: AUTHENTICATORS.knows(username))
    return opened[-1]
