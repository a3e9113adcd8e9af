"""The answers about documents, uploads and items (see chalicelib/services/answers.py for how an
answer is declared)."""

from __future__ import annotations

from typing import Literal

from typing_extensions import TypedDict

from chalicelib.services.accounts.answers import Patient
from chalicelib.services.answers import Time

ItemKind = Literal["document", "message", "result"]
ItemStatus = Literal["published", "updated", "retracted"]
# All a patient sees of a retracted document's title.
RetractedTitle = Literal["Removed by your clinic"]


class ItemSummary(TypedDict):
    """One entry of a patient's item list (`items.summary_json`)."""

    id: str
    kind: ItemKind
    title: str
    created_at: Time
    read_at: Time | None
    status: ItemStatus


class StaffItem(ItemSummary):
    """An item as the office sees it on the patient's page (`items.staff_item_json`)."""

    category: str | None
    provider: str | None
    first_read_at: Time | None
    open_count: int
    notices_sent: int
    last_notice_at: Time | None
    escalated: bool
    held: bool  # a lab result held from its patient until a provider reviews it (results/release.py)


class PatientDetail(Patient):
    """A patient with their items' notices and read status (`items.staff_patient_view`)."""

    items: list[StaffItem]


class Comment(TypedDict):
    author: str
    role: Literal["provider", "office"]  # who the author is to the patient: their provider, or the office
    text: str
    created_at: Time


class Document(TypedDict):
    """A document as its patient opens it (`documents.document_json`)."""

    id: str
    status: Literal["published", "updated"]
    version: int
    title: str
    category: str | None
    provider: str | None
    published_at: Time
    read_at: Time | None
    content_type: str | None
    size_bytes: int | None
    comments: list[Comment]


class RetractedDocument(TypedDict):
    """All a patient sees of a document the office retracted, never its own title
    (`documents.retracted_json`)."""

    id: str
    status: Literal["retracted"]
    title: RetractedTitle
    retracted_at: Time


class FileLink(TypedDict):
    """A short-lived link to a file."""

    url: str
    expires_at: Time


class Reader(TypedDict):
    """Who opened a document first."""

    role: Literal["patient", "proxy"]
    name: str | None


class SentNotice(TypedDict):
    sent_at: Time


class DocumentVersion(TypedDict):
    version: int
    published_at: Time
    content_type: str | None
    size_bytes: int | None
    comment: str | None
    current: bool


class StaffDocument(TypedDict):
    """One document as the office sees it, whatever its status (`corrections.staff_document`)."""

    id: str
    patient_id: str
    patient_name: str | None
    title: str
    category: str | None
    provider: str | None
    status: ItemStatus
    version: int
    published_at: Time
    updated_at: Time | None
    read_at: Time | None
    first_read_at: Time | None
    read_by: Reader | None
    open_count: int
    notices: list[SentNotice]
    comments: list[Comment]
    versions: list[DocumentVersion]
    content_type: str | None
    size_bytes: int | None
    in_follow_up: bool
    escalated: bool
    retracted_at: Time | None
    retracted_by: str | None
    retraction_reason: str | None


class Retracted(TypedDict):
    """A document just taken back from its patient (`corrections.retract`)."""

    id: str
    status: Literal["retracted"]
    retracted_at: Time


class Commented(TypedDict):
    """A document's comments once one was added (`uploads.add_comment`)."""

    id: str
    comments: list[Comment]


class UploadForm(TypedDict):
    """A presigned S3 POST: where to send the file, the signed fields to send with it, its key."""

    url: str
    fields: dict[str, str]
    key: str


class PublishedAgain(TypedDict):
    """A quarantined upload sent back through the publisher (`uploads.publish_again`)."""

    id: str
    status: Literal["resolved"]
    resolution: Literal["published_again"]
    key: str
    patient_id: str


class Refiled(TypedDict):
    """A misfiled document filed again to the right patient: the new document's id (`refile.refile`)."""

    id: str


class Viewer(TypedDict):
    """Someone who opened a document while it was misfiled: their name, their role as the audit
    trail names it (patient, proxy for a caregiver, staff, provider, admin) and their first open."""

    name: str | None
    role: str | None
    at: Time


class Incident(TypedDict):
    """A document filed to the wrong patient, refiled to the right one (`refile.incidents`)."""

    document_id: str
    from_patient_id: str
    to_patient_id: str
    reason: str
    recorded_by: str | None
    recorded_at: Time
    viewed_by: list[Viewer]


class Incidents(TypedDict):
    incidents: list[Incident]


class RefileLink(TypedDict):
    """The other side of a refile: the document, its patient, why and when."""

    document_id: str
    patient_id: str
    patient_name: str | None
    reason: str
    at: Time


# Where a misfiled document went (`to`) or a refiled one came from (`from`): the office's page.
Refiling = TypedDict("Refiling", {"to": RefileLink | None, "from": RefileLink | None})
