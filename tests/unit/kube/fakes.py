"""A real ApiClient whose urllib3 pool manager is replaced by a scripted fake (no sockets)."""

from __future__ import annotations

import io
import json
from typing import Any

import urllib3
from kubernetes.client import ApiClient, Configuration

from rocketmq_operator.kube import KubeClient, RequestCounter, RetryPolicy, Transport


def response(status: int = 200, body: Any = None, *, headers: dict[str, str] | None = None,
             raw: bytes | None = None, chunks: list[bytes] | None = None) -> urllib3.HTTPResponse:
    data = raw if raw is not None else json.dumps(body if body is not None else {}).encode()
    if chunks is not None:
        return ChunkedResponse(chunks, status)  # type: ignore[return-value]
    return urllib3.HTTPResponse(body=io.BytesIO(data), status=status, headers=headers or {},
                                preload_content=False)


def status_body(code: int, reason: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason,
            "message": message, **extra}


class ChunkedResponse:
    """Streams the given chunks; an exception among them is raised at that point."""

    def __init__(self, chunks: list[Any], status: int = 200) -> None:
        self.status = status
        self.reason = "OK"
        self.headers: dict[str, str] = {}
        self._chunks = chunks
        self.closed = False

    def stream(self, amt: int | None = None, decode_content: bool | None = None) -> Any:
        for chunk in self._chunks:
            if isinstance(chunk, BaseException):
                raise chunk
            yield chunk

    def read(self) -> bytes:
        return b""

    def close(self) -> None:
        self.closed = True


class FakePoolManager:
    """Records requests; answers each with the next scripted response or raises the scripted error."""

    def __init__(self) -> None:
        self.script: list[Any] = []
        self.requests: list[dict[str, Any]] = []

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        self.requests.append({"method": method, "url": url, **kwargs})
        item = self.script.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    def clear(self) -> None:
        pass


def fake_client(*, attempts: int = 4) -> tuple[KubeClient, FakePoolManager, list[float]]:
    configuration = Configuration(host="https://127.0.0.1:6443")
    configuration.api_key = {"authorization": "Bearer t0ken"}
    api = ApiClient(configuration)
    pool = FakePoolManager()
    api.rest_client.pool_manager = pool  # type: ignore[assignment]
    sleeps: list[float] = []
    retry = RetryPolicy(attempts=attempts, sleep=sleeps.append, rand=lambda: 1.0)
    return KubeClient(Transport(api), retry=retry, counter=RequestCounter()), pool, sleeps
