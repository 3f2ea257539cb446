"""RocketMQ's remoting protocol: request and response codes, the command value, and its frame codec.

A frame on the wire is::

    int32 length          bytes that follow this field (header-length field + header + body)
    int32 header_info     serialize type in the top byte (0 = JSON), header length in the low 3 bytes
    header                JSON object: code, language, version, opaque, flag, remark, extFields
    body                  the rest, opaque bytes (usually JSON written by fastjson)

All integers are big-endian. A response carries the request's ``opaque`` and has bit 0 of ``flag``
set. This module is pure (no sockets) so the codec can be tested byte by byte; ``transport`` does
the I/O. Decoding errors raise ``FrameError`` (a ``ValueError``), which the transport turns into a
``ProtocolError`` naming the peer.
"""

from __future__ import annotations

import enum
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = [
    "CLIENT_VERSION",
    "DEFAULT_MAX_FRAME_SIZE",
    "LENGTH_PREFIX",
    "FrameError",
    "RemotingCommand",
    "RequestCode",
    "ResponseCode",
    "decode",
    "decode_payload",
    "encode",
    "frame_length",
]

LENGTH_PREFIX = 4
DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024
SERIALIZE_JSON = 0
RESPONSE_FLAG = 0b01
ONEWAY_FLAG = 0b10
# MQVersion.Version.V5_3_3.ordinal(): tells servers this client reads their current formats
# (for example, standard JSON route bodies).
CLIENT_VERSION = 479
_MAX_HEADER_LENGTH = 0xFFFFFF
_HEADER_INFO = struct.Struct(">II")
_LENGTH = struct.Struct(">I")


class RequestCode(enum.IntEnum):
    SEND_MESSAGE = 10
    PULL_MESSAGE = 11
    QUERY_CONSUMER_OFFSET = 14
    UPDATE_CONSUMER_OFFSET = 15
    UPDATE_AND_CREATE_TOPIC = 17
    UPDATE_BROKER_CONFIG = 25
    GET_BROKER_CONFIG = 26
    GET_BROKER_RUNTIME_INFO = 28
    GET_MAX_OFFSET = 30
    GET_MIN_OFFSET = 31
    GET_ROUTEINFO_BY_TOPIC = 105
    GET_BROKER_CLUSTER_INFO = 106
    UPDATE_AND_CREATE_SUBSCRIPTIONGROUP = 200
    WIPE_WRITE_PERM_OF_BROKER = 205
    GET_ALL_TOPIC_LIST_FROM_NAMESERVER = 206
    GET_CONSUME_STATS = 208
    DELETE_TOPIC_IN_BROKER = 215
    DELETE_TOPIC_IN_NAMESRV = 216
    SEND_MESSAGE_V2 = 310
    ADD_WRITE_PERM_OF_BROKER = 327


class ResponseCode(enum.IntEnum):
    SUCCESS = 0
    SYSTEM_ERROR = 1
    SYSTEM_BUSY = 2
    REQUEST_CODE_NOT_SUPPORTED = 3
    FLUSH_DISK_TIMEOUT = 10
    SLAVE_NOT_AVAILABLE = 11
    FLUSH_SLAVE_TIMEOUT = 12
    SERVICE_NOT_AVAILABLE = 14
    NO_PERMISSION = 16
    TOPIC_NOT_EXIST = 17
    PULL_NOT_FOUND = 19
    PULL_RETRY_IMMEDIATELY = 20
    PULL_OFFSET_MOVED = 21
    QUERY_NOT_FOUND = 22
    SUBSCRIPTION_GROUP_NOT_EXIST = 26


class FrameError(ValueError):
    """Bytes that are not a valid remoting frame."""


