"""A caught-up watch waits ``gather`` seconds before its next read, so a steady stream of events is read a
batch at a time; a backlog is read at once, and close() during the wait ends the stream."""

from __future__ import annotations

import socket
import threading
from types import SimpleNamespace

from rocketmq_operator.kube.transport import _dechunked_lines, _readable_now


def _chunk(line: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(line), line)


class Reads:
    """A socket reader handing out prepared reads, one per ``read1``; records what was waiting when each
    began."""

    def __init__(self, reads: list[bytes], log: list[str]) -> None:
        self._reads, self.log = list(reads), log

    def read1(self, size: int) -> bytes:
        self.log.append("read")
        return self._reads.pop(0) if self._reads else b""


class RecordingStop(threading.Event):
    """The stream's ``closed`` event: records the waits instead of sleeping; can close the stream in one."""

    def __init__(self, log: list[str], *, close_on_wait: int | None = None) -> None:
        super().__init__()
        self.log, self._close_on_wait, self.waits = log, close_on_wait, 0

    def wait(self, timeout: float | None = None) -> bool:
        self.waits += 1
        self.log.append(f"wait {timeout}")
        if self._close_on_wait == self.waits:
            self.set()
        return self.is_set()


def test_a_caught_up_stream_waits_the_gather_time_before_each_read():
    log: list[str] = []
    fp = Reads([_chunk(b"a\n"), _chunk(b"b\n") + _chunk(b"c\n"), b"0\r\n\r\n"], log)
    lines = list(_dechunked_lines(fp, 65536, RecordingStop(log), gather=0.25, ready=lambda: False))
    assert lines == [b"a", b"b", b"c"]
    assert log == ["wait 0.25", "read", "wait 0.25", "read", "wait 0.25", "read"]


def test_a_backlog_is_read_without_waiting():
    log: list[str] = []
    fp = Reads([_chunk(b"a\n"), _chunk(b"b\n"), b"0\r\n\r\n"], log)
    lines = list(_dechunked_lines(fp, 65536, RecordingStop(log), gather=0.25, ready=lambda: True))
    assert lines == [b"a", b"b"] and log == ["read", "read", "read"]


def test_without_gather_every_read_is_immediate():
    log: list[str] = []
    fp = Reads([_chunk(b"a\n"), b"0\r\n\r\n"], log)
    assert list(_dechunked_lines(fp, 65536, RecordingStop(log))) == [b"a"] and log == ["read", "read"]


def test_close_during_the_wait_ends_the_stream_without_another_read():
    log: list[str] = []
    fp = Reads([_chunk(b"a\n"), _chunk(b"b\n")], log)
    closed = RecordingStop(log, close_on_wait=2)
    assert list(_dechunked_lines(fp, 65536, closed, gather=0.25, ready=lambda: False)) == [b"a"]
    assert log == ["wait 0.25", "read", "wait 0.25"]


def test_the_readiness_check_sees_bytes_waiting_in_the_socket():
    ours, theirs = socket.socketpair()
    try:
        ready = _readable_now(SimpleNamespace(connection=SimpleNamespace(sock=ours)))
        assert ready is not None and ready() is False
        theirs.sendall(b"x")
        assert ready() is True
        ours.recv(1)
        assert ready() is False
    finally:
        ours.close()
        theirs.close()


def test_a_response_without_a_reachable_socket_gets_no_check():
    assert _readable_now(SimpleNamespace()) is None
    assert _readable_now(SimpleNamespace(connection=SimpleNamespace(sock=None))) is None
