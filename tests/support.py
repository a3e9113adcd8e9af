"""Helpers for tests that talk to the portal over HTTP."""

from __future__ import annotations

import re
import secrets
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import requests

TEMP_PASSWORD_RE = re.compile(r"^Temporary password: (\S+)$", re.MULTILINE)


def unique_email(prefix: str = "patient") -> str:
    return f"{prefix}.{secrets.token_hex(4)}@example.com"


def unique_mrn() -> str:
    return "MRN" + secrets.token_hex(5).upper()


def strong_password() -> str:
    """A password the policy accepts: several random words' worth of entropy."""
    return f"violet-{secrets.token_hex(3)}-harbor-{secrets.token_hex(3)}"


class Authenticators:
    """The authenticator apps of the suite's accounts: each account's secret (by username), and the
    time steps whose codes it has sent, since the portal accepts each step's code once. Codes are
    made on the portal's own clock (the portal runs in this process), so a test that moves the
    clock gets codes for its time."""

    def __init__(self) -> None:
        self._secrets: dict[str, str] = {}
        self._used: dict[str, set[int]] = {}
        self._lock = threading.Lock()

    def knows(self, username: str) -> bool:
        return username.casefold() in self._secrets

    def add(self, username: str, secret: str) -> None:
        with self._lock:
            self._secrets[username.casefold()] = secret
            self._used[username.casefold()] = set()

    def secret(self, username: str) -> str:
        return self._secrets[username.casefold()]

    def used(self, username: str) -> set[int]:
        with self._lock:
            return set(self._used.get(username.casefold(), ()))

    def wrong_code(self, username: str) -> str:
        """Six digits that are none of the codes the portal accepts now (or a step later)."""
        from chalicelib.clock import clock
        from chalicelib.services.access import mfa

        current = mfa.step_at(clock.now())
        valid = {mfa.code_at(self.secret(username), step) for step in range(current - 2, current + 3)}
        return next(code for code in (f"{n:06d}" for n in range(1_000_000)) if code not in valid)

    def code_for_step(self, username: str, step: int) -> str:
        """The code of one given step, counted as sent."""
        from chalicelib.services.access import mfa

        with self._lock:
            self._used.setdefault(username.casefold(), set()).add(step)
            return mfa.code_at(self._secrets[username.casefold()], step)

    def code(self, username: str) -> str:
        """A code the portal has not seen yet: this step's, else the next step's (one step of drift
        is accepted), else the last step's while it is not about to end; failing all three, wait
        for the next step."""
        from chalicelib.clock import clock
        from chalicelib.services.access import mfa

        key = username.casefold()
        while True:
            with self._lock:
                now = clock.now()
                current = mfa.step_at(now)
                used = self._used.setdefault(key, set())
                seconds_into_step = now.timestamp() - current * mfa.STEP_SECONDS
                candidates = [current, current + 1] + ([current - 1] if seconds_into_step < 20 else [])
                for step in candidates:
                    if step not in used:
                        used.add(step)
                        return mfa.code_at(self._secrets[key], step)
            time.sleep(max(0.05, mfa.STEP_SECONDS - seconds_into_step + 0.05))


AUTHENTICATORS = Authenticators()


def complete_second_factor(api: Api, username: str, owed: str) -> list[str]:
    """Finish a sign-in that owes its second factor, as the person's authenticator app would:
    enrol (remembering the secret) or send a fresh code. Returns the recovery codes of an enrolment."""
    if owed == "enroll":
        started = api.post("/api/auth/mfa/enroll")
        assert started.status_code == 200, started.text
        AUTHENTICATORS.add(username, started.json()["secret"])
        confirmed = api.post("/api/auth/mfa/confirm", json={"code": AUTHENTICATORS.code(username)})
        assert confirmed.status_code == 200, confirmed.text
        return confirmed.json()["recovery_codes"]
    if owed == "verify":
        verified = api.post("/api/auth/mfa/verify", json={"code": AUTHENTICATORS.code(username)})
        assert verified.status_code == 204, verified.text
    return []


