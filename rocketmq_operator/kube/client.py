"""A generic client for any resource, on plain dicts.

One class serves every kind: the :class:`~rocketmq_operator.kube.resources.Resource` value says where it
lives. Reads return the JSON the server sent, decoded into dicts; nothing builds generated model objects.
Idempotent calls are retried on transient errors, a create only when the request surely did not land
(see :mod:`rocketmq_operator.kube.retry`). Given a :class:`RequestCounter`, every logical call is recorded in
it, which is how tests and benchmarks assert "no writes when nothing changed"; without one nothing is counted.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .errors import FencedOff, Forbidden
from .resources import Resource
from .retry import RetryPolicy
from .transport import Query, Timeout, Transport, WatchStream

PatchType = Literal["merge", "json", "strategic"]
_PATCH_CONTENT_TYPES = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
}
WRITE_VERBS = frozenset({"create", "update", "patch", "delete"})


@dataclass(frozen=True)
class ListResult:
    items: list[dict[str, Any]]
    resource_version: str


class RequestCounter:
    """Counts calls by ``(verb, resource, subresource)`` and keeps the messages of 403 answers;
    thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str, str]] = Counter()
        self._forbidden: list[str] = []

    def record_forbidden(self, verb: str, resource: Resource, message: str) -> None:
        with self._lock:
            self._forbidden.append(f"{verb} {resource}: {message}")

    def forbidden(self) -> list[str]:
        with self._lock:
            return list(self._forbidden)

    def record(self, verb: str, resource: Resource, subresource: str | None = None) -> None:
        with self._lock:
            self._counts[(verb, str(resource), subresource or "")] += 1

    def snapshot(self) -> Counter[tuple[str, str, str]]:
        with self._lock:
            return Counter(self._counts)

    def writes(self) -> int:
        with self._lock:
            return sum(n for (verb, _, _), n in self._counts.items() if verb in WRITE_VERBS)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


