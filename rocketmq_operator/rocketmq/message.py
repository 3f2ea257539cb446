"""Messages: what a producer sends, what a pull returns, and the byte formats between them.

A pull response's body is a run of messages in the broker's store format, each laid out as::

    int32  total size          of this message, this field included
    int32  magic code          V1 (topic length is 1 byte) or V2 (2 bytes, for topics over 127 bytes)
    int32  body CRC            CRC32 of the stored body, masked to 31 bits
    int32  queue id
    int32  flag                the producer's flag, opaque to RocketMQ
    int64  queue offset        index in the consume queue
    int64  physical offset     position in the commit log
    int32  sys flag            compressed, multi-tags, transaction type, IPv6 hosts, compression type
    int64  born timestamp      milliseconds, set by the producer
    bytes  born host           IPv4 (4 bytes) or IPv6 (16 bytes, sys flag bit 4), then int32 port
    int64  store timestamp
    bytes  store host          as the born host (sys flag bit 5 for IPv6)
    int32  reconsume times
    int64  prepared transaction offset
    int32  body length, then the body (compressed when sys flag bit 0 is set)
    topic length (int8 or int16 by magic), then the topic
    int16  properties length, then ``name \\x01 value \\x02`` pairs in UTF-8

All integers are big-endian. This module is pure (no sockets): ``decode_messages`` raises
``MessageFormatError`` (a ``ValueError``) for anything that does not follow the layout, and the
consumer turns that into a ``ProtocolError`` naming the broker.
"""

from __future__ import annotations

import ipaddress
import os
import random
import struct
import threading
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType

__all__ = [
    "COMPRESSED_FLAG",
    "MESSAGE_MAGIC_CODE",
    "MESSAGE_MAGIC_CODE_V2",
    "PROPERTY_KEYS",
    "PROPERTY_TAGS",
    "PROPERTY_UNIQ_KEY",
    "PROPERTY_WAIT",
    "ZLIB_COMPRESSION",
    "Message",
    "MessageExt",
    "MessageFormatError",
    "UniqKeyGenerator",
    "decode_messages",
    "decode_properties",
    "encode_properties",
]

MESSAGE_MAGIC_CODE = -626843481
MESSAGE_MAGIC_CODE_V2 = -626843477
NAME_VALUE_SEPARATOR = "\x01"
PROPERTY_SEPARATOR = "\x02"
PROPERTY_KEYS = "KEYS"
PROPERTY_TAGS = "TAGS"
PROPERTY_UNIQ_KEY = "UNIQ_KEY"
PROPERTY_WAIT = "WAIT"
KEY_SEPARATOR = " "

COMPRESSED_FLAG = 0x1
BORNHOST_V6_FLAG = 0x1 << 4
STOREHOST_V6_FLAG = 0x1 << 5
COMPRESSION_TYPE_MASK = 0x7 << 8
ZLIB_COMPRESSION = 0x3 << 8
_COMPRESSION_NAMES = {1: "LZ4", 2: "ZSTD"}  # 0 (older clients) and 3 are zlib

_FIXED = struct.Struct(">iiiiiqqiq")  # total size … born timestamp: 4*5 + 8*2 + 4 + 8 = 48 bytes
_INT = struct.Struct(">i")
_LONG = struct.Struct(">q")
_USHORT = struct.Struct(">H")


class MessageFormatError(ValueError):
    """Bytes that are not a run of messages in RocketMQ's store format."""


@dataclass(frozen=True)
class Message:
    """A message to send. ``keys`` are indexed by the broker (query by key); ``tags`` filter consumers."""

    topic: str
    body: bytes
    keys: tuple[str, ...] = ()
    tags: str | None = None
    properties: Mapping[str, str] = field(default_factory=dict)
    flag: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", tuple(self.keys))
        object.__setattr__(self, "properties", MappingProxyType(dict(self.properties)))
        for key in self.keys:
            if not key or KEY_SEPARATOR in key:
                raise ValueError(f"a message key must be non-empty and without spaces: {key!r}")

    def wire_properties(self, uniq_key: str) -> dict[str, str]:
        """The properties as sent: the user's, then KEYS, TAGS, UNIQ_KEY and WAIT (store before answering)."""
        wire = dict(self.properties)
        if self.keys:
            wire[PROPERTY_KEYS] = KEY_SEPARATOR.join(self.keys)
        if self.tags:
            wire[PROPERTY_TAGS] = self.tags
        wire[PROPERTY_UNIQ_KEY] = uniq_key
        wire.setdefault(PROPERTY_WAIT, "true")
        return wire


