"""The pages without a browser: a `requests` session signed in through the sign-in form, the
forms' CSRF tokens, and the second factor finished on its pages."""

from __future__ import annotations

import re

import requests

from tests.support.kept_sessions import KEPT, PAGES
from tests.support.second_factor import AUTHENTICATORS


def page_csrf(page: str) -> str:
    """The CSRF token of the first form on a page."""
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _still_signed_in(pages: requests.Session, base_url: str) -> bool:
    return pages.get(f"{base_url}/profile", allow_redirects=False, timeout=30).status_code == 200


def signed_in_pages(base_url: str, username: str, password: str) -> requests.Session:
    """A browser-like session on the pages (the session cookie; forms carry their CSRF token).
    An account with a second factor gets its kept session while it lasts (`kept_sessions`)."""

    def sign_in(_ended: requests.Session | None) -> requests.Session:
        pages = requests.Session()
        form = pages.get(f"{base_url}/sign-in", timeout=30)
        signed_in = pages.post(f"{base_url}/sign-in", timeout=30,
                               data={"username": username, "password": password, "csrf_token": page_csrf(form.text)})
        assert signed_in.ok and "/sign-in" not in signed_in.url, signed_in.url
        complete_second_factor_on_pages(pages, signed_in, username)
        return pages

    return KEPT.get(PAGES, base_url, username, live=lambda pages: _still_signed_in(pages, base_url), sign_in=sign_in,
                    keep=lambda _: AUTHENTICATORS.knows(username))


MFA_SECRET_RE = re.compile(r'data-testid="mfa-secret">([A-Z2-7 ]+)<')


def complete_second_factor_on_pages(pages: requests.Session, landed: requests.Response, username: str) -> None:
    """Where a sign-in landed on the second factor's pages, finish it there as a person would:
    type the key shown into the app and confirm with its code, or enter a fresh code."""
    path = "/" + landed.url.split("://", 1)[-1].partition("/")[2]
    enrolling = path.startswith("/mfa/enroll")
    if enrolling:
        AUTHENTICATORS.add(username, MFA_SECRET_RE.search(landed.text).group(1).replace(" ", ""))
    elif not path.startswith("/mfa/verify"):
        return
    form = {"code": AUTHENTICATORS.code(username), "csrf_token": page_csrf(landed.text)}
    next_path = re.search(r'name="next" value="([^"]*)"', landed.text)
    if next_path:
        form["next"] = next_path.group(1)
    done = pages.post(landed.url.split("?")[0], data=form, timeout=30)
    if enrolling:
        assert done.ok and "Your recovery codes" in done.text, (done.status_code, done.url)
    else:
        assert done.ok and "/mfa/" not in done.url, (done.status_code, done.url)
