"""Local fake peers for fault tests: a TCP server whose behaviour is a function, and a dropping proxy."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Self

from rocketmq_operator.rocketmq.protocol import (
    LENGTH_PREFIX,
    RemotingCommand,
    decode_payload,
    encode,
    frame_length,
)

# Bodies as RocketMQ 5.3.3 writes them (fastjson: integer and object keys).
CLUSTER_INFO = (
    b'{"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"127.0.0.1:20911",1:"127.0.0.1:20921"},'
    b'"brokerName":"broker-a","cluster":"TestCluster","enableActingMaster":false}},'
    b'"clusterAddrTable":{"TestCluster":["broker-a"]}}'
)
CONSUME_STATS = (
    b'{"consumeTps":0.0,"offsetTable":{{"brokerName":"broker-a","queueId":1,"topic":"T1"}:'
    b'{"brokerOffset":2,"consumerOffset":0,"lastTimestamp":0,"pullOffset":0},'
    b'{"brokerName":"broker-a","queueId":0,"topic":"T1"}:'
    b'{"brokerOffset":3,"consumerOffset":1,"lastTimestamp":1795303793243,"pullOffset":1}}}'
)


class FakeServer:
    """Accepts connections on 127.0.0.1 and runs ``behaviour(conn)`` for each in a thread."""

    def __init__(self, behaviour: Callable[[socket.socket], None]) -> None:
        self._behaviour = behaviour
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.addr = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self.accepted = 0
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()
        for conn in self._conns:
            conn.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            self._conns.append(conn)
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        try:
            self._behaviour(conn)
        except OSError:
            pass


def read_request(conn: socket.socket) -> RemotingCommand | None:
    """One frame from the client, or None when it closed the connection."""
    prefix = _recv_exact(conn, LENGTH_PREFIX)
    if prefix is None:
        return None
    payload = _recv_exact(conn, frame_length(prefix))
    return None if payload is None else decode_payload(payload)


def _recv_exact(conn: socket.socket, size: int) -> bytes | None:
    buf = b""
    while len(buf) < size:
        chunk = conn.recv(size - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def respond(
    request: RemotingCommand,
    *,
    code: int = 0,
    body: bytes = b"",
    remark: str | None = None,
    fields: dict[str, str] | None = None,
    opaque: int | None = None,
) -> bytes:
    """The frame of a response to ``request``."""
    return encode(
        RemotingCommand(
            code=code,
            opaque=request.opaque if opaque is None else opaque,
            flag=1,
            body=body,
            remark=remark,
            ext_fields=fields or {},
            language="JAVA",
        )
    )


def serve_forever(reply: Callable[[RemotingCommand], bytes]) -> Callable[[socket.socket], None]:
    """A behaviour that answers every request on the connection with ``reply(request)``."""

    def behaviour(conn: socket.socket) -> None:
        while (request := read_request(conn)) is not None:
            conn.sendall(reply(request))

    return behaviour


def hold_open(conn: socket.socket) -> None:
    """Read whatever arrives and never answer (until the client goes away)."""
    while conn.recv(65536):
        pass


class DroppingProxy:
    """Forwards one connection to ``upstream`` but closes it after ``keep`` bytes of the response."""

    def __init__(self, upstream: str, *, keep: int) -> None:
        host, port = upstream.rsplit(":", 1)
        self._upstream = (host, int(port))
        self._keep = keep
        self.server = FakeServer(self._proxy)

    def __enter__(self) -> Self:
        self.server.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.__exit__(*exc_info)

    @property
    def addr(self) -> str:
        return self.server.addr

    def _proxy(self, conn: socket.socket) -> None:
        with socket.create_connection(self._upstream, timeout=10) as upstream:
            request_prefix = _recv_exact(conn, LENGTH_PREFIX)
            upstream.sendall(request_prefix + _recv_exact(conn, frame_length(request_prefix)))
            response = b""
            while len(response) < self._keep:
                chunk = upstream.recv(self._keep - len(response))
                if not chunk:
                    break
                response += chunk
            conn.sendall(response)
        conn.close()