@dataclass(frozen=True)
class MessageExt:
    """A message as the broker stored it. ``body`` is decompressed; ``sys_flag`` keeps the stored flags."""

    topic: str
    body: bytes
    properties: Mapping[str, str]
    queue_id: int
    queue_offset: int
    commit_log_offset: int
    sys_flag: int
    flag: int
    born_timestamp: int
    born_host: str
    store_timestamp: int
    store_host: str
    reconsume_times: int
    prepared_transaction_offset: int
    body_crc: int
    store_size: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "properties", MappingProxyType(dict(self.properties)))

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(k for k in self.properties.get(PROPERTY_KEYS, "").split(KEY_SEPARATOR) if k)

    @property
    def tags(self) -> str | None:
        return self.properties.get(PROPERTY_TAGS)

    @property
    def uniq_key(self) -> str | None:
        """The producer's message id (what ``SendResult.msg_id`` returned)."""
        return self.properties.get(PROPERTY_UNIQ_KEY)

    @property
    def offset_msg_id(self) -> str:
        """The broker's message id: store host address, port and commit-log offset, in hex."""
        host, _, port = self.store_host.rpartition(":")
        raw = ipaddress.ip_address(host.strip("[]")).packed + struct.pack(
            ">iq", int(port), self.commit_log_offset
        )
        return raw.hex().upper()


def encode_properties(properties: Mapping[str, str]) -> str:
    """``name\\x01value\\x02`` for each property, as RocketMQ writes them."""
    for name, value in properties.items():
        if any(sep in f"{name}{value}" for sep in (NAME_VALUE_SEPARATOR, PROPERTY_SEPARATOR)):
            raise ValueError(f"property {name!r} contains a separator character")
    return "".join(
        f"{name}{NAME_VALUE_SEPARATOR}{value}{PROPERTY_SEPARATOR}" for name, value in properties.items()
    )


def decode_properties(text: str) -> dict[str, str]:
    """The inverse of ``encode_properties``; entries without a name or value are skipped, as RocketMQ does."""
    result = {}
    for entry in text.split(PROPERTY_SEPARATOR):
        name, sep, value = entry.partition(NAME_VALUE_SEPARATOR)
        if sep and name and value:
            result[name] = value
    return result


def decode_messages(data: bytes, *, check_crc: bool = True) -> list[MessageExt]:
    """Every message in a pull response body, in order."""
    view = memoryview(data)
    messages = []
    position = 0
    while position < len(view):
        if len(view) - position < 4:
            raise MessageFormatError(f"{len(view) - position} trailing bytes after message {len(messages)}")
        (size,) = _INT.unpack_from(view, position)
        if size < _FIXED.size or position + size > len(view):
            raise MessageFormatError(
                f"message {len(messages)} at byte {position} claims {size} bytes, {len(view) - position} left"
            )
        messages.append(_decode_one(bytes(view[position : position + size]), check_crc=check_crc))
        position += size
    return messages


def _decode_one(raw: bytes, *, check_crc: bool) -> MessageExt:
    try:
        return _Reader(raw).message(check_crc=check_crc)
    except (struct.error, UnicodeDecodeError, zlib.error) as exc:
        raise MessageFormatError(f"malformed message: {exc}") from exc


