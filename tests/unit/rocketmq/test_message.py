"""The message codec: a pull body captured from RocketMQ 5.3.3 (one message from this client, one zlib-
compressed by the Java client), vectors built by hand from the documented layout, and every malformation."""

from __future__ import annotations

import struct
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rocketmq_operator.rocketmq.message import (
    COMPRESSED_FLAG,
    MESSAGE_MAGIC_CODE_V2,
    ZLIB_COMPRESSION,
    Message,
    MessageFormatError,
    UniqKeyGenerator,
    decode_messages,
    decode_properties,
    encode_properties,
)
from tests.unit.rocketmq.rmq_vectors import V6, stored

CAPTURED = bytes.fromhex((Path(__file__).parent / "vectors" / "pull-two-messages.hex").read_text())


def test_the_captured_pull_body_decodes_to_what_was_sent():
    ours, java = decode_messages(CAPTURED)
    assert (ours.topic, ours.body, ours.keys, ours.tags) == (
        "VectorTopic",
        b"hello vector",
        ("key-1", "key-2"),
        "TagA",
    )
    assert ours.properties["custom"] == "vé" and ours.properties["WAIT"] == "true"
    assert ours.uniq_key == "7F0000010539E011A4B7048ABEEC0001"
    assert (ours.queue_id, ours.queue_offset, ours.commit_log_offset, ours.store_size) == (0, 0, 0, 263)
    assert ours.offset_msg_id == "7F00000100009FB50000000000000000"  # what the broker's send answer said
    assert ours.store_host == "127.0.0.1:40885" and ours.born_host.startswith("127.0.0.1:")
    assert ours.store_timestamp - ours.born_timestamp == 67

    assert java.sys_flag == COMPRESSED_FLAG | ZLIB_COMPRESSION
    assert java.body == (b"java compressed body " * 300).rstrip()  # inflated (mqadmin trims -p)
    assert (java.keys, java.tags, java.queue_offset, java.commit_log_offset) == (
        ("java-key",),
        "TagJ",
        1,
        263,
    )


def test_a_hand_built_message_decodes_field_by_field():
    (message,) = decode_messages(stored())
    assert (message.queue_id, message.flag, message.queue_offset, message.commit_log_offset) == (
        7,
        0x55,
        12,
        3456,
    )
    assert (message.born_timestamp, message.born_host) == (1_700_000_000_000, "10.0.0.1:1111")
    assert (message.store_timestamp, message.store_host) == (1_700_000_000_050, "10.0.0.2:10911")
    assert (message.reconsume_times, message.prepared_transaction_offset) == (2, 0)
    assert (message.topic, message.body, message.keys, message.tags) == ("T", b"hi", ("k1",), None)
    assert message.offset_msg_id == "0A000002" + "00002A9F" + "0000000000000D80"


def test_ipv6_hosts_a_v2_magic_with_a_long_topic_and_zlib_bodies_decode():
    topic, body = "t" * 200, b"x" * 5000
    raw = stored(
        topic=topic,
        body=zlib.compress(body),
        sys_flag=V6 | COMPRESSED_FLAG,
        magic=MESSAGE_MAGIC_CODE_V2,
        born="::1",
        store="fd00::2",
    )
    (message,) = decode_messages(raw)
    assert (message.topic, message.body) == (topic, body)
    assert (message.born_host, message.store_host) == ("[::1]:1111", "[fd00::2]:10911")
    legacy = stored(body=zlib.compress(b"old"), sys_flag=COMPRESSED_FLAG)  # compression type 0: zlib
    assert decode_messages(legacy)[0].body == b"old"


def test_a_batch_decodes_in_order_and_an_empty_body_is_no_messages():
    batch = stored(body=b"one") + stored(body=b"two", properties="") + stored(body=b"")
    assert [m.body for m in decode_messages(batch)] == [b"one", b"two", b""]
    assert decode_messages(b"") == []


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (stored(crc=12345), "CRC mismatch"),
        (stored(magic=-875286124), "bad magic"),
        (stored()[:-3], "claims"),
        (stored() + b"\x00\x00", "trailing bytes"),
        (stored(extra=b"\x00"), "extra bytes"),
        (struct.pack(">i", 8) + b"\x00" * 4, "claims 8 bytes"),
        (stored(body=b"\x01\x02", sys_flag=COMPRESSED_FLAG), "malformed message"),
        (stored(sys_flag=COMPRESSED_FLAG | 0x100), "LZ4"),
        (stored(sys_flag=COMPRESSED_FLAG | 0x200), "ZSTD"),
    ],
)
def test_malformed_messages_are_format_errors(raw: bytes, error: str):
    with pytest.raises(MessageFormatError, match=error):
        decode_messages(raw)


def test_a_wrong_crc_is_accepted_when_checking_is_off():
    assert decode_messages(stored(crc=1), check_crc=False)[0].body == b"hi"


def test_properties_round_trip_and_malformed_entries_are_skipped_like_rocketmq_does():
    properties = {"KEYS": "a b", "UNIQ_KEY": "X", "custom": "é"}
    assert decode_properties(encode_properties(properties)) == properties
    assert encode_properties({"A": "1"}) == "A\x011\x02"
    assert decode_properties("A\x011\x02\x02=\x01\x02\x01v\x02B\x012") == {"A": "1", "B": "2"}
    with pytest.raises(ValueError, match="separator"):
        encode_properties({"A": "1\x022"})


def test_wire_properties_carry_keys_tags_the_unique_key_and_wait():
    message = Message("T", b"", keys=("k1", "k2"), tags="TagA", properties={"mine": "1"})
    assert message.wire_properties("ID") == {
        "mine": "1",
        "KEYS": "k1 k2",
        "TAGS": "TagA",
        "UNIQ_KEY": "ID",
        "WAIT": "true",
    }
    assert Message("T", b"").wire_properties("ID") == {"UNIQ_KEY": "ID", "WAIT": "true"}
    for bad in ("", "a b"):
        with pytest.raises(ValueError, match="key"):
            Message("T", b"", keys=(bad,))


def test_unique_keys_follow_the_java_layout_and_count_up():
    generator = UniqKeyGenerator("10.1.2.3")
    moment = datetime(2026, 3, 5, 12, 0, 1, tzinfo=UTC).timestamp()
    first, second = generator.next(now=moment), generator.next(now=moment)
    assert len(first) == 32 and first[:8] == "0A010203" and first[:20] == second[:20]
    local = datetime.fromtimestamp(moment, UTC).astimezone()
    since_month = int(
        (local - local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)).total_seconds() * 1000
    )
    assert int(first[20:28], 16) == since_month
    assert (int(first[28:], 16), int(second[28:], 16)) == (1, 2)
