"""Uploads made through the portal, waiting for their file: the upload form writes one row (who
it is for, title, category, provider, comment) and the presigned POST carries only the row's
opaque id, in its key and metadata; the publisher reads the row when the file arrives. Rows
expire by themselves (TTL) well after any retry or dead-letter replay could still need them.

The publisher finds everything a batch of uploads needs in two reads: the pending rows and the
MRN claims together, then the patients' accounts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pynamodb.attributes import TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.store.accounts import Account, mrn_key, owner_read
from chalicelib.store.base import NullableText, PortalModel, RowRead, meta, read_together, table


class PendingByPatient(GlobalSecondaryIndex["PendingUpload"]):
    """A patient's pending uploads (what `bin/portal migrate` reads them by, patient by patient)."""

    class Meta:
        index_name = "by_patient"
        projection = AllProjection()

    patient_id = UnicodeAttribute(hash_key=True)


@table
class PendingUpload(PortalModel):
    Meta = meta("pending_uploads")

    id = UnicodeAttribute(hash_key=True)  # the opaque upload id the S3 key and metadata carry
    patient_id = UnicodeAttribute()
    title = UnicodeAttribute()
    category = UnicodeAttribute()
    provider = UnicodeAttribute()
    comment = NullableText()
    file_name = UnicodeAttribute()
    content_type = UnicodeAttribute()
    uploaded_by = NullableText()
    replaces = NullableText()  # a corrected file for this document (its next version)
    created_at = UTCDateTimeAttribute()
    expires_at = TTLAttribute()

    by_patient = PendingByPatient()


def add(upload: PendingUpload) -> None:
    """Write a new pending upload (its id is new and random: never overwrites another)."""
    upload.save(condition=PendingUpload.id.does_not_exist())


def get(upload_id: str) -> PendingUpload | None:
    try:
        return PendingUpload.get(upload_id, consistent_read=True)
    except PendingUpload.DoesNotExist:
        return None


def _pending(raw: dict[str, Any] | None) -> PendingUpload | None:
    return PendingUpload.from_raw_data(raw) if raw else None


def _account(raw: dict[str, Any] | None) -> Account | None:
    return Account.from_raw_data(raw) if raw else None


def for_publication(mrns: Iterable[str], upload_ids: Iterable[str]
                    ) -> tuple[dict[str, Account], dict[str, PendingUpload], dict[str, Account]]:
    """What the publisher needs for a batch (up to 50 MRNs and upload ids), in two consistent
    BatchGetItems: (account by MRN, pending upload by id, account by patient id of those uploads).
    An MRN nobody holds, or an upload id with no row, is left out."""
    mrns, upload_ids = sorted(set(mrns)), sorted(set(upload_ids))
    reads = [owner_read(mrn_key(m)) for m in mrns] + [RowRead(PendingUpload, u, _pending) for u in upload_ids]
    found = read_together(*reads) if reads else []
    owners = dict(zip(mrns, found[: len(mrns)], strict=True))
    pending = {u: row for u, row in zip(upload_ids, found[len(mrns):], strict=True) if row is not None}
    ids = sorted({o for o in owners.values() if o} | {row.patient_id for row in pending.values()})
    accounts = {a.id: a for a in read_together(*(RowRead(Account, i, _account) for i in ids)) if a} if ids else {}
    by_mrn = {mrn: accounts[owner] for mrn, owner in owners.items() if owner in accounts}
    by_patient = {row.patient_id: accounts[row.patient_id] for row in pending.values() if row.patient_id in accounts}
    return by_mrn, pending, by_patient