@dataclass
class Api:
    """A client of the JSON API, signed in when it has a token."""

    base_url: str
    token: str | None = None
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    def _headers(self, extra: dict | None) -> dict:
        headers = dict(extra or {})
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        return headers

    def request(self, method: str, path: str, *, json=None, headers: dict | None = None, **kwargs) -> requests.Response:
        return self.session.request(method, self.base_url + path, json=json, headers=self._headers(headers),
                                    timeout=60, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json=None, **kwargs) -> requests.Response:
        return self.request("POST", path, json=json, **kwargs)

    def put(self, path: str, json=None, **kwargs) -> requests.Response:
        return self.request("PUT", path, json=json, **kwargs)

    def anonymous(self) -> Api:
        return Api(self.base_url)


@dataclass
class Patient:
    id: str
    email: str
    mrn: str
    name: str
    api: Api | None = None
    username: str | None = None
    password: str | None = None


@dataclass
class Portal:
    base_url: str
    # Sessions kept by `live`, by username.
    _live: dict[str, Api] = field(default_factory=dict, repr=False)

    @property
    def public(self) -> Api:
        return Api(self.base_url)

    def login(self, username: str, password: str) -> requests.Response:
        return self.public.post("/api/auth/login", json={"username": username, "password": password})

    def signed_in(self, username: str, password: str) -> Api:
        """Signed in with the password and, when the account has one (staff always), the second factor."""
        answer = self.login(username, password)
        assert answer.status_code == 200, answer.text
        api = Api(self.base_url, answer.json()["token"])
        complete_second_factor(api, username, answer.json().get("mfa", "none"))
        return api

    def live(self, username: str, password: str) -> Api:
        """This account's kept session, signed in again (in place) once it has ended: a test that
        moves the clock by days ends it, as it should (idle and absolute limits). Kept because each
        sign-in of an office member spends a time step's code, of which the portal accepts at most
        three in 30 seconds: signing in afresh at every turn would wait on the clock."""
        kept = self._live.get(username.casefold())
        if kept is None:
            kept = self._live[username.casefold()] = self.signed_in(username, password)
        elif kept.get("/api/me").status_code != 200:
            kept.token = self.signed_in(username, password).token
        return kept

    def outbox(self, to: str | None = None) -> list[dict]:
        """The local mailbox: every mail, or only those to one address."""
        return self.public.get("/dev/outbox", params={"to": to} if to else None).json()["messages"]

    def last_temporary_password(self, to: str) -> str:
        for message in reversed(self.outbox(to)):
            found = TEMP_PASSWORD_RE.search(message["text"])
            if found:
                return found.group(1)
        raise AssertionError(f"no temporary password mailed to {to}")

    def register_patient(self, staff: Api, name: str = "Test Patient", **overrides) -> Patient:
        body = {"name": name, "date_of_birth": "1980-04-30", "email": unique_email(), "mrn": unique_mrn(), **overrides}
        answer = staff.post("/api/staff/patients", json=body)
        assert answer.status_code == 201, answer.text
        return Patient(answer.json()["id"], body["email"], body["mrn"], body["name"], username=answer.json()["username"])

    def activate(self, patient: Patient) -> Patient:
        """First sign-in: the invitation's temporary password, then a password of their own."""
        temporary = self.last_temporary_password(patient.email)
        first = self.login(patient.username, temporary)
        assert first.status_code == 200 and first.json()["must_change_password"], first.text
        api = Api(self.base_url, first.json()["token"])
        password = strong_password()
        changed = api.post("/api/auth/password", json={"current_password": temporary, "new_password": password})
        assert changed.status_code == 204, changed.text
        patient.api, patient.password = api, password
        return patient

    def new_patient(self, staff: Api, **overrides) -> Patient:
        """A registered patient who has signed in and chosen a password."""
        return self.activate(self.register_patient(staff, **overrides))


def office_alert_mails(portal: Portal) -> list[dict]:
    """The office's "a patient wrote" alerts (the daily digest goes to the same address)."""
    from chalicelib.mail.sender import SUBJECTS
    from chalicelib.services.followup.notices import OFFICE_NEW_MESSAGE
    from chalicelib.settings import get_settings

    return [m for m in portal.outbox(get_settings().office_email) if m["subject"] == SUBJECTS[OFFICE_NEW_MESSAGE]]


