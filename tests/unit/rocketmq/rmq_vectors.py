"""Messages in RocketMQ's store format built field by field, for the codec and client unit tests."""

from __future__ import annotations

import ipaddress
import struct
import zlib

from rocketmq_operator.rocketmq.message import MESSAGE_MAGIC_CODE

V6 = (0x1 << 4) | (0x1 << 5)  # born host and store host are IPv6


def stored(
    *,
    topic: str = "T",
    body: bytes = b"hi",
    properties: str = "KEYS\x01k1\x02",
    sys_flag: int = 0,
    magic: int = MESSAGE_MAGIC_CODE,
    crc: int | None = None,
    born: str = "10.0.0.1",
    store: str = "10.0.0.2",
    extra: bytes = b"",
) -> bytes:
    """One message in the store format, field by field as MessageDecoder documents it."""
    topic_raw, props_raw = topic.encode(), properties.encode()
    topic_len = struct.pack(">B" if magic == MESSAGE_MAGIC_CODE else ">H", len(topic_raw))
    rest = (
        struct.pack(">iiqqiq", 7, 0x55, 12, 3456, sys_flag, 1_700_000_000_000)  # queue id … born timestamp
        + ipaddress.ip_address(born).packed
        + struct.pack(">iq", 1111, 1_700_000_000_050)
        + ipaddress.ip_address(store).packed
        + struct.pack(">iiq", 10911, 2, 0)
        + struct.pack(">i", len(body))
        + body
        + topic_len
        + topic_raw
        + struct.pack(">H", len(props_raw))
        + props_raw
        + extra
    )
    crc = zlib.crc32(body) & 0x7FFFFFFF if crc is None else crc
    return struct.pack(">iii", 12 + len(rest), magic, crc) + rest
