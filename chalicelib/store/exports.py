"""Take-away records: one row per export a patient asked for.

`exports`, keyed by an opaque id: whose it is, pending or ready, and once ready the zip's
opaque key in the results bucket (`exports/<random>.zip`, expired by the bucket's lifecycle after
7 days) with its size and how many files it holds. Rows expire by TTL with the zip.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, TypeVar, cast

from pynamodb.attributes import ListAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.store import messages as message_store
from chalicelib.store.base import NullableText, PortalModel, RowRead, conditional, meta, table
from chalicelib.store.items import Item

PENDING, READY = "pending", "ready"
T = TypeVar("T")


class PatientExportsIndex(GlobalSecondaryIndex["Export"]):
    class Meta:
        index_name = "by_patient"
        projection = AllProjection()

    patient_id = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


@table
class Export(PortalModel):
    Meta = meta("exports")

    id = UnicodeAttribute(hash_key=True)
    patient_id = UnicodeAttribute()
    status = UnicodeAttribute(default=PENDING)  # pending | ready
    created_at = UTCDateTimeAttribute()
    ready_at = UTCDateTimeAttribute(null=True)
    s3_key = NullableText()
    size_bytes = NumberAttribute(null=True)
    document_count = NumberAttribute(null=True)
    message_count = NumberAttribute(null=True)
    # The patient's items the zip holds (their ids): a download checks each is still theirs to see.
    item_ids = ListAttribute(of=UnicodeAttribute, null=True)
    # The zip of a build made void (something in it was withdrawn from the patient), removed by the next build.
    void_key = NullableText()
    expires_at = TTLAttribute()

    by_patient = PatientExportsIndex()


def create(export: Export) -> None:
    """A new export row (its id is random: never written over)."""
    export.save(condition=Export.id.does_not_exist())


def get(export_id: str) -> Export | None:
    try:
        return Export.get(export_id, consistent_read=True)
    except DoesNotExist:
        return None


def latest_of(patient_id: str) -> Export | None:
    """The patient's most recent export, if any."""
    return next(iter(Export.by_patient.query(patient_id, scan_index_forward=False, limit=1)), None)


def mark_ready(export: Export, key: str, size_bytes: int, documents: int, messages: int, now: datetime,
               item_ids: list[str] | None = None) -> bool:
    """The zip is in the bucket: the row says where, and which of the patient's items it holds.
    False when it was marked ready already (a job delivered twice): the first zip stands."""
    return conditional(lambda: export.update(
        actions=[Export.status.set(READY), Export.ready_at.set(now), Export.s3_key.set(key),
                 Export.size_bytes.set(size_bytes), Export.document_count.set(documents),
                 Export.message_count.set(messages),
                 Export.item_ids.set(cast(Any, item_ids)) if item_ids else Export.item_ids.remove()],
        condition=Export.status == PENDING))


def make_void(export: Export, now: datetime) -> bool:
    """A ready export holds something its patient may no longer see: it is pending again (to be
    built afresh), its zip kept only as `void_key` for the next build to remove. False when
    another request voided it (or it changed) first."""
    return conditional(lambda: export.update(
        actions=[Export.status.set(PENDING), Export.void_key.set(export.s3_key), Export.s3_key.remove(),
                 Export.ready_at.remove(), Export.item_ids.remove()],
        condition=(Export.status == READY) & (Export.s3_key == (export.s3_key or ""))))


def forget_void_zip(export: Export) -> None:
    """The void zip has been removed from the bucket."""
    export.update(actions=[Export.void_key.remove()])


def read(export_id: str) -> RowRead:
    """The export, as a read to make together with another (the patient's item list)."""
    return RowRead(Export, export_id, lambda raw: Export.from_raw_data(raw) if raw else None)


# ---------------------------------------------------------------- what an export reads

def documents_of(patient_id: str, page_size: int = 100) -> Iterator[Item]:
    """Every document of the patient (whatever its status), oldest first, a page at a time."""
    return Item.by_patient.query(patient_id, filter_condition=Item.kind == "document", scan_index_forward=True,
                                 page_size=page_size)


def threads_of(patient_id: str, page_size: int = 100) -> Iterator[message_store.Thread]:
    """Every message thread of the patient, newest first, a page at a time."""
    return _paged(lambda after: message_store.for_patient(patient_id, page_size, after),
                  lambda last: (last.updated_at, last.id), page_size)


def messages_in(thread_id: str, page_size: int = 100) -> Iterator[message_store.ThreadMessage]:
    """Every message of a thread, oldest first."""
    return _paged(lambda after: message_store.messages(thread_id, page_size, after), lambda last: last.id, page_size)


def _paged(read_page: Callable[[Any], list[T]], cursor: Callable[[T], Any], page_size: int) -> Iterator[T]:
    """Every row `read_page(after)` answers, page after page, each page starting after the
    previous page's last row (`cursor(last)`), until a page comes back short."""
    after = None
    while True:
        page = read_page(after)
        yield from page
        if len(page) < page_size:
            return
        after = cursor(page[-1])