def into_a_fresh_alert_window(clock) -> None:
    """Move the portal clock a minute into an office-alert window no other test uses (some day in
    the next years): what a test sends next joins that window's alert, which nothing has taken.
    Sessions made before are idle by then: sign in afterwards."""
    from datetime import timedelta

    from chalicelib.services.followup.notices import office_alert_window

    later = clock.now() + timedelta(days=30 + secrets.randbelow(3000), hours=secrets.randbelow(24))
    clock.travel_to(office_alert_window(later).due_at + timedelta(minutes=1))


def end_the_alert_window(clock) -> None:
    """Move to the end of the current office-alert window and run the schedule, as it runs then."""
    from chalicelib.clock import iso
    from chalicelib.localstack import pump
    from chalicelib.services.followup.notices import office_alert_window

    clock.travel_to(office_alert_window(clock.now()).due_at)
    pump.run_schedules(iso(clock.now()))


@contextmanager
def aws_refuses(when, code: str, status: int, message: str = "injected fault", *, times: int | None = None):
    """Botocore calls for which `when(client, operation_name, api_params)` holds fail as the service
    answers them (error `code`, HTTP `status`, `message`) while the context is open, in this process
    where every botocore call passes; with `times`, only that many. The others go through. Yields
    the refused operations' names."""
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError

    original, refused = BaseClient._make_api_call, []

    def call(client, operation_name, api_params):
        if (times is None or len(refused) < times) and when(client, operation_name, api_params):
            refused.append(operation_name)
            raise ClientError({"Error": {"Code": code, "Message": message},
                               "ResponseMetadata": {"HTTPStatusCode": status}}, operation_name)
        return original(client, operation_name, api_params)

    BaseClient._make_api_call = call
    try:
        yield refused
    finally:
        BaseClient._make_api_call = original


def a_send_to(address: str):
    """For `aws_refuses`: an SES send with `address` among its recipients."""
    def matches(client, operation_name: str, api_params: dict) -> bool:
        to = (api_params.get("Destination") or {}).get("ToAddresses") or []
        return operation_name == "SendEmail" and address in to
    return matches


def ses_refuses_the_next_send_to(address: str, code: str = "ServiceUnavailable", status: int = 503):
    """The next SES send to `address` fails as SES answers it (by default a passing 503), in this
    process where every botocore call passes; later sends go through. Yields the refusals made."""
    return aws_refuses(a_send_to(address), code, status, times=1)


def page_csrf(page: str) -> str:
    """The CSRF token of the first form on a page."""
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


# Page sessions of accounts with a second factor, kept while they last: each new sign-in spends a
# time step's code, of which the portal accepts at most three in 30 seconds (one step of drift
# either way), so signing the same office member in for every test would wait on the clock.
_FACTOR_PAGE_SESSIONS: dict[tuple[str, str], requests.Session] = {}


def _still_signed_in(pages: requests.Session, base_url: str) -> bool:
    return pages.get(f"{base_url}/profile", allow_redirects=False, timeout=30).status_code == 200


def signed_in_pages(base_url: str, username: str, password: str) -> requests.Session:
    """A browser-like session on the pages (the session cookie; forms carry their CSRF token).
    An account with a second factor gets its live session again rather than a new sign-in."""
    key = (base_url, username.casefold())
    kept = _FACTOR_PAGE_SESSIONS.get(key)
    if kept is not None and _still_signed_in(kept, base_url):
        return kept
    pages = requests.Session()
    form = pages.get(f"{base_url}/sign-in", timeout=30)
    signed_in = pages.post(f"{base_url}/sign-in", timeout=30,
                           data={"username": username, "password": password, "csrf_token": page_csrf(form.text)})
    assert signed_in.ok and "/sign-in" not in signed_in.url, signed_in.url
    complete_second_factor_on_pages(pages, signed_in, username)
    if AUTHENTICATORS.knows(username):
        _FACTOR_PAGE_SESSIONS[key] = pages
    return pages


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
