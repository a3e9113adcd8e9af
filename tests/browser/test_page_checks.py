"""The check every visited page goes through (`Browser.visited()`) fails a page axe-core faults:
the accessibility checks the other browser tests rely on really run, in every new document."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_a_page_with_an_image_without_alternative_text_fails_the_page_check(open_browser):
    # Given a browser on the portal's sign-in page, which passes the check
    browser = open_browser()
    browser.go("/sign-in")

    # When the page gains an image with no alternative text, in a new document of the same context
    browser.page.goto(browser.base_url + "/sign-in")
    browser.page.evaluate("document.querySelector('main').insertAdjacentHTML('beforeend', '<img src=\"/x.png\">')")

    # Then the page check fails, naming axe-core's rule
    with pytest.raises(AssertionError, match="image-alt"):
        browser.visited()
