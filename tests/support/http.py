"""The JSON API client, the portal over HTTP (sign-ins, the local mailbox, registered patients)
and the names, addresses and passwords the tests make up."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

import requests

from tests.support.kept_sessions import API, KEPT
from tests.support.second_factor import complete_second_factor

# The contract's line with a temporary password, in either language of the mails.
TEMP_PASSWORD_RE = re.compile(r"^(?:Temporary password|Contraseña temporal): (\S+)$", re.MULTILINE)


def unique_email(prefix: str = "patient") -> str:
    return f"{prefix}.{secrets.token_hex(4)}@example.com"


def unique_mrn() -> str:
    return "MRN" + secrets.token_hex(5).upper()


def strong_password() -> str:
    """A password the policy accepts: several random words' worth of entropy."""
    return f"violet-{secrets.token_hex(3)}-harbor-{secrets.token_hex(3)}"


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
        """This account's kept API session (`kept_sessions`), signed in again in place once it has
        ended, so the fixtures holding it (`admin`, `staff`) hold a live one again."""

        def sign_in(ended: Api | None) -> Api:
            fresh = self.signed_in(username, password)
            if ended is None:
                return fresh
            ended.token = fresh.token
            return ended

        return KEPT.get(API, self.base_url, username, live=lambda api: api.get("/api/me").status_code == 200,
                        sign_in=sign_in)

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
    from chalicelib.services.followup.notices import OFFICE_NEW_MESSAGE
    from chalicelib.settings import get_settings

    return [m for m in portal.outbox(get_settings().office_email) if m["kind"] == OFFICE_NEW_MESSAGE]


def into_a_fresh_alert_window(clock) -> None:
    """Move the portal clock a minute into an office-alert window no other test uses (some day in
    the next years): what a test sends next joins that window's alert, which nothing has taken.
    Sessions made before are idle by then: sign in afterwards."""
    from datetime import timedelta

    from chalicelib.services.followup.notices import office_alert_window

    while True:  # a window this process's stack has not been sent to yet (its alert's id is the window's)
        later = clock.now() + timedelta(days=30 + secrets.randbelow(3000), hours=secrets.randbelow(24))
        window = office_alert_window(later)
        if window.id not in _ALERT_WINDOWS_TAKEN:
            break
    _ALERT_WINDOWS_TAKEN.add(window.id)
    clock.travel_to(window.due_at + timedelta(minutes=1))


_ALERT_WINDOWS_TAKEN: set[str] = set()


def end_the_alert_window(clock) -> None:
    """Move to the end of the current office-alert window and run the schedule, as it runs then."""
    from chalicelib.clock import iso
    from chalicelib.localstack import pump
    from chalicelib.services.followup.notices import office_alert_window

    clock.travel_to(office_alert_window(clock.now()).due_at)
    pump.run_schedules(iso(clock.now()))
