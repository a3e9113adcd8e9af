"""AWS refusing a call, as the service would answer it, in this process (where the portal runs)."""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def aws_refuses(when, code: str, status: int, message: str = "injected fault", *, times: int | None = None):
    """Botocore calls for which `when(client, operation_name, api_params)` holds fail as the service
    answers them (error `code`, HTTP `status`, `message`) while the context is open, in this process
    where every botocore call passes; with `times`, only that many. The others go through. Yields
    the refused operations' names."""
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError

    original, refused = BaseClient._make_api_call, []

    def call(client, operation_name, api_params):
        if (times is None or len(refused) < times) and when(client, operation_name, api_params):
            refused.append(operation_name)
            raise ClientError({"Error": {"Code": code, "Message": message},
                               "ResponseMetadata": {"HTTPStatusCode": status}}, operation_name)
        return original(client, operation_name, api_params)

    BaseClient._make_api_call = call
    try:
        yield refused
    finally:
        BaseClient._make_api_call = original


def a_send_to(address: str):
    """For `aws_refuses`: an SES send with `address` among its recipients."""
    def matches(client, operation_name: str, api_params: dict) -> bool:
        to = (api_params.get("Destination") or {}).get("ToAddresses") or []
        return operation_name == "SendEmail" and address in to
    return matches


def ses_refuses_the_next_send_to(address: str, code: str = "ServiceUnavailable", status: int = 503):
    """The next SES send to `address` fails as SES answers it (by default a passing 503), in this
    process where every botocore call passes; later sends go through. Yields the refusals made."""
    return aws_refuses(a_send_to(address), code, status, times=1)
