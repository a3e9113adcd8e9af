"""The one place boto3 clients are made: created on first use (cheap cold starts) and reused.
boto3 itself (with s3transfer and multiprocessing) loads with the first client: the tables go
through PynamoDB, so a request that only reads them never needs it.

Endpoints come only from boto3's `AWS_ENDPOINT_URL_<SERVICE>` variables, so the same code talks
to AWS or to the local stack.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import TYPE_CHECKING

from botocore.config import Config

from chalicelib.settings import get_settings

if TYPE_CHECKING:
    import boto3

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10)


# Presigned S3 links and forms signed with SigV4 (botocore would otherwise presign with SigV2).
_SERVICE_CONFIG = {"s3": _CONFIG.merge(Config(signature_version="s3v4"))}


_making = threading.Lock()  # a boto3 session is not safe to make clients from in two threads at once


@cache
def _session() -> boto3.session.Session:
    import boto3

    return boto3.session.Session()


@cache
def client(service: str):
    """One client per service, from one session (so botocore loads each service description once),
    made on first use rather than on every cold start."""
    with _making:
        return _session().client(service, region_name=get_settings().region, config=_SERVICE_CONFIG.get(service, _CONFIG))
