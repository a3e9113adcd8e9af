"""The pages' markup check the suite runs on every page it renders (`chalicelib/web/markup.py`),
the fixed field macro, and signed-in devices named as a person names them."""

from __future__ import annotations

import pytest

from chalicelib.web.access.device_names import name
from chalicelib.web.markup import attributes_run_together
from chalicelib.web.rendering import environment


def test_the_check_finds_attributes_run_together_and_passes_well_formed_ones():
    # Given a field whose `required` ran into its hint, a value into the next name, and good markup
    bad = '<input id="a" requiredaria-describedby="a-hint"><a href="/"title="x">x</a>'
    good = ('<input id="a" name="a" type="text" required aria-describedby="a-hint" aria-invalid="true">'
            '<td data-label="Phone"><svg viewBox="0 0 10 10"><path d="M0 0" fill="none"/></svg></td>')
    # Then both runs are found, and nothing in the good markup
    assert attributes_run_together(bad) == ['<input> requiredaria-describedby', '<a href="/"title="x">']
    assert attributes_run_together(good) == []


@pytest.mark.parametrize("field_type", ["text", "textarea", "password"])
def test_the_field_macro_writes_each_attribute_apart_with_a_hint_and_an_error(field_type):
    # Given the pages' field macro with a hint and an error (the case that once ran together)
    template = environment("en").from_string(
        '{% from "macros.html" import field with context %}'
        '{{ field("phone", "Phone", {"phone": "Not a number."}, hint="For example (919) 555-0142.", type=t) }}')
    html = template.render(t=field_type)
    # Then no attribute runs into another, and the field is required and described by both
    assert attributes_run_together(html) == []
    assert " required " in html and 'aria-describedby="phone-error phone-hint"' in html


@pytest.mark.parametrize(("agent", "shown"), [
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.4 Mobile/15E148 Safari/604.1", "Safari on iPhone"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
     "Safari/537.36 Edg/124.0.0.0", "Edge on Windows"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile "
     "Safari/537.36", "Chrome on Android"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
     "Safari/605.1.15", "Safari on Mac"),
    ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", "Firefox on Linux"),
    ("python-requests/2.32.3", "python-requests"),
    ("", None),
])
def test_a_signed_in_device_is_named_by_its_browser_and_system(agent, shown):
    # Given a session's user agent / Then the device is named as a person names it
    assert name(agent) == shown


def test_a_device_is_named_in_spanish_on_spanish_pages():
    agent = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Version/17.4 Mobile/15E148 Safari/604.1"
    assert name(agent, "es") == "Safari en iPhone"
