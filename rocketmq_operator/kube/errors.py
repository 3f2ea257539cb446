"""The client's exception tree.

Every failure that leaves :mod:`rocketmq_operator.kube` is an :class:`ApiError`: an HTTP status mapped to
a small set of subclasses that callers catch by meaning (``NotFound``, ``Conflict``…), or a
:class:`TransportError` when no HTTP answer came back at all. The original exception is chained as
``__cause__`` and the API server's ``Status`` message is carried on the error, so logs say what the
server said rather than "HTTP 409".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import urllib3.exceptions


class ApiError(Exception):
    """An API call failed. ``status`` is the HTTP status (0 when no response arrived)."""

    status: int = 0

    def __init__(self, message: str, *, status: int | None = None, reason: str = "",
                 body: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        self.message = message
        self.reason = reason
        self.body = body


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    """409 on a write whose preconditions (resourceVersion, uid) no longer hold."""

    status = 409


class AlreadyExists(Conflict):
    """409 with reason AlreadyExists: a create found the name taken."""


class Forbidden(ApiError):
    status = 403


def namespace_terminating(error: ApiError) -> bool:
    """A 403 from namespace lifecycle admission: the namespace is being deleted (not a missing RBAC rule)."""
    causes = ((error.body or {}).get("details") or {}).get("causes") or ()
    return (any(c.get("reason") == "NamespaceTerminating" for c in causes)
            or "being terminated" in error.message)


class Unauthorized(ApiError):
    status = 401


class Gone(ApiError):
    """410: the resourceVersion (or continue token) is older than the server keeps."""

    status = 410


class Invalid(ApiError):
    status = 422


class TooManyRequests(ApiError):
    status = 429

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(ApiError):
    """5xx: the server failed or timed out; the request may or may not have taken effect."""

    status = 500


class TransportError(ApiError):
    """No HTTP response: connection refused/reset, timeouts, TLS failures.

    ``not_sent`` is True when the request surely did not reach the server (the connection was never
    established), which makes even a create safe to retry.
    """

    def __init__(self, message: str, *, not_sent: bool) -> None:
        super().__init__(message, status=0)
        self.not_sent = not_sent


_BY_STATUS: dict[int, type[ApiError]] = {
    401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict, 410: Gone, 422: Invalid,
}


def error_from_response(status: int, body: bytes | str | None,
                        headers: Mapping[str, str] | None = None) -> ApiError:
    """Build the error for a non-2xx HTTP response from its status, body and headers."""
    parsed = _parse_status(body)
    message = str(parsed.get("message") or _text(body) or f"HTTP {status}")
    reason = str(parsed.get("reason") or "")
    kwargs: dict[str, Any] = {"status": status, "reason": reason, "body": parsed or None}
    if status == 429:
        return TooManyRequests(message, retry_after=_retry_after(headers, parsed), **kwargs)
    if status == 409 and reason == "AlreadyExists":
        return AlreadyExists(message, **kwargs)
    if status >= 500:
        return ServerError(message, **kwargs)
    return _BY_STATUS.get(status, ApiError)(message, **kwargs)


def error_from_status_object(status_obj: Mapping[str, Any]) -> ApiError:
    """Map a ``Status`` found in a watch ERROR event (no HTTP status of its own)."""
    code = int(status_obj.get("code") or 500)
    return error_from_response(code, json.dumps(status_obj))


def error_from_transport(exc: BaseException) -> TransportError:
    """Map a urllib3/socket failure; a connection that was never made means the request never left."""
    inner = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason else exc
    not_sent = isinstance(inner, (urllib3.exceptions.NewConnectionError,
                                  urllib3.exceptions.ConnectTimeoutError, ConnectionRefusedError))
    return TransportError(f"{type(inner).__name__}: {inner}", not_sent=not_sent)


def _parse_status(body: bytes | str | None) -> dict[str, Any]:
    if not body:
        return {}
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _text(body: bytes | str | None) -> str:
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace").strip()[:500]
    return (body or "").strip()[:500]


def _retry_after(headers: Mapping[str, str] | None, parsed: Mapping[str, Any]) -> float | None:
    value = None
    if headers is not None:
        value = headers.get("Retry-After") or headers.get("retry-after")
    if value is None:
        value = (parsed.get("details") or {}).get("retryAfterSeconds")
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


class FencedOff(Exception):
    """A write this process may no longer make (it is not, or no longer surely, the leader); nothing was sent.
    Not an :class:`ApiError`: it is never retried and no condition reports it."""
