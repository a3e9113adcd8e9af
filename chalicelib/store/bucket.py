"""The results bucket: the only code that talks to S3.

The bucket holds `incoming/...` (uploads waiting for the publisher), `documents/<patient id>/<item id>`
(filed documents, encrypted at rest; a refiled document is a copy of its misfiled one) and
`quarantine/<id>` (uploads that could not be published).
Services name what they want done (read an upload's head, file it, quarantine it, a presigned
form or link); the S3 calls, their parameters and their error codes stay here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from chalicelib import aws

SSE = "AES256"
_DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 keys


class UploadMissing(Exception):
    """The object is not (or no longer) in the bucket."""


class UploadUnreadable(Exception):
    """S3 holds the object and answers for it, but cannot hand it out (its metadata holds what an
    HTTP header cannot carry, such as a line break): every read of it would fail the same way."""


@dataclass(frozen=True)
class UploadHead:
    """What one ranged GET tells about an upload: its metadata, first bytes, size and ETag."""

    metadata: dict[str, str]
    first_bytes: bytes
    size: int
    etag: str


@dataclass(frozen=True)
class CreatedObject:
    """An object an S3 ObjectCreated notification names: bucket, key (URL-decoded) and ETag."""

    bucket: str
    key: str
    etag: str


def objects_created(message_body: str, prefix: str) -> list[CreatedObject]:
    """The objects created under `prefix` that one S3 notification (an SQS message's body) names,
    keys URL-decoded as S3 sends them; none for the `s3:TestEvent` S3 sends when the notification
    is set up, and none for a folder marker. ValueError when the body is not JSON."""
    event = json.loads(message_body)
    created = []
    for record in event.get("Records") or []:
        if not str(record.get("eventName", "")).startswith("ObjectCreated"):
            continue
        s3 = record.get("s3") or {}
        key = unquote_plus(str(s3.get("object", {}).get("key", "")))
        if not key.startswith(prefix) or key.endswith("/"):
            continue
        created.append(CreatedObject(str(s3.get("bucket", {}).get("name", "")), key,
                                     str(s3.get("object", {}).get("eTag", "")).strip('"')))
    return created


def _s3() -> Any:
    return aws.client("s3")


def _missing(err: ClientError) -> bool:
    return err.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}


def read_upload(bucket: str, key: str, first_bytes: int) -> UploadHead:
    """Metadata, magic bytes and total size in ONE ranged GetObject (no HeadObject, no full read)."""
    try:
        answer = _s3().get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{first_bytes - 1}")
    except ClientError as err:
        if _missing(err):
            raise UploadMissing(key) from err
        if err.response.get("Error", {}).get("Code") == "InvalidRange":  # an empty object has no byte 0
            return UploadHead({}, b"", 0, "")
        if err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500 and _answers_for(bucket, key):
            raise UploadUnreadable(key) from err
        raise
    with answer["Body"] as body:
        head = body.read()
    content_range = answer.get("ContentRange") or ""
    size = int(content_range.rsplit("/", 1)[1]) if "/" in content_range else int(answer.get("ContentLength", len(head)))
    return UploadHead(dict(answer.get("Metadata") or {}), head, size, (answer.get("ETag") or "").strip('"'))


def _answers_for(bucket: str, key: str) -> bool:
    """Whether S3 answers for the object when asked for its attributes only (no user metadata):
    after a failed GET, tells an object S3 cannot send from S3 failing in passing."""
    try:
        _s3().get_object_attributes(Bucket=bucket, Key=key, ObjectAttributes=["ObjectSize"])
    except ClientError:
        return False
    return True


def _copy(bucket: str, key: str, etag: str, destination: str, **extra: Any) -> None:
    """Copy exactly the version that was checked (If-Match), encrypted at rest."""
    source: dict[str, str] = {"Bucket": bucket, "Key": key}
    conditions = {"CopySourceIfMatch": f'"{etag}"'} if etag else {}
    try:
        _s3().copy_object(Bucket=bucket, Key=destination, CopySource=source, ServerSideEncryption=SSE,
                          **conditions, **extra)
    except ClientError as err:
        if _missing(err):
            raise UploadMissing(key) from err
        raise


def file_upload(bucket: str, key: str, etag: str, destination: str, content_type: str) -> None:
    """File the upload under the patient with the type found in its content, and without any
    user metadata: the item holds the title and comments, the file needs none of them."""
    _copy(bucket, key, etag, destination, MetadataDirective="REPLACE", ContentType=content_type,
          ContentDisposition="inline")


def file_copy(bucket: str, filed_key: str, destination: str, content_type: str) -> None:
    """File a copy of a filed document under another key (a document refiled to the right patient:
    the same file, copied inside the bucket, never sent again), with the type it was filed with and
    no user metadata. Copying again gives the same object, so a retried refile may copy twice."""
    _copy(bucket, filed_key, "", destination, MetadataDirective="REPLACE", ContentType=content_type,
          ContentDisposition="inline")


def move_to_quarantine(bucket: str, key: str, etag: str, destination: str) -> None:
    """Keep the upload, metadata and all, where staff can look at it; then clear `incoming/`."""
    _copy(bucket, key, etag, destination, MetadataDirective="COPY")
    remove_upload(bucket, key)


def send_back_from_quarantine(bucket: str, quarantine_key: str, destination: str) -> None:
    """Copy a quarantined upload, metadata and all, back under `incoming/` so the publisher takes
    it again; the quarantined copy stays where it is."""
    _copy(bucket, quarantine_key, "", destination, MetadataDirective="COPY")


def remove_upload(bucket: str, key: str) -> None:
    _s3().delete_object(Bucket=bucket, Key=key)


def remove_uploads(bucket: str, keys: list[str]) -> set[str]:
    """Remove several uploads in one DeleteObjects call per 1,000 keys; returns the keys S3 could
    not remove (the caller has them tried again)."""
    failed: set[str] = set()
    for start in range(0, len(keys), _DELETE_BATCH):
        chunk = keys[start:start + _DELETE_BATCH]
        answer = _s3().delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True})
        failed.update(error["Key"] for error in answer.get("Errors") or [])
    return failed


def upload_form(bucket: str, key: str, fields: dict[str, str], max_bytes: int, seconds: int) -> dict[str, Any]:
    """A presigned POST for one key: every field signed as given, the size between 1 byte and
    `max_bytes`. Returns S3's {url, fields}."""
    conditions: list[Any] = [{name: value} for name, value in fields.items()]
    conditions.append(["content-length-range", 1, max_bytes])
    form: dict[str, Any] = _s3().generate_presigned_post(bucket, key, Fields=fields, Conditions=conditions,
                                                         ExpiresIn=seconds)
    return form


def file_link(bucket: str, key: str, content_type: str, seconds: int, content_disposition: str | None = None) -> str:
    """A presigned GET that serves the file with this type (and, when given, this
    Content-Disposition: the name a saved copy gets) and is never cached."""
    params = {"Bucket": bucket, "Key": key, "ResponseContentType": content_type, "ResponseCacheControl": "no-store"}
    if content_disposition:
        params["ResponseContentDisposition"] = content_disposition
    link: str = _s3().generate_presigned_url("get_object", Params=params, ExpiresIn=seconds)
    return link


# ---------------------------------------------------------------- take-away records (exports)

def stream_object(bucket: str, key: str, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
    """An object's bytes, a chunk at a time (never the whole file in memory)."""
    try:
        answer = _s3().get_object(Bucket=bucket, Key=key)
    except ClientError as err:
        if _missing(err):
            raise UploadMissing(key) from err
        raise
    body = answer["Body"]
    try:
        yield from body.iter_chunks(chunk_size)
    finally:
        body.close()


def put_file(bucket: str, key: str, file: BinaryIO, content_type: str) -> None:
    """A new object from an open file, sent from where the file stands (botocore reads it a chunk at
    a time: the object is never whole in memory), encrypted at rest."""
    _s3().put_object(Bucket=bucket, Key=key, Body=file, ContentType=content_type, ServerSideEncryption=SSE)


# ---------------------------------------------------------------- enrolment letters

def put_bytes(bucket: str, key: str, data: bytes, content_type: str) -> None:
    """A small new object (an enrolment letter's PDF), encrypted at rest."""
    _s3().put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type, ServerSideEncryption=SSE)


# ---------------------------------------------------------------- backups of the tables (backups/)

def read_bytes(bucket: str, key: str) -> bytes:
    """A small object whole (a backup's manifest or one of its data files)."""
    try:
        answer = _s3().get_object(Bucket=bucket, Key=key)
    except ClientError as err:
        if _missing(err):
            raise UploadMissing(key) from err
        raise
    with answer["Body"] as body:
        data: bytes = body.read()
    return data


def keys_under(bucket: str, prefix: str) -> list[str]:
    """Every key under a prefix, in key order."""
    keys: list[str] = []
    for page in _s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [entry["Key"] for entry in page.get("Contents") or []]
    return keys


def copy_to(source_bucket: str, key: str, destination_bucket: str) -> None:
    """Copy an object, metadata and all, to the same key in another bucket, encrypted at rest."""
    _s3().copy_object(Bucket=destination_bucket, Key=key, CopySource={"Bucket": source_bucket, "Key": key},
                      MetadataDirective="COPY", ServerSideEncryption=SSE)
