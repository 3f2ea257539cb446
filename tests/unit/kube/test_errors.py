"""Mapping HTTP answers, ApiException objects and socket failures onto the client's exception tree."""

from __future__ import annotations

import json

import pytest
import urllib3

from rocketmq_operator.kube import (
    AlreadyExists,
    ApiError,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    ServerError,
    TooManyRequests,
)
from rocketmq_operator.kube.errors import (
    error_from_response,
    error_from_status_object,
    error_from_transport,
)

from .fakes import status_body


@pytest.mark.parametrize(("status", "reason", "kind"), [
    (404, "NotFound", NotFound), (409, "AlreadyExists", AlreadyExists), (409, "Conflict", Conflict),
    (403, "Forbidden", Forbidden), (410, "Expired", Gone), (422, "Invalid", Invalid),
    (500, "InternalError", ServerError), (503, "ServiceUnavailable", ServerError),
    (400, "BadRequest", ApiError),
])
def test_statuses_map_to_their_exception_carrying_the_servers_message(status, reason, kind):
    body = json.dumps(status_body(status, reason, f"the server says {reason}")).encode()
    error = error_from_response(status, body)
    assert type(error) is kind
    assert error.status == status and error.reason == reason
    assert str(error) == f"the server says {reason}"


def test_already_exists_is_a_kind_of_conflict():
    assert issubclass(AlreadyExists, Conflict)


def test_a_429_carries_retry_after_from_the_header_or_the_status_details():
    from_header = error_from_response(429, b"{}", {"Retry-After": "3"})
    assert isinstance(from_header, TooManyRequests) and from_header.retry_after == 3.0
    details = json.dumps(status_body(429, "TooManyRequests", "slow", details={"retryAfterSeconds": 7}))
    assert error_from_response(429, details).retry_after == 7.0
    assert error_from_response(429, b"").retry_after is None


def test_a_body_that_is_not_a_status_becomes_the_message():
    error = error_from_response(502, b"Bad Gateway\n")
    assert isinstance(error, ServerError) and error.message == "Bad Gateway"


def test_an_error_event_status_maps_by_its_code():
    error = error_from_status_object(status_body(410, "Expired", "too old resource version: 1 (42)"))
    assert isinstance(error, Gone) and "too old" in error.message


def test_a_refused_connection_surely_did_not_send_the_request_but_a_reset_may_have():
    refused = urllib3.exceptions.NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
    assert error_from_transport(refused).not_sent is True
    wrapped = urllib3.exceptions.MaxRetryError(None, "/", refused)  # type: ignore[arg-type]
    assert error_from_transport(wrapped).not_sent is True
    reset = urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))
    assert error_from_transport(reset).not_sent is False
    read_timeout = urllib3.exceptions.ReadTimeoutError(None, "/", "Read timed out.")  # type: ignore[arg-type]
    assert error_from_transport(read_timeout).not_sent is False
