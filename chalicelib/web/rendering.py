"""How a page goes out: the templates in each language, the stylesheet, the headers every page
carries (its Content-Security-Policy), cookies, redirects (every successful form post ends in one:
post/redirect/get) and the flash message a redirect leaves for the next page.

A flash message is one of a fixed list (`NOTICES`), named by a key in a short-lived cookie the
portal signs (`portal_flash`): no address or form can put words of its own on a page, the address
after a redirect stays clean, and it works without JavaScript. The next page shows it in its own
language and clears the cookie.
"""

from __future__ import annotations

import hmac
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from chalice import Response

from chalicelib import i18n
from chalicelib.clock import clock, date_text, local_text, parse_iso
from chalicelib.frontdoor import SESSION_COOKIE, read_cookie
from chalicelib.i18n import N_
from chalicelib.services.accounts import phone as phone_number
from chalicelib.settings import get_settings
from chalicelib.vocabulary import OFFICE_ROLES, Role

if TYPE_CHECKING:
    from collections.abc import Mapping

    from jinja2 import Environment

WEB_DIR = Path(__file__).resolve().parent

# What a redirect may leave for the next page to say, by key (`redirect(..., notice=key)`).
NOTICES = {
    "caregiver-granted": N_("The caregiver was given access and was sent an email."),
    "caregiver-revoked": N_("The caregiver's access has ended."),
    "caregiver-closed": N_("The caregiver's account is closed and their sessions have ended."),
    "caregiver-reopened": N_("The caregiver's account is open again."),
    "signed-out": N_("You have signed out."),
    "session-ended": N_("Your session ended after {idle} minutes without activity, to keep your information safe. "
                        "Please sign in again."),
    "password-changed": N_("Your password has been changed."),
    "username-changed": N_("Your username has been changed. Use the new one the next time you sign in."),
    "email-changed": N_("The email address on file has been changed. Your username stays as it was."),
    "message-sent": N_("Your message has been sent to the office."),
    "reply-sent": N_("Your reply has been sent."),
    # The office's own messages name the patient they went to (the thread's page fills in the name).
    "office-message-sent": N_("Your message has been sent to {patient}."),
    "office-reply-sent": N_("Your reply has been sent to {patient}."),
    "registered": N_("The patient is registered and an invitation with a temporary password has been emailed."),
    "registered-no-email": N_("The patient is registered. With no email to invite them, print an enrolment letter."),
    "patient-email-changed": N_("The email address on file has been changed; the username stays as it was."),
    "patient-phone-changed": N_("The phone number on file has been updated."),
    "patient-language-changed": N_("The patient's language has been saved."),
    "form-resolved": N_("The form is marked as done."),
    "enrolled": N_("Welcome: you have joined the portal. Use your new username and password from now on."),
    "form-linked": N_("The request is linked to the chart: call the number on file."),
    "phone-changed": N_("Your phone number has been changed."),
    "notifications-changed": N_("Your choice of notices has been saved."),
    "result-release-changed": N_("Your choice of when results are released to you has been saved."),
    "patient-notifications-changed": N_("The patient's choice of notices has been saved."),
    "letter-made": N_("A new enrolment letter is ready to print; any earlier letter's code no longer works."),
    "follow-up-resolved": N_("The follow-up is closed."),
    "staff-created": N_("The staff account is created and a temporary password has been emailed."),
    "uploaded": N_("The file has been uploaded. It appears in the list once it is published."),
    "comment-added": N_("The comment has been added and the patient will be notified."),
    "device-signed-out": N_("That device has been signed out."),
    "staff-updated": N_("The staff account has been updated; their sessions have ended."),
    "staff-mfa-reset": N_("The authenticator app has been reset; they set up a new one at their next sign-in."),
    "access-closed": N_("The patient's portal access is closed and their sessions have ended. Their records are kept."),
    "access-reopened": N_("The patient's portal access is open again."),
    "invitation-sent": N_("A new invitation with a temporary password has been emailed."),
    "unlocked": N_("The account is unlocked."),
    "language-changed": N_("Your language has been saved."),
    "mfa-removed": N_("The authenticator app has been turned off. Signing in now needs only your password."),
    "document-commented": N_("The comment was added. The document is unread again and the patient was notified."),
    "document-retracted": N_("The document was retracted. The patient now sees only “Removed by your clinic”; the "
                             "file is kept for the record."),
    "document-replaced": N_("The corrected file was received. It is checked now and becomes the document's next "
                            "version once it is published (the patient is then notified); if it cannot be "
                            "published, it goes to the work queue with the reason."),
}

# A fixed text that services hand to templates, which show it through the catalog (a removed
# item's neutral title): listed here so the catalog holds it.
SHOWN_THROUGH_THE_CATALOG = (N_("Removed by your clinic"),)
# Whom the office's message went to, when the page does not know the name.
THE_PATIENT = N_("the patient")
# The hint beside every date typed on a page (see chalicelib/web/forms.py).
DATE_HINT = N_("Month/day/year, for example 04/30/1980.")


def _when(value: str | None, with_time: bool = True, language: str = "en") -> str:
    if not value:
        return ""
    return local_text(parse_iso(value), get_settings().clinic_time_zone, with_time=with_time, language=language)


