"""Blocking TCP transport for the remoting protocol: one connection, and a small per-address pool.

This is the only module of the client that touches sockets. Its guarantees:

* Bounded time. Connecting is bounded by the connect timeout; a call (send, then read frames until the
  response with the request's ``opaque``) is bounded by one deadline, however slowly the peer dribbles
  bytes. Expiry raises ``RemotingTimeout``.
* Bounded memory. A frame's length is checked against ``max_frame_size`` before it is read.
* Clear failures. Refused or unreachable → ``ConnectError``; closed or reset before a response →
  ``ConnectionLost``; a half frame, garbage or an oversized frame → ``ProtocolError``.
* No stale state. A connection that failed in any way is closed, never returned to the pool. An idle
  connection is reused only if it is younger than ``idle_timeout`` and the peer has not closed it
  (brokers drop idle channels after two minutes) and has sent nothing unsolicited.

Frames that are not the awaited response (server-side requests, responses to earlier calls that timed
out) are skipped. A pooled connection serves one call at a time; the pool is thread-safe.
"""

from __future__ import annotations

import select
import socket
import threading
from collections import defaultdict

from rocketmq_operator.clock import REAL_CLOCK, Clock

from .errors import ConnectError, ConnectionLost, ProtocolError, RemotingTimeout
from .protocol import (
    DEFAULT_MAX_FRAME_SIZE,
    LENGTH_PREFIX,
    FrameError,
    RemotingCommand,
    decode_payload,
    encode,
    frame_length,
)

__all__ = ["Connection", "ConnectionPool", "split_addr"]

_RECV_CHUNK = 64 * 1024


def split_addr(addr: str) -> tuple[str, int]:
    """``"host:port"`` (or ``"[v6]:port"``) as a (host, port) pair; ValueError when malformed."""
    host, sep, port = addr.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"not a host:port address: {addr!r}")
    return host.strip("[]"), int(port)


class Connection:
    """One TCP connection to a name server or broker; one call at a time."""

    def __init__(self, addr: str, sock: socket.socket, *, max_frame_size: int, clock: Clock) -> None:
        self.addr = addr
        self._sock = sock
        self._max_frame_size = max_frame_size
        self._clock = clock
        self._broken = False
        self.last_used = clock.now()

    @classmethod
    def open(
        cls,
        addr: str,
        *,
        timeout: float,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        clock: Clock = REAL_CLOCK,
    ) -> Connection:
        host, port = split_addr(addr)
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except TimeoutError as exc:
            raise ConnectError(f"connect timed out after {timeout:g}s", addr=addr) from exc
        except OSError as exc:
            raise ConnectError(f"cannot connect: {exc.strerror or exc}", addr=addr) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(addr, sock, max_frame_size=max_frame_size, clock=clock)

    def call(self, request: RemotingCommand, *, timeout: float) -> RemotingCommand:
        """Send ``request`` and return the response with its opaque. Any failure breaks the connection."""
        deadline = self._clock.now() + timeout
        try:
            self._send(encode(request), deadline)
            while True:
                response = self._read_frame(deadline)
                if response.is_response and response.opaque == request.opaque:
                    return response
        except BaseException:
            self.close()
            raise
        finally:
            self.last_used = self._clock.now()

    def reusable(self, *, idle_timeout: float) -> bool:
        """Healthy, not idle for too long, and nothing (not even EOF) is waiting to be read."""
        if self._broken or self._clock.now() - self.last_used > idle_timeout:
            return False
        try:
            poller = select.poll()  # not select.select: it fails above file descriptor 1023
            poller.register(self._sock, select.POLLIN | select.POLLPRI)
            return not poller.poll(0)
        except (OSError, ValueError):
            return False

    def close(self) -> None:
        self._broken = True
        try:
            self._sock.close()
        except OSError:
            pass

    def _remaining(self, deadline: float) -> float:
        remaining = deadline - self._clock.now()
        if remaining <= 0:
            raise RemotingTimeout("no response within the request timeout", addr=self.addr)
        return remaining

    def _send(self, data: bytes, deadline: float) -> None:
        self._sock.settimeout(self._remaining(deadline))
        try:
            self._sock.sendall(data)
        except TimeoutError as exc:
            raise RemotingTimeout("timed out sending the request", addr=self.addr) from exc
        except OSError as exc:
            raise ConnectionLost(f"connection lost while sending: {exc}", addr=self.addr) from exc

    def _read_frame(self, deadline: float) -> RemotingCommand:
        prefix = self._recv_exact(LENGTH_PREFIX, deadline, first=True)
        try:
            length = frame_length(prefix, max_frame_size=self._max_frame_size)
            return decode_payload(self._recv_exact(length, deadline, first=False))
        except FrameError as exc:
            raise ProtocolError(str(exc), addr=self.addr) from exc

    def _recv_exact(self, size: int, deadline: float, *, first: bool) -> bytes:
        buf = bytearray()
        while len(buf) < size:
            self._sock.settimeout(self._remaining(deadline))
            try:
                chunk = self._sock.recv(min(size - len(buf), _RECV_CHUNK))
            except TimeoutError as exc:
                raise RemotingTimeout("no response within the request timeout", addr=self.addr) from exc
            except OSError as exc:
                raise ConnectionLost(f"connection lost while reading: {exc}", addr=self.addr) from exc
            if not chunk:
                if first and not buf:
                    raise ConnectionLost("connection closed by peer before a response", addr=self.addr)
                raise ProtocolError(
                    f"connection closed mid-frame ({len(buf)} of {size} bytes)", addr=self.addr
                )
            buf += chunk
        return bytes(buf)


class ConnectionPool:
    """Connections keyed by address; at most ``max_idle_per_addr`` idle ones kept per address."""

    def __init__(
        self,
        *,
        connect_timeout: float = 3.0,
        max_idle_per_addr: int = 2,
        idle_timeout: float = 60.0,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self._connect_timeout = connect_timeout
        self._max_idle = max_idle_per_addr
        self._idle_timeout = idle_timeout
        self._max_frame_size = max_frame_size
        self._clock = clock
        self._idle: dict[str, list[Connection]] = defaultdict(list)
        self._opened: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._closed = False

    def call(self, addr: str, request: RemotingCommand, *, timeout: float) -> RemotingCommand:
        conn = self._acquire(addr)
        response = conn.call(request, timeout=timeout)
        self._release(conn)
        return response

    def idle_count(self, addr: str) -> int:
        """Connections to ``addr`` waiting for reuse."""
        with self._lock:
            return len(self._idle.get(addr, ()))

    def opened_count(self, addr: str) -> int:
        """Connections to ``addr`` opened so far (a measure of reuse)."""
        with self._lock:
            return self._opened.get(addr, 0)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, defaultdict(list)
        for conns in idle.values():
            for conn in conns:
                conn.close()

    def _acquire(self, addr: str) -> Connection:
        while True:
            with self._lock:
                if self._closed:
                    raise ConnectError("connection pool is closed", addr=addr)
                conn = self._idle[addr].pop() if self._idle.get(addr) else None
            if conn is None:
                conn = Connection.open(
                    addr,
                    timeout=self._connect_timeout,
                    max_frame_size=self._max_frame_size,
                    clock=self._clock,
                )
                with self._lock:
                    self._opened[addr] += 1
                return conn
            if conn.reusable(idle_timeout=self._idle_timeout):
                return conn
            conn.close()

    def _release(self, conn: Connection) -> None:
        with self._lock:
            idle = self._idle[conn.addr]
            if not self._closed and len(idle) < self._max_idle:
                idle.append(conn)
                return
        conn.close()
