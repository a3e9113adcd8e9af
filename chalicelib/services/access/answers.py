"""The answers about signing in (see chalicelib/services/answers.py for how an answer is declared)."""

from __future__ import annotations

from typing_extensions import TypedDict

from chalicelib.services.answers import Time


class Device(TypedDict):
    """One of the account's live sessions, a signed-in device (`sessions.listed`). Its `id` is a
    hash of the token's hash: neither a credential nor a way back to one."""

    id: str
    created_at: Time
    last_seen_at: Time
    client_ip: str | None
    user_agent: str | None
    current: bool
