"""The exceptions of the RocketMQ admin client.

Every failure of a remote call is a ``RemotingError`` carrying the address it concerns, so a caller
that only wants "did it work" catches one class, and a caller that can act on the cause catches one of
the subclasses::

    RemotingError
    ├── ConnectError       could not open a TCP connection (refused, unreachable, connect timeout)
    ├── ConnectionLost     the peer closed or reset the connection before a response arrived
    ├── RemotingTimeout    no complete response within the request timeout
    ├── ProtocolError      the peer sent something that is not a valid remoting frame or body
    └── ResponseError      the server answered with a non-success response code
        └── TopicNotFound  ... the code was TOPIC_NOT_EXIST

The transport layer raises them with the underlying ``OSError`` or parse error chained as the cause.
"""

from __future__ import annotations

__all__ = [
    "ConnectError",
    "ConnectionLost",
    "ProtocolError",
    "RemotingError",
    "RemotingTimeout",
    "ResponseError",
    "TopicNotFound",
    "response_error",
]


class RemotingError(Exception):
    """A remote call to a name server or broker failed."""

    def __init__(self, message: str, *, addr: str | None = None) -> None:
        super().__init__(f"{addr}: {message}" if addr else message)
        self.addr = addr


class ConnectError(RemotingError):
    """No TCP connection could be opened to the address."""


class ConnectionLost(RemotingError):
    """The peer closed or reset the connection before the response arrived."""


class RemotingTimeout(RemotingError):
    """The response did not arrive within the request timeout."""


class ProtocolError(RemotingError):
    """The peer sent a malformed, truncated, oversized or unparseable frame or body."""


class ResponseError(RemotingError):
    """The server processed the request and answered with a non-success code."""

    def __init__(self, code: int, remark: str | None, *, addr: str | None = None) -> None:
        super().__init__(f"response code {code}: {remark or '(no remark)'}", addr=addr)
        self.code = code
        self.remark = remark


class TopicNotFound(ResponseError):
    """The server does not know the topic (response code TOPIC_NOT_EXIST)."""


TOPIC_NOT_EXIST = 17


def response_error(code: int, remark: str | None, *, addr: str | None = None) -> ResponseError:
    """The most specific ``ResponseError`` for a response code."""
    cls = TopicNotFound if code == TOPIC_NOT_EXIST else ResponseError
    return cls(code, remark, addr=addr)
