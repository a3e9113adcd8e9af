"""The one place tests get kept sessions from, whichever door they use: the JSON API client
(`Portal.live`), a `requests` session on the pages (`pages.signed_in_pages`) and a Playwright
browser's cookies (`tests/browser/conftest.py: signed_in`).

Each sign-in of an account with a second factor (every office member) spends a time step's code,
and the portal accepts at most three steps in 30 seconds (one of drift either way): signing the
shared office accounts in afresh for every test would wait on the clock. So a session is kept, per
door, portal and account, and handed out again while it is live; one that has ended (a test moved
the clock past its idle or absolute limit, or signed it out) is replaced by a fresh sign-in. The
sign-in pages and the second factor keep tests of their own, with accounts of their own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

API, PAGES, BROWSER = "api", "pages", "browser"  # the doors


class KeptSessions:
    def __init__(self) -> None:
        self._kept: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.Lock()

    def get(self, door: str, base_url: str, username: str, *, live: Callable[[T], bool],
            sign_in: Callable[[T | None], T], keep: Callable[[T], bool] = lambda _: True) -> T:
        """The kept session of `username` at this door while `live(session)` says it lasts; else
        `sign_in(the ended one, or None)`, kept when `keep(new session)` (an account without a
        second factor need not be)."""
        key = (door, base_url, username.casefold())
        with self._lock:
            held = self._kept.get(key)
        if held is not None and live(held):
            return held
        fresh = sign_in(held)
        with self._lock:
            if keep(fresh):
                self._kept[key] = fresh
            else:
                self._kept.pop(key, None)
        return fresh


KEPT = KeptSessions()
