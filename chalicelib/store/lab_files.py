"""The results bucket's lab files: what the lab interface or the EHR puts under `lab/`, the
messages the portal keeps under `quarantine/lab/`, and the parts of a large file it writes back
under `lab/split/`. The S3 calls for them, beside `bucket.py` (the rest of the bucket)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import aws
from chalicelib.store.bucket import SSE, UploadMissing

LAB_PREFIX = "lab/"
SPLIT_PREFIX = "lab/split/"
QUARANTINE_PREFIX = "quarantine/lab/"


def _s3() -> Any:
    return aws.client("s3")


def _missing(err: ClientError) -> bool:
    return err.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}


@dataclass(frozen=True)
class LabFile:
    """A file under `lab/`: its bytes (None when it is larger than the limit: then they are not
    read), size and ETag."""

    data: bytes | None
    size: int
    etag: str


def read(bucket: str, key: str, max_bytes: int) -> LabFile:
    """The whole file in ONE GetObject; a file S3 says is larger than `max_bytes` is not read.
    UploadMissing when it is gone."""
    try:
        answer = _s3().get_object(Bucket=bucket, Key=key)
    except ClientError as err:
        if _missing(err):
            raise UploadMissing(key) from err
        raise
    size, etag = int(answer.get("ContentLength") or 0), (answer.get("ETag") or "").strip('"')
    with answer["Body"] as body:
        if size > max_bytes:
            return LabFile(None, size, etag)
        data = body.read(max_bytes + 1)
    return LabFile(data, len(data), etag)


def put(bucket: str, key: str, data: bytes) -> None:
    """A new object holding `data` (a quarantined message, a part of a large file), encrypted at rest."""
    _s3().put_object(Bucket=bucket, Key=key, Body=data, ContentType="text/plain", ServerSideEncryption=SSE)


def copy(bucket: str, source_key: str, destination: str) -> None:
    """A copy of a whole object (a large file kept in quarantine; a quarantined message sent back
    under `lab/` to be read again), encrypted at rest. UploadMissing when the source is gone."""
    try:
        _s3().copy_object(Bucket=bucket, Key=destination, CopySource={"Bucket": bucket, "Key": source_key},
                          ServerSideEncryption=SSE, ContentType="text/plain", MetadataDirective="REPLACE")
    except ClientError as err:
        if _missing(err):
            raise UploadMissing(source_key) from err
        raise


def read_start(bucket: str, key: str, max_bytes: int) -> bytes:
    """The first `max_bytes` of an object (one ranged GET), for a person to look at; b"" when gone."""
    try:
        answer = _s3().get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{max_bytes - 1}")
    except ClientError as err:
        if _missing(err) or err.response.get("Error", {}).get("Code") == "InvalidRange":
            return b""
        raise
    with answer["Body"] as body:
        data: bytes = body.read()
    return data
