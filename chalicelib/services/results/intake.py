"""The lab intake: files put under `lab/` in the results bucket -> S3 ObjectCreated -> the lab queue
-> here (the same S3 -> SQS -> function shape as uploads, with its own queue, dead-letter queue and
role).

For each file: one GetObject (a file over the size limit is not read: it is quarantined whole),
then its messages (`reader`), the patients of the whole batch found together by MRN (two batched
reads), each message matched and its reports published (`publish`) or the message quarantined
with its reason. A batch with one bad message publishes the good ones.

- Quarantine keeps the message's own bytes under `quarantine/lab/<id>` and puts an entry with the
  reason on the staff work queue (`unparseable`, `unknown_patient`, `birth_date_mismatch`,
  `not_a_result`); the entry's id comes from the file and the message's place in it, so a repeated
  delivery quarantines once.
- What fails for a passing reason (AWS busy or unreachable, a contended write) raises: SQS delivers
  the file again (publication and quarantine are both idempotent) and after the queue's
  maxReceiveCount keeps it in the dead-letter queue. Anything the file itself causes is
  quarantined, never retried, so a bad file never loops into the dead-letter queue.
- A large HL7 file (more than CHUNK_MESSAGES messages or CHUNK_BYTES) is cut into parts, written
  back under `lab/split/<file id>/`, each read by its own invocation: no invocation reads more than
  a part, so none runs out of time on every delivery.
- Files stay under `lab/` after they are read (the bucket's lifecycle moves them to cheaper storage
  after a month; nothing a lab sent is deleted).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalicelib.clock import clock
from chalicelib.errors import BadRequest
from chalicelib.i18n import N_
from chalicelib.observability import failure, logger, metrics
from chalicelib.services.results import hl7v2, publish, reader
from chalicelib.services.results.model import (
    BIRTH_DATE_MISMATCH,
    UNKNOWN_PATIENT,
    UNPARSEABLE,
    Identity,
    Message,
    Unreadable,
)
from chalicelib.settings import get_settings
from chalicelib.store import accounts as account_store
from chalicelib.store import lab_files
from chalicelib.store import results as results_store
from chalicelib.store import work as work_store
from chalicelib.store.bucket import CreatedObject, UploadMissing, objects_created
from chalicelib.store.failures import refused_request
from chalicelib.vocabulary import Role

LAB_PREFIX = lab_files.LAB_PREFIX
CHUNK_MESSAGES = 25
CHUNK_BYTES = 1_000_000
# Stop taking new files this long before the function's deadline: the rest are delivered again.
DEADLINE_MARGIN_MS = 20_000
QUARANTINE = "quarantine"
SOURCE = "lab"

RemainingMs = Callable[[], int]


LabFileRef = CreatedObject  # a file under `lab/` as its S3 notification names it


@dataclass
class _Read:
    """One file as read: its messages (those still to match), or what already came of it."""

    ref: LabFileRef
    etag: str = ""
    messages: list[Message] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)


def files_in(message_body: str) -> list[LabFileRef]:
    """The objects created under `lab/` that one S3 notification names (keys URL-decoded as S3
    sends them); none for the `s3:TestEvent` S3 sends when the notification is set up."""
    return objects_created(message_body, LAB_PREFIX)


def quarantine_id(bucket: str, key: str, etag: str, number: int) -> str:
    """The same message of the same file (bucket/key/ETag, its place in the file) always names the
    same quarantine entry."""
    return "l_" + hashlib.sha256(f"{bucket}\n{key}\n{etag}\n{number}".encode()).hexdigest()[:24]


def entry_id(quarantined: str) -> str:
    return f"{QUARANTINE}#{quarantined}"


def _passing(err: Exception) -> bool:
    """A failure that may pass (AWS refusing in passing, a contended write): SQS delivers the file
    again. Anything else would meet the file on every delivery."""
    from chalicelib.store.base import StillContended

    if isinstance(err, (StillContended, ConnectionError, TimeoutError)):
        return True
    refused = refused_request(err, {"ValidationException", "InvalidArgument", "InvalidRequest", "KeyTooLongError"})
    return refused is False


def handle(message_bodies: list[str], remaining_ms: RemainingMs | None = None) -> list[int]:
    """Everything a batch of SQS messages asks for. Returns the positions of the messages to be
    delivered again (a file in them failed for a passing reason, or time ran short)."""
    failed: set[int] = set()
    refs: list[tuple[int, LabFileRef]] = []
    for position, body in enumerate(message_bodies):
        try:
            refs.extend((position, ref) for ref in files_in(body))
        except (ValueError, AttributeError, TypeError) as exc:
            logger.error("unreadable lab queue message", extra={"position": position, **failure(exc)})
            failed.add(position)
    reads: list[tuple[int, _Read]] = []
    for position, ref in refs:
        if remaining_ms is not None and remaining_ms() < DEADLINE_MARGIN_MS:
            failed.add(position)  # delivered again soon, with time to read it
            continue
        try:
            reads.append((position, _read(ref)))
        except Exception as err:  # noqa: BLE001 - one file's passing failure is that file's only
            logger.warning("lab file not read", extra={"key_hash": _key_hash(ref.key), "outcome": "retry",
                                                       **failure(err)})
            failed.add(position)
    try:
        accounts = results_store.accounts_by_mrn(
            i for _, read in reads for m in read.messages for who, _ in m.reports for i in who.identifiers)
    except Exception as err:  # noqa: BLE001 - every file waiting on the look-up is delivered again
        logger.warning("lab patients not looked up", extra={"outcome": "retry", **failure(err)})
        return sorted(failed | {position for position, read in reads if read.messages})
    for position, read in reads:
        for message in read.messages:
            try:
                read.outcomes.extend(_message(read, message, accounts))
            except Exception as err:  # noqa: BLE001 - the others of the batch go on
                logger.warning("lab message not published", extra={"key_hash": _key_hash(read.ref.key),
                                                                    "message_number": message.index, "outcome": "retry",
                                                                    **failure(err)})
                failed.add(position)
    return sorted(failed)


def _key_hash(key: str) -> str:
    """Logs name a file by a hash of its key (a lab may put a patient's name in a file name)."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _read(ref: LabFileRef) -> _Read:
    read = _Read(ref)
    try:
        lab = lab_files.read(ref.bucket, ref.key, get_settings().max_upload_bytes)
    except UploadMissing:
        logger.warning("lab file gone before it was read", extra={"key_hash": _key_hash(ref.key), "outcome": "gone"})
        return read
    read.etag = lab.etag or ref.etag
    if lab.data is None:
        limit = get_settings().max_upload_bytes // (1024 * 1024)
        read.outcomes.append(_quarantine_file(read, Unreadable(UNPARSEABLE, f"The file is larger than {limit} MB.")))
        return read
    try:
        if hl7v2.is_hl7(lab.data) and not lab.data.lstrip().startswith(b"{"):
            pieces = hl7v2.cut(lab.data)
            if len(pieces) > 1 and (len(pieces) > CHUNK_MESSAGES or len(lab.data) > CHUNK_BYTES):
                read.outcomes.append(_split(read, pieces))
                return read
        read.messages = reader.read(lab.data, get_settings().clinic_time_zone)
    except Unreadable as bad:
        read.outcomes.append(_quarantine_file(read, bad, lab.data))
    return read


def _split(read: _Read, pieces: list[bytes]) -> dict[str, Any]:
    """A large file's messages, written back in parts (each read by an invocation of its own)."""
    file_id = hashlib.sha256(f"{read.ref.bucket}\n{read.ref.key}\n{read.etag}".encode()).hexdigest()[:24]
    parts: list[list[bytes]] = [[]]
    size = 0
    for piece in pieces:
        if parts[-1] and (len(parts[-1]) >= CHUNK_MESSAGES or size + len(piece) > CHUNK_BYTES):
            parts.append([])
            size = 0
        parts[-1].append(piece)
        size += len(piece)
    for number, part in enumerate(parts, start=1):
        lab_files.put(read.ref.bucket, f"{lab_files.SPLIT_PREFIX}{file_id}/{number:05d}.hl7", b"".join(part))
    metrics.add_metric(name="LabFileSplit", unit="Count", value=1)
    logger.info("lab file split", extra={"key_hash": _key_hash(read.ref.key), "parts": len(parts),
                                         "messages": len(pieces)})
    return {"outcome": "split", "parts": len(parts)}


def _source(read: _Read, message: Message, report_message_id: str | None) -> dict[str, Any]:
    return {"bucket": read.ref.bucket, "key": read.ref.key, "etag": read.etag, "message": message.index,
            "message_id": report_message_id}


def match(identity: Identity, accounts: dict[str, account_store.Account]) -> account_store.Account:
    """The one patient whose MRN is one of the identifiers, and whose birth date on file is the one
    the message carries (when both are known); Unreadable otherwise: a result on the wrong patient
    is the worst error a portal can make."""
    patients = {a.id: a for i in identity.identifiers if (a := accounts.get(i)) is not None and a.role == Role.PATIENT}
    shown = ", ".join(identity.identifiers)[:300]
    if not patients:
        raise Unreadable(UNKNOWN_PATIENT, f"No patient in the portal has the MRN {shown} (PID-3). Register the patient, "
                         "or correct the MRN on file, then send the message again.")
    if len(patients) > 1:
        raise Unreadable(UNKNOWN_PATIENT, f"The identifiers {shown} belong to {len(patients)} different patients in "
                         "the portal; the message cannot say which one it is for.")
    account = next(iter(patients.values()))
    on_file = account.date_of_birth
    if identity.birth_date and on_file and identity.birth_date != on_file:
        raise Unreadable(BIRTH_DATE_MISMATCH, f"The message's birth date (PID-7: {identity.birth_date}) is not the one "
                         f"on file ({on_file}) for the patient whose MRN it names. Check with the lab which patient "
                         "it is for; correct the record if the portal's is wrong, then send it again.",
                         patient_id=account.id)
    return account


def _message(read: _Read, message: Message, accounts: dict[str, account_store.Account]) -> list[dict[str, Any]]:
    """Publish every report of one message, or quarantine the message whole (nothing of it is
    published when any of its reports cannot be)."""
    if message.unreadable is not None:
        return [_quarantine_message(read, message, message.unreadable)]
    try:
        matched = [(match(identity, accounts), report) for identity, report in message.reports]
    except Unreadable as bad:
        return [_quarantine_message(read, message, bad)]
    outcomes = []
    for account, report in matched:
        try:
            outcomes.append(publish.publish(report, account, _source(read, message, report.message_id)))
        except Unreadable as bad:
            outcomes.append(_quarantine_message(read, message, bad))
        except Exception as err:  # noqa: BLE001 - passing: raised for SQS; the file's own: quarantined
            if _passing(err):
                raise
            logger.error("lab report could not be published", extra={"key_hash": _key_hash(read.ref.key),
                                                                      "message_number": message.index, **failure(err)})
            outcomes.append(_quarantine_message(read, message, Unreadable(
                UNPARSEABLE, f"The portal could not publish this report as it is ({type(err).__name__}).")))
    return outcomes


def _quarantine_message(read: _Read, message: Message, bad: Unreadable) -> dict[str, Any]:
    return _quarantine(read, message.index, bad, data=message.raw)


def _quarantine_file(read: _Read, bad: Unreadable, data: bytes | None = None) -> dict[str, Any]:
    return _quarantine(read, 0, bad, data=data, whole_file=True)


def _quarantine(read: _Read, number: int, bad: Unreadable, *, data: bytes | None, whole_file: bool = False
                ) -> dict[str, Any]:
    """Keep the message (or the whole file) where staff can read it and send it again, and put it
    on the staff work queue with its reason. The entry first: a crash after it is retried by SQS,
    which finds the entry and writes the copy."""
    ref = read.ref
    quarantined = quarantine_id(ref.bucket, ref.key, read.etag, -1 if whole_file else number)
    destination = f"{lab_files.QUARANTINE_PREFIX}{quarantined}"
    work_store.add(work_store.WorkEntry(
        entry_id(quarantined), kind=QUARANTINE, created_at=clock.now(), patient_id=bad.patient_id, item_id=None,
        reason=bad.reason,
        data={"message": bad.message, "key": ref.key, "quarantine_key": destination, "bucket": ref.bucket,
              "source": SOURCE, "message_number": None if whole_file else number},
    ))
    if data is None:
        lab_files.copy(ref.bucket, ref.key, destination)
    else:
        lab_files.put(ref.bucket, destination, data)
    metrics.add_metric(name="LabMessageQuarantined", unit="Count", value=1)
    logger.warning("lab message quarantined", extra={"quarantine_id": quarantined, "reason": bad.reason,
                                                     "message_number": number})
    return {"outcome": "quarantined", "quarantine_id": quarantined, "reason": bad.reason}


_NAME_SAFE = "-_.() "


def drop(file_name: str, data: bytes) -> str:
    """Put a file under `lab/` as a lab interface would (`bin/portal lab-drop`): the intake reads it
    like any other. Returns its key. The name keeps letters, digits and `-_.() ` only."""
    if not data:
        raise BadRequest(N_("The file is empty."), field="file")
    if len(data) > get_settings().max_upload_bytes:
        raise BadRequest(N_("At most {mb} MB."), field="file", params={"mb": get_settings().max_upload_bytes // 2**20})
    name = "".join(ch for ch in file_name.rsplit("/", 1)[-1] if ch.isalnum() or ch in _NAME_SAFE).strip() or "lab-file"
    key = f"{LAB_PREFIX}drop/{clock.now().strftime('%Y%m%dT%H%M%S')}-{hashlib.sha256(data).hexdigest()[:8]}-{name[:80]}"
    lab_files.put(get_settings().results_bucket, key, data)
    logger.info("lab file dropped", extra={"key_hash": _key_hash(key), "bytes": len(data)})
    return key
