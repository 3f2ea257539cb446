"""The broker-name prefixes this process has given new clusters, from the moment it decides until the cluster
is gone (see resources.identity).

A new cluster's prefix is decided against the other clusters on the same name servers, as the listers show
them. A cache lags the API server: two clusters created together can each be synced before the other's
StatefulSets and status reach the cache, and both would take ``broker-<g>`` — one name server, two clusters,
the same broker names, neither Ready. The decisions of both broker controllers (BrokerCluster and Broker,
every worker) therefore go through one ``NameClaims``: :meth:`deciding` holds its lock while a sync reads the
peers, picks a prefix and records it, and a later decision sees what earlier ones recorded whatever its cache
shows. It is built once per operator process and handed to both reconcilers; after a restart the prefixes come
from where they are kept — each group's StatefulSet annotation and ``status.brokerNamePrefix``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any


class NameClaims:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._prefixes: dict[tuple[str, str, str], tuple[str, str]] = {}  # (kind, ns, name) → (uid, prefix)

    @contextmanager
    def deciding(self) -> Iterator[NameClaims]:
        """Held while one cluster's prefix is read or decided: no other decision runs meanwhile."""
        with self._lock:
            yield self

    def prefix(self, kind: str, obj: Mapping[str, Any]) -> str | None:
        """The prefix recorded for this object (its uid: a cluster deleted and made again decides anew)."""
        meta = obj["metadata"]
        with self._lock:
            found = self._prefixes.get((kind, meta.get("namespace", ""), meta["name"]))
        return found[1] if found and found[0] == meta.get("uid") else None

    def claim(self, kind: str, obj: Mapping[str, Any], prefix: str) -> None:
        meta = obj["metadata"]
        with self._lock:
            self._prefixes[(kind, meta.get("namespace", ""), meta["name"])] = (str(meta.get("uid")), prefix)

    def forget(self, kind: str, namespace: str, name: str) -> None:
        with self._lock:
            self._prefixes.pop((kind, namespace, name), None)
