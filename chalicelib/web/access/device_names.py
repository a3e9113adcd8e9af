"""A signed-in device as a person names it ("Safari on iPhone", "Chrome on Windows"), read from the
session's user agent: the browser (the last product that says which, as user agents pile earlier
names on) and the system. The JSON API keeps the user agent as it came."""

from __future__ import annotations

import re
from typing import Any

from chalicelib import i18n
from chalicelib.i18n import N_

# Checked in order: a browser built on another names that one too (Edge says Chrome and Safari).
BROWSERS = (
    ("Edg", "Edge"), ("EdgiOS", "Edge"), ("EdgA", "Edge"), ("OPR", "Opera"), ("SamsungBrowser", "Samsung Internet"),
    ("CriOS", "Chrome"), ("FxiOS", "Firefox"), ("Firefox", "Firefox"), ("HeadlessChrome", "Chrome"),
    ("Chromium", "Chromium"), ("Chrome", "Chrome"), ("Version", "Safari"),
)
SYSTEMS = (
    ("iPhone", "iPhone"), ("iPad", "iPad"), ("Android", "Android"), ("Windows", "Windows"), ("CrOS", "ChromeOS"),
    ("Macintosh", "Mac"), ("Mac OS X", "Mac"), ("Linux", "Linux"),
)
DEVICE = N_("%(browser)s on %(system)s")


def name(user_agent: str | None, language: str = i18n.DEFAULT) -> str | None:
    """"Safari on iPhone"; the browser or the system alone when only one is known; a client that is
    no browser by its own first name ("python-requests"); None when there is nothing to go by."""
    agent = (user_agent or "").strip()
    if not agent:
        return None
    tokens = re.findall(r"([A-Za-z][A-Za-z ]*?)/[0-9]", agent)
    browser = next((shown for token, shown in BROWSERS if token in tokens), None)
    system = next((shown for mark, shown in SYSTEMS if mark in agent), None)
    if browser and system:
        return i18n.gettext(DEVICE, language) % {"browser": browser, "system": system}
    if browser or system:
        return browser or system
    first = agent.split("/", 1)[0].split(" ", 1)[0]
    return first[:40] or None


def named(devices: list[Any], language: str = i18n.DEFAULT) -> list[dict[str, Any]]:
    """The devices of My Profile, each with its `name`."""
    return [{**device, "name": name(device.get("user_agent"), language)} for device in devices]