class KubeClient:
    """get / list / watch / create / replace / patch / delete / update_status for any resource."""

    def __init__(self, transport: Transport, *, retry: RetryPolicy | None = None,
                 counter: RequestCounter | None = None, timeout: Timeout = (10.0, 60.0)) -> None:
        self._transport = transport
        self._retry = retry or RetryPolicy()
        self.counter = counter  # None: nothing counts calls (the operator itself reads no count)
        self._timeout = timeout
        self._fence: Callable[[], bool] | None = None

    def fence(self, may_write: Callable[[], bool] | None) -> None:
        """From now on a write is sent only while ``may_write()`` says so (else :class:`FencedOff`, nothing
        sent): a replica that lost, or can no longer be sure of, the leader lease writes nothing."""
        self._fence = may_write

    def _check_fence(self, verb: str, resource: Resource) -> None:
        if self._fence is not None and not self._fence():
            raise _fence_refusal(verb, resource)

    def server_version(self) -> dict[str, Any]:
        """The API server's ``/version`` (gitVersion, major, minor, ...)."""
        return self._retry.run(lambda: self._transport.exchange("GET", "/version", timeout=self._timeout),
                               idempotent=True)

    def get(self, resource: Resource, name: str, *, namespace: str | None = None) -> dict[str, Any]:
        path = resource.path(namespace=namespace, name=name)
        return self._call("get", resource, "GET", path, idempotent=True)

    def list(self, resource: Resource, *, namespace: str | None = None, label_selector: str | None = None,
             field_selector: str | None = None, limit: int = 500) -> ListResult:
        """All objects, fetched in pages of ``limit``; the resourceVersion is the last page's."""
        items: list[dict[str, Any]] = []
        page: dict[str, Any] = {}
        for page in self.list_pages(resource, namespace=namespace, label_selector=label_selector,
                                    field_selector=field_selector, limit=limit):
            items.extend(page.get("items") or ())
        return ListResult(items, (page.get("metadata") or {}).get("resourceVersion", ""))

    def list_pages(self, resource: Resource, *, namespace: str | None = None,
                   label_selector: str | None = None, field_selector: str | None = None,
                   limit: int = 500) -> Iterator[dict[str, Any]]:
        """Yield each page (the decoded List object) following ``continue`` tokens."""
        base = _query(labelSelector=label_selector, fieldSelector=field_selector or resource.field_selector,
                      limit=limit)
        token: str | None = None
        while True:
            query = [*base, *_query(**{"continue": token})]
            page = self._call("list", resource, "GET", resource.path(namespace=namespace),
                              query=query, idempotent=True)
            yield page
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return

    def watch(self, resource: Resource, *, namespace: str | None = None, resource_version: str = "",
              timeout_seconds: int = 300, read_timeout: float = 150.0, bookmarks: bool = True,
              label_selector: str | None = None, gather: float = 0.0) -> WatchStream:
        """Open a watch; a stream silent for ``read_timeout`` seconds raises ``TransportError``. ``gather``:
        see :class:`WatchStream`.

        Not retried here: whoever watches owns the reconnect loop (see the informers' reflector).
        """
        query = _query(watch="true", resourceVersion=resource_version or None,
                       allowWatchBookmarks="true" if bookmarks else None,
                       timeoutSeconds=timeout_seconds, labelSelector=label_selector,
                       fieldSelector=resource.field_selector)
        if self.counter is not None:
            self.counter.record("watch", resource)
        connect_timeout = self._timeout[0] if isinstance(self._timeout, tuple) else 10.0
        response = self._transport.send("GET", resource.path(namespace=namespace), query=query,
                                        timeout=(connect_timeout, read_timeout))
        return WatchStream(response, gather=gather)

    def create(self, resource: Resource, body: Mapping[str, Any], *,
               namespace: str | None = None) -> dict[str, Any]:
        path = resource.path(namespace=namespace or _namespace_of(body))
        return self._call("create", resource, "POST", path, body=body, idempotent=False)

    def replace(self, resource: Resource, body: Mapping[str, Any], *,
                namespace: str | None = None) -> dict[str, Any]:
        """PUT the whole object; a stale ``metadata.resourceVersion`` raises Conflict."""
        path = resource.path(namespace=namespace or _namespace_of(body), name=_name_of(body))
        return self._call("update", resource, "PUT", path, body=body, idempotent=True)

    def update_status(self, resource: Resource, body: Mapping[str, Any], *,
                      namespace: str | None = None) -> dict[str, Any]:
        path = resource.path(namespace=namespace or _namespace_of(body), name=_name_of(body),
                             subresource="status")
        return self._call("update", resource, "PUT", path, body=body, idempotent=True,
                          subresource="status")

    def patch(self, resource: Resource, name: str, patch: Any, *, namespace: str | None = None,
              patch_type: PatchType = "merge", subresource: str | None = None) -> dict[str, Any]:
        """Merge patch (idempotent, retried) or JSON patch (a list of operations, not retried)."""
        path = resource.path(namespace=namespace, name=name, subresource=subresource)
        return self._call("patch", resource, "PATCH", path, body=patch, subresource=subresource,
                          content_type=_PATCH_CONTENT_TYPES[patch_type], idempotent=patch_type != "json")

    def delete(self, resource: Resource, name: str, *, namespace: str | None = None,
               propagation_policy: str | None = None, uid: str | None = None,
               resource_version: str | None = None) -> dict[str, Any]:
        """Delete; ``uid`` / ``resource_version`` become preconditions (a mismatch raises Conflict)."""
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if propagation_policy:
            body["propagationPolicy"] = propagation_policy
        preconditions = {k: v for k, v in (("uid", uid), ("resourceVersion", resource_version)) if v}
        if preconditions:
            body["preconditions"] = preconditions
        path = resource.path(namespace=namespace, name=name)
        return self._call("delete", resource, "DELETE", path, body=body, idempotent=True)

    def _call(self, verb: str, resource: Resource, method: str, path: str, *, idempotent: bool,
              query: Query = (), body: Any = None, content_type: str | None = None,
              subresource: str | None = None) -> Any:
        fenced = self._fence is not None and verb in WRITE_VERBS
        if fenced:
            self._check_fence(verb, resource)
        if self.counter is not None:
            self.counter.record(verb, resource, subresource)
        if body is not None and content_type is None:
            content_type = "application/json"

        def attempt() -> Any:
            if fenced:  # a retry too: the lease may have run out while this call waited
                self._check_fence(verb, resource)
            return self._transport.exchange(method, path, query=query, body=body, content_type=content_type,
                                            timeout=self._timeout)

        try:
            return self._retry.run(attempt, idempotent=idempotent)
        except Forbidden as e:
            if self.counter is not None:
                self.counter.record_forbidden(verb, resource, e.message)
            raise


def _fence_refusal(verb: str, resource: Resource) -> FencedOff:
    return FencedOff(f"{verb} {resource} not sent: this replica does not hold the leader lease")


def _query(**params: Any) -> list[tuple[str, str]]:
    return [(key, str(value)) for key, value in params.items() if value is not None and value != ""]


def _namespace_of(body: Mapping[str, Any]) -> str | None:
    return (body.get("metadata") or {}).get("namespace")


def _name_of(body: Mapping[str, Any]) -> str:
    return body["metadata"]["name"]
