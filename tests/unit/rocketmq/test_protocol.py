"""The remoting frame codec: exact byte layout, round trips, and every way a frame can be malformed."""

from __future__ import annotations

import json
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rocketmq_operator.rocketmq.protocol import (
    CLIENT_VERSION,
    FrameError,
    RemotingCommand,
    decode,
    encode,
    frame_length,
)


def frame(
    header: bytes | dict, body: bytes = b"", *, serialize_type: int = 0, length: int | None = None
) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    total = 4 + len(raw) + len(body) if length is None else length
    return struct.pack(">II", total, (serialize_type << 24) | len(raw)) + raw + body


def test_a_request_encodes_as_length_header_length_json_header_and_body():
    command = RemotingCommand(code=106, opaque=7, ext_fields={"topic": "T"}, body=b"xyz")
    data = encode(command)
    total, header_info = struct.unpack(">II", data[:8])
    header = json.loads(data[8 : 8 + header_info])
    assert total == len(data) - 4 and header_info >> 24 == 0
    assert header == {
        "code": 106,
        "language": "PYTHON",
        "version": CLIENT_VERSION,
        "opaque": 7,
        "flag": 0,
        "serializeTypeCurrentRPC": "JSON",
        "extFields": {"topic": "T"},
    }
    assert data.endswith(b"xyz")


def test_a_frame_written_by_the_java_client_decodes():
    header = (
        b'{"code":106,"flag":1,"language":"JAVA","opaque":3,"serializeTypeCurrentRPC":"JSON","version":479}'
    )
    command = decode(frame(header, b"{}"))
    assert (command.code, command.opaque, command.language, command.version) == (106, 3, "JAVA", 479)
    assert command.is_response and not command.is_oneway and command.body == b"{}"
    assert dict(command.ext_fields) == {} and command.remark is None


def test_ext_fields_that_are_not_strings_are_read_as_their_text():
    command = decode(frame({"code": 0, "extFields": {"count": 3, "ok": True, "none": None}}))
    assert dict(command.ext_fields) == {"count": "3", "ok": "true", "none": ""}


def test_commands_are_frozen():
    command = RemotingCommand(code=1, ext_fields={"a": "b"})
    with pytest.raises(AttributeError):
        command.code = 2
    with pytest.raises(TypeError):
        command.ext_fields["a"] = "c"


@given(
    code=st.integers(-(2**31), 2**31 - 1),
    opaque=st.integers(0, 2**31 - 1),
    flag=st.integers(0, 3),
    ext_fields=st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=4),
    body=st.binary(max_size=300),
    remark=st.none() | st.text(max_size=30),
)
def test_encode_then_decode_gives_back_the_command(code, opaque, flag, ext_fields, body, remark):
    command = RemotingCommand(
        code=code, opaque=opaque, flag=flag, ext_fields=ext_fields, body=body, remark=remark
    )
    assert decode(encode(command)) == command


@pytest.mark.parametrize(
    "data, message",
    [
        (struct.pack(">I", 2) + b"ab", "shorter than its header-length field"),
        (struct.pack(">I", 2**31), "exceeds the limit"),
        (frame({"code": 0}, serialize_type=1), "unsupported serialize type 1"),
        (struct.pack(">II", 8, 1000) + b"{}{}", "header length 1000 exceeds"),
        (frame(b"not json"), "header is not JSON"),
        (frame(b"[1,2]"), "not a JSON object"),
        (frame(b"\xff\xfe"), "header is not JSON"),
        (frame({"code": "zero"}), "'code' is not an integer"),
        (frame({"code": True}), "'code' is not an integer"),
        (frame({"code": 0, "extFields": [1]}), "malformed extFields"),
        (frame({"code": 0, "remark": 5}), "malformed extFields or remark"),
        (frame({"code": 0})[:-3], "but"),
        (frame({"code": 0}) + b"extra", "but"),
    ],
)
def test_malformed_frames_raise_frame_errors(data, message):
    with pytest.raises(FrameError, match=message):
        decode(data)


def test_the_length_limit_is_checked_before_the_frame_is_read():
    with pytest.raises(FrameError, match="exceeds the limit of 1024"):
        frame_length(struct.pack(">I", 1025), max_frame_size=1024)
    assert frame_length(struct.pack(">I", 1024), max_frame_size=1024) == 1024


@given(st.binary(max_size=200))
def test_random_bytes_decode_or_raise_a_frame_error(data):
    try:
        decode(data)
    except FrameError:
        pass
