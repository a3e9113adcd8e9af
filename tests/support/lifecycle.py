"""Helpers for the account lifecycle tests (and the second factor's and the load runs'): an office
member of a test's own, with their password and recovery codes."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from tests.support.http import Api, strong_password, unique_email
from tests.support.second_factor import complete_second_factor


@dataclass
class Member:
    id: str
    username: str
    email: str
    password: str
    api: Api
    recovery_codes: list[str] = field(default_factory=list)


def new_member(portal, admin: Api, role: str = "staff", *, name: str = "Robin Office", prefix: str = "life",
               npi: str | None = None) -> Member:
    """A staff member (or admin) created by the admin, past the forced password change and the
    enrolment of their authenticator app (its recovery codes kept), signed in."""
    username, email = f"{prefix}_" + secrets.token_hex(5), unique_email(prefix)
    created = admin.post("/api/admin/staff", json={"username": username, "email": email, "name": name,
                                                    "role": role, **({"npi": npi} if npi else {})})
    assert created.status_code == 201, created.text
    temporary = portal.last_temporary_password(email)
    first = portal.login(username, temporary)
    assert first.status_code == 200, first.text
    api = Api(portal.base_url, first.json()["token"])
    password = strong_password()
    changed = api.post("/api/auth/password", json={"current_password": temporary, "new_password": password})
    assert changed.status_code == 204, changed.text
    codes = complete_second_factor(api, username, first.json()["mfa"])
    return Member(created.json()["id"], username, email, password, api, codes)


def events(admin: Api, **query) -> list[dict]:
    """The audit trail (newest first) for a patient or an actor."""
    answer = admin.get("/api/staff/audit", params=query)
    assert answer.status_code == 200, answer.text
    return answer.json()["events"]


def delete(api: Api, path: str):
    return api.request("DELETE", path)