class _Reader:
    """Reads one stored message field by field; ``struct.error`` when it runs out of bytes."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.pos = 0

    def take(self, size: int) -> bytes:
        if size < 0 or self.pos + size > len(self.raw):
            raise struct.error(f"needs {size} bytes at {self.pos}, {len(self.raw) - self.pos} left")
        chunk = self.raw[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def int32(self) -> int:
        return _INT.unpack(self.take(4))[0]

    def int64(self) -> int:
        return _LONG.unpack(self.take(8))[0]

    def host(self, v6: bool) -> str:
        address = ipaddress.ip_address(self.take(16 if v6 else 4))
        port = self.int32()
        return f"[{address}]:{port}" if v6 else f"{address}:{port}"

    def message(self, *, check_crc: bool) -> MessageExt:
        size, magic, body_crc, queue_id, flag, queue_offset, physical_offset, sys_flag, born = _FIXED.unpack(
            self.take(_FIXED.size)
        )
        if magic not in (MESSAGE_MAGIC_CODE, MESSAGE_MAGIC_CODE_V2):
            raise MessageFormatError(
                f"bad magic code {magic & 0xFFFFFFFF:#010x} at queue offset {queue_offset}"
            )
        born_host = self.host(bool(sys_flag & BORNHOST_V6_FLAG))
        store_timestamp = self.int64()
        store_host = self.host(bool(sys_flag & STOREHOST_V6_FLAG))
        reconsume_times, prepared = self.int32(), self.int64()
        body = self.take(self.int32())
        if check_crc and zlib.crc32(body) & 0x7FFFFFFF != body_crc:
            raise MessageFormatError(f"body CRC mismatch at queue offset {queue_offset}")
        topic_length = self.take(1)[0] if magic == MESSAGE_MAGIC_CODE else _USHORT.unpack(self.take(2))[0]
        topic = self.take(topic_length).decode("utf-8")
        properties = decode_properties(self.take(_USHORT.unpack(self.take(2))[0]).decode("utf-8"))
        if self.pos != size:
            raise MessageFormatError(
                f"message at queue offset {queue_offset} has {size - self.pos} extra bytes"
            )
        return MessageExt(
            topic=topic,
            body=_decompress(body, sys_flag),
            properties=properties,
            queue_id=queue_id,
            queue_offset=queue_offset,
            commit_log_offset=physical_offset,
            sys_flag=sys_flag,
            flag=flag,
            born_timestamp=born,
            born_host=born_host,
            store_timestamp=store_timestamp,
            store_host=store_host,
            reconsume_times=reconsume_times,
            prepared_transaction_offset=prepared,
            body_crc=body_crc,
            store_size=size,
        )


def _decompress(body: bytes, sys_flag: int) -> bytes:
    if not sys_flag & COMPRESSED_FLAG:
        return body
    kind = (sys_flag & COMPRESSION_TYPE_MASK) >> 8
    if kind in _COMPRESSION_NAMES:
        raise MessageFormatError(
            f"{_COMPRESSION_NAMES[kind]}-compressed bodies are not supported (only zlib)"
        )
    return zlib.decompress(body)


class UniqKeyGenerator:
    """Producer message ids (``UNIQ_KEY``) in the Java client's layout, so RocketMQ's tools read them.

    16 bytes as 32 upper-case hex digits: IPv4 address, process id (2 bytes), a per-generator random
    (4 bytes, where Java puts its class loader's hash), milliseconds since the start of the month
    (4 bytes; ``queryMsgById`` derives the search window from it), and a counter (2 bytes).
    """

    def __init__(self, ip: str = "127.0.0.1") -> None:
        fixed = ipaddress.IPv4Address(ip).packed + struct.pack(
            ">HI", os.getpid() & 0xFFFF, random.getrandbits(32)
        )
        self._prefix = fixed.hex().upper()
        self._counter = 0
        self._lock = threading.Lock()

    def next(self, *, now: float | None = None) -> str:
        moment = datetime.fromtimestamp(time.time() if now is None else now, UTC).astimezone()
        month_start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        since = int((moment - month_start).total_seconds() * 1000) & 0xFFFFFFFF
        with self._lock:
            self._counter = (self._counter + 1) & 0xFFFF
            counter = self._counter
        return self._prefix + struct.pack(">IH", since, counter).hex().upper()
