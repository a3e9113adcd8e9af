"""Which failures of DynamoDB, S3 and SQS come and go, and which are the request's own.

The only place above the AWS libraries that knows their exception classes: services ask here
instead of importing botocore or PynamoDB."""

from __future__ import annotations


def refused_request(err: Exception, refusals: frozenset[str] | set[str]) -> bool | None:
    """True when an AWS service refused the request itself (a malformed parameter, or an error code
    in `refusals`: the same request meets it every time); False when the AWS failure may pass
    (throttled, unreachable, a service error); None when `err` is not an AWS library's error."""
    # Loaded on first use: botocore stays out of every cold start that never fails.
    from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError
    from pynamodb.exceptions import PynamoDBException

    if isinstance(err, ParamValidationError):
        return True
    if isinstance(err, ClientError):
        return err.response.get("Error", {}).get("Code") in refusals
    if isinstance(err, PynamoDBException):
        return err.cause_response_code in refusals
    if isinstance(err, BotoCoreError):
        return False
    return None
