"""The OpenAPI document, generated from the routes and the same pydantic models that validate
request bodies, so it cannot drift from the code. The answers are described by the pydantic
models below (what each route's service returns; extra fields are allowed, as the HTTP contract
allows extensions: docs/contract.md), and the query parameters the handlers read are declared
with them; the fuzz tests check every answer against this document."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from chalicelib.api.http import PUBLIC, ROUTES

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
}


# ---------------------------------------------------------------- answers

class Answer(BaseModel):
    """A JSON answer: the fields named here are always present; others may be added."""

    # Only the OpenAPI document uses these: build their schemas then, not on every cold start.
    model_config = ConfigDict(extra="allow", defer_build=True)


Time = str  # ISO 8601 UTC, e.g. 2026-11-25T19:08:06Z


class Message(Answer):
    message: str


class Health(Answer):
    status: Literal["ok"]


class Created(Answer):
    id: str


class Session(Answer):
    token: str
    expires_at: Time
    must_change_password: bool
    role: Literal["patient", "staff", "admin"]


class Account(Answer):
    id: str
    username: str
    email: str
    name: str
    role: Literal["patient", "staff", "admin"]
    email_status: str | None


class Patient(Account):
    mrn: str | None
    date_of_birth: str | None
    has_signed_in: bool
    locked: bool
    created_at: Time | None


class Username(Answer):
    username: str


class Registered(Username):
    id: str


class Email(Answer):
    email: str


class ItemSummary(Answer):
    id: str
    kind: Literal["document", "message"]
    title: str
    created_at: Time
    read_at: Time | None


class Items(Answer):
    items: list[ItemSummary]


class StaffItem(ItemSummary):
    notices_sent: int
    last_notice_at: Time | None
    escalated: bool
    first_read_at: Time | None
    open_count: int


class PatientDetail(Patient):
    items: list[StaffItem]


class Patients(Answer):
    patients: list[Patient]


class Comment(Answer):
    author: str
    text: str
    created_at: Time


class Document(Answer):
    id: str
    title: str
    category: str | None
    provider: str | None
    published_at: Time
    read_at: Time | None
    comments: list[Comment]


class Commented(Answer):
    id: str
    comments: list[Comment]


class FileLink(Answer):
    url: str
    expires_at: Time


class UploadForm(Answer):
    url: str
    fields: dict[str, str]
    key: str


class ThreadSummary(Answer):
    id: str
    subject: str
    category: str | None
    created_at: Time
    updated_at: Time
    unread: int


class Threads(Answer):
    threads: list[ThreadSummary]
    next_cursor: str | None


class ThreadMessage(Answer):
    id: str
    author_role: str
    body: str
    sent_at: Time


class Thread(ThreadSummary):
    messages: list[ThreadMessage]
    next_cursor: str | None


class WorkEntry(Answer):
    id: str
    kind: str
    created_at: Time
    patient_id: str | None
    item_id: str | None
    reason: str | None
    data: dict[str, Any] | None


class BadEmail(Answer):
    patient_id: str
    name: str | None
    reason: str | None
    since: Time | None


class Queue(Answer):
    follow_ups: list[WorkEntry]
    forms: list[WorkEntry]
    quarantine: list[WorkEntry]
    bad_emails: list[BadEmail]


class Resolved(Answer):
    id: str
    status: Literal["resolved"]


class PublishedAgain(Answer):
    id: str
    status: Literal["resolved"]
    resolution: Literal["published_again"]
    key: str
    patient_id: str


class FollowUpReport(Answer):
    since: Time
    as_of: Time
    read_since_last: int
    unread_in_follow_up: int
    escalated_open: int
    escalated_since_last: int
    bad_emails: int


class AuditEvent(Answer):
    id: str
    at: Time
    action: str
    outcome: str
    actor_id: str | None
    patient_id: str | None
    target_id: str | None


class AuditTrail(Answer):
    events: list[AuditEvent]


class OpenApiDocument(Answer):
    openapi: str
    paths: dict[str, Any]


class Mail(Answer):
    to: str
    subject: str
    text: str
    html: str


class Outbox(Answer):
    messages: list[Mail]


class SweepSummary(Answer):
    now: Time
    due: int
    notified: int
    escalated: int
    complete: bool


RESPONSES: dict[tuple[str, str], type[BaseModel]] = {
    ("POST", "/api/auth/login"): Session,
    ("POST", "/api/auth/forgot-password"): Message,
    ("POST", "/api/forms/forgot-username"): Message,
    ("GET", "/api/health"): Health,
    ("GET", "/api/openapi.json"): OpenApiDocument,
    ("GET", "/api/me"): Account,
    ("PUT", "/api/me/username"): Username,
    ("PUT", "/api/me/email"): Email,
    ("GET", "/api/items"): Items,
    ("GET", "/api/documents/{document_id}"): Document,
    ("GET", "/api/documents/{document_id}/file"): FileLink,
    ("GET", "/api/messages"): Threads,
    ("POST", "/api/messages"): Created,
    ("GET", "/api/messages/{thread_id}"): Thread,
    ("POST", "/api/messages/{thread_id}"): Created,
    ("POST", "/api/staff/patients"): Registered,
    ("GET", "/api/staff/patients"): Patients,
    ("GET", "/api/staff/patients/{patient_id}"): PatientDetail,
    ("PUT", "/api/staff/patients/{patient_id}/email"): Patient,
    ("POST", "/api/staff/patients/{patient_id}/uploads"): UploadForm,
    ("POST", "/api/staff/documents/{document_id}/comments"): Commented,
    ("POST", "/api/staff/patients/{patient_id}/messages"): Created,
    ("GET", "/api/staff/patients/{patient_id}/messages"): Threads,
    ("GET", "/api/staff/inbox"): Threads,
    ("GET", "/api/staff/messages/{thread_id}"): Thread,
    ("POST", "/api/staff/messages/{thread_id}"): Created,
    ("GET", "/api/staff/queue"): Queue,
    ("POST", "/api/staff/queue/{entry_id}/resolve"): Resolved,
    ("POST", "/api/staff/queue/{entry_id}/publish"): PublishedAgain,
    ("POST", "/api/staff/forms/{form_id}/resolve"): Resolved,
    ("GET", "/api/staff/follow-up"): FollowUpReport,
    ("GET", "/api/staff/audit"): AuditTrail,
    ("POST", "/api/admin/staff"): Account,
    ("GET", "/dev/outbox"): Outbox,
    ("POST", "/dev/sweep"): SweepSummary,
}

# The query strings the handlers read (`ctx.query`): paging of message lists, the patient search,
# the audit trail's subject.
_PAGING = {"limit": {"type": "string", "pattern": "^(0*([1-9][0-9]?|1[0-9]{2}|200))?$", "description": "1 to 200"},
           "cursor": {"type": "string", "description": "next_cursor of the page before"}}
QUERY_PARAMETERS: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    ("GET", "/api/messages"): _PAGING,
    ("GET", "/api/messages/{thread_id}"): _PAGING,
    ("GET", "/api/staff/inbox"): _PAGING,
    ("GET", "/api/staff/messages/{thread_id}"): _PAGING,
    ("GET", "/api/staff/patients/{patient_id}/messages"): _PAGING,
    ("GET", "/api/staff/patients"): {"q": {"type": "string", "description": "MRN, username or the start of a name"}},
    ("GET", "/api/staff/audit"): {"patient_id": {"type": "string"}, "actor_id": {"type": "string"}},
}


def _parameters(method: str, path: str) -> list[dict[str, Any]]:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    parameters = [{"name": n, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
                  for n in names]
    for name, schema in QUERY_PARAMETERS.get((method, path), {}).items():
        parameters.append({"name": name, "in": "query", "required": False, "schema": schema})
    return parameters


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _model_schema(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    """`$ref` to the model, its schema (and the models it uses) added to the components."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _success(spec, schemas: dict[str, Any]) -> dict[str, Any]:
    if spec.status == 204:
        return {"description": "Done."}
    answer = RESPONSES.get((spec.method, spec.path))
    schema = _model_schema(answer, schemas) if answer else {"type": "object"}
    return {"description": "Success.", "content": {"application/json": {"schema": schema}}}


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for spec in ROUTES:
        responses: dict[str, Any] = {str(spec.status): _success(spec, schemas)}
        responses["400"] = _error("Malformed or invalid request; the message names the field.")
        responses["404"] = _error("Not found.")
        responses["405"] = _error("Method not allowed.")
        responses["413"] = _error("Body too large.")
        responses["415"] = _error("Unsupported media type.")
        responses["429"] = _error("Too many requests; see Retry-After.")
        if spec.access != PUBLIC:
            responses["401"] = _error("Missing or expired session.")
            responses["403"] = _error("Not allowed, or a password change is required first.")
        for status, code in spec.responses.items():
            responses[str(status)] = _error(code)
        operation: dict[str, Any] = {
            "operationId": f"{spec.method.lower()}_{spec.path.strip('/').replace('/', '_').replace('{', '').replace('}', '')}",
            "summary": spec.summary.splitlines()[0] if spec.summary else spec.path,
            "parameters": _parameters(spec.method, spec.path),
            "responses": responses,
        }
        if spec.access != PUBLIC:
            operation["security"] = [{"bearer": []}]
        if spec.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _model_schema(spec.body, schemas)}},
            }
        paths.setdefault(spec.path, {})[spec.method.lower()] = operation
    return {
        "openapi": "3.0.3",
        "info": {"title": "Patient Portal API", "version": "1.0.0"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
