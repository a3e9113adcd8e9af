"""The portal's logs go out: app.py leaves no logger disabled, and Chalice's own logger writes
nothing of its own beside the one Powertools logger."""

from __future__ import annotations

import io
import json
import logging
import sys

from chalicelib.observability import SERVICE, ChaliceLog, failure, logger


def test_the_app_keeps_its_logger_enabled_and_hands_chalice_the_one_logger():
    # Given the app as Lambda imports it
    from app import app

    # Then the Powertools logger (the same Python logger as Chalice's app name) is not disabled,
    # and Chalice writes through ChaliceLog, not a handler of its own
    assert logging.getLogger(SERVICE).disabled is False
    assert app.configure_logs is False and isinstance(app.log, ChaliceLog)
    assert logging.getLogger(SERVICE).handlers == [logger.registered_handler]


def test_chalice_s_unhandled_error_line_is_one_json_line_without_the_exception_s_message():
    # Given the one logger writing to a buffer
    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)
    try:
        # When Chalice reports a view's exception, whose message quotes what it refused
        try:
            raise ValueError("MRN 7734-22 for Jane Roe")
        except ValueError:
            ChaliceLog().error("Caught exception for path %s", "/api/documents/{document_id}", exc_info=True)
    finally:
        logger.registered_handler.setStream(previous)

    # Then one JSON line names the route, the outcome, the exception's type and where it was raised
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["message"] == "unhandled error" and line["level"] == "ERROR"
    assert line["route"] == "/api/documents/{document_id}" and line["outcome"] == "internal_error"
    assert line["error_type"] == "ValueError" and line["error_at"][-1].endswith(sys._getframe().f_code.co_name)
    # And not the message
    assert "7734-22" not in stream.getvalue() and "Jane Roe" not in stream.getvalue()


def test_a_failure_names_an_aws_error_by_its_code():
    from botocore.exceptions import ClientError

    # Given an AWS error
    try:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "x"}}, "Query")
    except ClientError as err:
        # When it is turned into log fields
        fields = failure(err)

    # Then its type and code are there, and the frame it was raised in
    assert fields["error_type"] == "ClientError" and fields["error_code"] == "ThrottlingException"
    assert fields["error_at"] and fields["error_at"][-1].startswith("test_logging.py:")
