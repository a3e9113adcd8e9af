"""The one place boto3 clients are made: created on first use (cheap cold starts) and reused.

Endpoints come only from boto3's `AWS_ENDPOINT_URL_<SERVICE>` variables, so the same code talks
to AWS or to the local stack.
"""

from __future__ import annotations

from functools import cache

import boto3
from botocore.config import Config

from chalicelib.settings import get_settings

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10)


@cache
def client(service: str):
    return boto3.session.Session().client(service, region_name=get_settings().region, config=_CONFIG)
