"""What a form post leads to on the pages (chalicelib/web/framework.py, rendering.py): `ctx.submit`
with `done` is the redirect or the form again; a redirect's notice travels in a short-lived cookie the
portal signs, is shown once on the next page in its language, and no address can put words there."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from chalicelib.clock import clock
from chalicelib.web import rendering
from chalicelib.web.framework import PageCtx

WEB = Path(__file__).resolve().parents[2] / "chalicelib" / "web"


def _request(cookie: str = "", path: str = "/forms", **query: str) -> SimpleNamespace:
    return SimpleNamespace(headers={"cookie": cookie} if cookie else {}, context={"resourcePath": path},
                           uri_params={}, method="GET", query_params=query)


def _ctx(request: SimpleNamespace, form: dict[str, str] | None = None) -> PageCtx:
    return PageCtx(request, None, form or {}, dict(request.query_params), "203.0.113.9", form_token="t")


def _flash_value(set_cookie: str) -> str:
    match = re.match(rf"{rendering.FLASH_COOKIE}=([^;]*);", set_cookie)
    assert match, set_cookie
    return match.group(1)


@pytest.fixture(autouse=True)
def _clock_back():
    yield
    clock.reset()


def test_a_redirect_leaves_its_notice_in_a_signed_cookie_and_a_clean_address():
    # When a form post ends with a redirect and a notice
    answer = rendering.redirect("/profile#language", notice="language-changed")
    # Then the address is the page alone, and the notice is in a short-lived HttpOnly cookie
    assert answer.status_code == 303 and answer.headers["Location"] == "/profile#language"
    [flash] = answer.headers["Set-Cookie"]
    assert "HttpOnly" in flash and f"Max-Age={rendering.FLASH_SECONDS}" in flash
    # And the portal reads back what it signed
    value = _flash_value(flash)
    assert rendering.flash_key({"cookie": f"{rendering.FLASH_COOKIE}={value}"}) == "language-changed"


def test_a_notice_the_portal_did_not_sign_or_that_is_old_says_nothing():
    value = _flash_value(rendering.flash_cookie("signed-out"))
    key, issued, mac = value.split(".")
    # Given a cookie naming another notice with the same signature, a made-up key, or garbage
    for forged in (f"password-changed.{issued}.{mac}", f"hello.{issued}.{mac}", "x" * 500, ""):
        # Then no notice is shown
        assert rendering.flash_key({"cookie": f"{rendering.FLASH_COOKIE}={forged}"}) is None
    # And a genuine one is shown only while it is fresh
    clock.advance(timedelta(seconds=rendering.FLASH_SECONDS + 1))
    assert rendering.flash_key({"cookie": f"{rendering.FLASH_COOKIE}={value}"}) is None
    # And a notice outside the fixed list cannot even be set
    with pytest.raises(KeyError):
        rendering.flash_cookie("anything you like")


def test_the_next_page_shows_the_notice_once_in_its_language_and_clears_it():
    # Given the cookie a sign-out left, on a browser that reads Spanish
    value = _flash_value(rendering.flash_cookie("signed-out"))
    request = _request(f"{rendering.FLASH_COOKIE}={value}")
    request.headers["accept-language"] = "es"
    # When the next page is rendered
    page = _ctx(request).render("forms.html")
    # Then it says so in Spanish, and the cookie is cleared
    assert "Cerró su sesión." in page.body and page.headers["Content-Language"] == "es"
    assert f"{rendering.FLASH_COOKIE}=; " in " ".join(page.headers["Set-Cookie"])
    # And a query string names no notice any more
    assert "You have signed out" not in _ctx(_request(notice="signed-out")).render("forms.html").body


def test_submit_with_done_is_the_redirect_or_the_form_again():
    shown = []

    def show(status: int, errors: dict[str, str]):
        shown.append((status, errors))
        return SimpleNamespace(status_code=status, headers={})

    # Given a form the body model accepts / When it is submitted with a success redirect
    ok = _ctx(_request(), {"username": "maria"}).submit(
        "ForgotPasswordBody", lambda body: {"id": body.username}, show,
        done=lambda answer: f"/done/{answer['id']}", notice="reply-sent")
    # Then the answer is that redirect, with its notice
    assert ok.status_code == 303 and ok.headers["Location"] == "/done/maria"
    assert _flash_value(ok.headers["Set-Cookie"][0]).startswith("reply-sent.")
    # And a form it refuses is shown again with the problem beside its field, and nothing is done
    again = _ctx(_request(), {"username": " "}).submit("ForgotPasswordBody", lambda body: 1 / 0, show, done="/x")
    assert again.status_code == 400 and shown == [(400, {"username": "This field is required."})]


def test_no_page_names_a_notice_in_its_address():
    # Given every page module / Then none sends a notice or a "done" text through a query string
    found = [str(path.relative_to(WEB)) for path in WEB.rglob("*.py")
             if re.search(r"[?&](notice|done)=", path.read_text(encoding="utf-8"))]
    assert found == []