@lru_cache(maxsize=len(i18n.LANGUAGES))
def environment(language: str = i18n.DEFAULT) -> Environment:
    """The page templates in one language (Jinja2's i18n extension over that language's catalog),
    loaded with the first page rather than on every cold start."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(str(WEB_DIR / "templates")),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.i18n"])
    env.install_gettext_translations(i18n.translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.filters["when"] = lambda value, with_time=True: _when(value, with_time, language)
    env.filters["birth_date"] = lambda value: date_text(value, language)  # stored YYYY-MM-DD
    env.filters["phone"] = lambda value: phone_number.shown(value) or ""  # E.164 as the clinic writes it
    env.globals["lang"] = language
    env.globals["Role"], env.globals["OFFICE_ROLES"] = Role, OFFICE_ROLES  # templates compare roles with these
    env.globals["date_hint"] = i18n.gettext(DATE_HINT, language)
    env.globals["css_url"] = static_url("portal.css")
    return env


@lru_cache(maxsize=8)
def static_file(name: str) -> tuple[bytes, str]:
    """The bytes of a file in static/ and a short content hash (for cache-busting URLs)."""
    import hashlib

    data = (WEB_DIR / "static" / name).read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:12]


def static_url(name: str) -> str:
    return f"/static/{name}?v={static_file(name)[1]}"


def content_security_policy(form_origins: tuple[str, ...] = ()) -> str:
    form_action = " ".join(("'self'", *form_origins))
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")


def page_headers(form_origins: tuple[str, ...] = ()) -> dict[str, str]:
    headers = {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": content_security_policy(form_origins),
        "Cache-Control": "no-store",
    }
    if get_settings().secure_cookies:
        headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    return headers


class MarkupMismatch(Exception):
    """A page whose attributes run together (only checked in the suite)."""


def check_markup(template: str, html: str) -> None:
    """Raise MarkupMismatch for a page with attributes run together (`chalicelib/web/markup.py`)."""
    from chalicelib.observability import logger
    from chalicelib.web.markup import attributes_run_together

    found = attributes_run_together(html)
    if found:
        logger.error("page.markup", extra={"template": template, "attributes": found[:10]})
        raise MarkupMismatch(f"{template}: attributes run together: {found[:10]}")


# ---------------------------------------------------------------- cookies

def cookie(name: str, value: str, *, max_age: int | None = None, same_site: str = "Lax") -> str:
    parts = [f"{name}={value}", "Path=/", "HttpOnly", f"SameSite={same_site}"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if get_settings().secure_cookies:
        parts.append("Secure")
    return "; ".join(parts)


def session_cookie_header(token: str) -> str:
    return cookie(SESSION_COOKIE, token, max_age=get_settings().session_max_hours * 3600)


def expired_cookie(name: str) -> str:
    return cookie(name, "", max_age=0)


# ---------------------------------------------------------------- flash messages

FLASH_COOKIE = "portal_flash"
FLASH_SECONDS = 120  # long enough for the redirect to be followed, too short to meet the message twice


def _flash_mac(key: str, issued: str) -> str:
    import hashlib

    return hmac.new(get_settings().form_token_key, f"flash:{key}:{issued}".encode(), hashlib.sha256).hexdigest()[:32]


def flash_cookie(key: str) -> str:
    """The cookie that leaves notice `key` (one of NOTICES) for the next page."""
    if key not in NOTICES:
        raise KeyError(key)
    issued = str(int(clock.now().timestamp()))
    return cookie(FLASH_COOKIE, f"{key}.{issued}.{_flash_mac(key, issued)}", max_age=FLASH_SECONDS)


def flash_key(headers: Mapping[str, str]) -> str | None:
    """The notice a redirect left in this request's flash cookie, when the portal signed it lately."""
    value = read_cookie(headers, FLASH_COOKIE) or ""
    key, issued, mac = (value.split(".") + ["", "", ""])[:3] if len(value) < 200 else ("", "", "")
    if key not in NOTICES or not issued.isdigit():
        return None
    if abs(clock.now().timestamp() - int(issued)) > FLASH_SECONDS:
        return None
    return key if hmac.compare_digest(_flash_mac(key, issued), mac) else None


def notice_text(key: str | None, language: str, patient: str | None = None) -> str:
    """The notice in the page's language; `patient` names whom the office's message went to."""
    if not key:
        return ""
    named = patient or i18n.gettext(THE_PATIENT, language)
    return i18n.gettext(NOTICES[key], language).format(idle=get_settings().session_idle_minutes, patient=named)


# ---------------------------------------------------------------- where to next

def redirect(location: str, *, cookies: list[str] | None = None, notice: str | None = None) -> Response:
    """See Other: every successful form post ends here (post/redirect/get), with `notice` (a key
    of NOTICES) for the page it leads to."""
    headers: dict[str, Any] = {"Location": location, "Cache-Control": "no-store"}
    cookies = [*(cookies or []), *([flash_cookie(notice)] if notice else [])]
    if cookies:
        headers["Set-Cookie"] = cookies
    return Response(body="", status_code=303, headers=headers)


def safe_next(value: str | None, default: str) -> str:
    """Only a path on this site: never another host (no open redirect)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        parts = urlsplit(value)
        if not parts.netloc and not parts.scheme:
            return value
    return default


def home_for(role: str) -> str:
    homes: dict[str, str] = {Role.PATIENT: "/", Role.PROXY: "/caregiver"}
    return homes.get(role, "/staff")


def current_path(request: Any) -> str:
    """This page's path (without any API Gateway stage prefix)."""
    pattern = (request.context or {}).get("resourcePath", "/")
    for name, value in (request.uri_params or {}).items():
        pattern = pattern.replace("{" + name + "}", quote(value, safe=""))
    return str(pattern)