def _frozen(mapping: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class RemotingCommand:
    """One request or response. ``ext_fields`` is the header's string map (``extFields``)."""

    code: int
    opaque: int = 0
    flag: int = 0
    ext_fields: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    remark: str | None = None
    language: str = "PYTHON"
    version: int = CLIENT_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "ext_fields", _frozen(self.ext_fields))

    @property
    def is_response(self) -> bool:
        return bool(self.flag & RESPONSE_FLAG)

    @property
    def is_oneway(self) -> bool:
        return bool(self.flag & ONEWAY_FLAG)

    def header(self) -> dict[str, Any]:
        header: dict[str, Any] = {
            "code": self.code,
            "language": self.language,
            "version": self.version,
            "opaque": self.opaque,
            "flag": self.flag,
            "serializeTypeCurrentRPC": "JSON",
        }
        if self.remark is not None:
            header["remark"] = self.remark
        if self.ext_fields:
            header["extFields"] = dict(self.ext_fields)
        return header


def encode(command: RemotingCommand) -> bytes:
    """The complete frame for ``command``, length prefix included."""
    header = json.dumps(command.header(), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(header) > _MAX_HEADER_LENGTH:
        raise FrameError(f"header of {len(header)} bytes does not fit the 24-bit length field")
    length = 4 + len(header) + len(command.body)
    return _HEADER_INFO.pack(length, (SERIALIZE_JSON << 24) | len(header)) + header + command.body


def frame_length(prefix: bytes, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> int:
    """Read the 4-byte length prefix and check it before any buffer of that size is allocated."""
    if len(prefix) != LENGTH_PREFIX:
        raise FrameError(f"length prefix needs {LENGTH_PREFIX} bytes, got {len(prefix)}")
    (length,) = _LENGTH.unpack(prefix)
    if length < 4:
        raise FrameError(f"frame length {length} is shorter than its header-length field")
    if length > max_frame_size:
        raise FrameError(f"frame length {length} exceeds the limit of {max_frame_size} bytes")
    return length


def decode_payload(payload: bytes) -> RemotingCommand:
    """Decode what follows the length prefix: header-length field, header and body."""
    if len(payload) < 4:
        raise FrameError("frame too short for its header-length field")
    (header_info,) = _LENGTH.unpack_from(payload)
    serialize_type, header_length = header_info >> 24, header_info & _MAX_HEADER_LENGTH
    if serialize_type != SERIALIZE_JSON:
        raise FrameError(f"unsupported serialize type {serialize_type} (only JSON is spoken)")
    if header_length > len(payload) - 4:
        raise FrameError(f"header length {header_length} exceeds the {len(payload) - 4} bytes in the frame")
    header = _parse_header(payload[4 : 4 + header_length])
    return _command_from_header(header, body=bytes(payload[4 + header_length :]))


def decode(frame: bytes, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> RemotingCommand:
    """Decode one complete frame, length prefix included; extra or missing bytes are errors."""
    length = frame_length(frame[:LENGTH_PREFIX], max_frame_size=max_frame_size)
    if len(frame) != LENGTH_PREFIX + length:
        raise FrameError(f"frame announces {length} bytes but {len(frame) - LENGTH_PREFIX} follow")
    return decode_payload(frame[LENGTH_PREFIX:])


def _parse_header(raw: bytes) -> dict[str, Any]:
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FrameError(f"header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise FrameError("header is not a JSON object")
    return header


def _command_from_header(header: dict[str, Any], *, body: bytes) -> RemotingCommand:
    ext_fields = header.get("extFields") or {}
    remark = header.get("remark")
    if not isinstance(ext_fields, dict) or not (remark is None or isinstance(remark, str)):
        raise FrameError("header has a malformed extFields or remark")
    return RemotingCommand(
        code=_int_field(header, "code"),
        opaque=_int_field(header, "opaque"),
        flag=_int_field(header, "flag"),
        ext_fields={str(k): _text(v) for k, v in ext_fields.items()},
        body=body,
        remark=remark,
        language=str(header.get("language", "")),
        version=_int_field(header, "version"),
    )


def _int_field(header: dict[str, Any], name: str) -> int:
    value = header.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int):
        raise FrameError(f"header field {name!r} is not an integer: {value!r}")
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
