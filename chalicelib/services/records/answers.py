"""The take-away records' answers (see chalicelib/services/answers.py for how an answer is declared)."""

from __future__ import annotations

from typing import Literal

from typing_extensions import TypedDict

from chalicelib.services.answers import Time


class ExportPending(TypedDict):
    """An export whose zip is still being built."""

    status: Literal["pending"]


class ExportReady(TypedDict):
    """A built export, with a short-lived link to its zip."""

    status: Literal["ready"]
    url: str
    expires_at: Time


# What `GET /api/me/exports/{id}` answers (`exports.export_status`).
ExportStatus = ExportPending | ExportReady
