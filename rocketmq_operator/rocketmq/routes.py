"""Topic routes as producers and consumers use them: cached, refreshed on a schedule and after failures.

A route (GET_ROUTEINFO_BY_TOPIC) names the broker groups that serve a topic, their queue counts and
permissions, and each group's members by broker id. ``RouteCache`` keeps the last route of each topic
and asks the name servers again when it is older than ``ttl`` or when a caller marked it stale
(a broker refused or vanished) — but never more often than every ``min_interval``, so a dead broker
costs one name-server read per interval, not one per message. A failed refresh keeps the route it
had: a producer goes on with what it knew while the name servers are away.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from rocketmq_operator.clock import REAL_CLOCK, Clock

from .errors import RemotingError
from .types import MASTER_ID, PERM_READ, BrokerData, MessageQueue, TopicRoute

__all__ = ["RouteCache", "broker_addr", "readable_queues", "writable_queues"]


@dataclass
class _Entry:
    route: TopicRoute
    fetched_at: float
    stale: bool = False


class RouteCache:
    """Routes by topic; ``fetch(topic)`` asks the name servers. Thread-safe."""

    def __init__(
        self,
        fetch: Callable[[str], TopicRoute],
        *,
        ttl: float = 30.0,
        min_interval: float = 1.0,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._min_interval = min_interval
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def get(self, topic: str) -> TopicRoute:
        """The topic's route, refreshed when due; raises the fetch's error only when none is known."""
        with self._lock:
            entry = self._entries.get(topic)
        now = self._clock.now()
        if entry is not None and not self._due(entry, now):
            return entry.route
        try:
            route = self._fetch(topic)
        except RemotingError:
            if entry is None:
                raise
            with self._lock:
                entry.fetched_at = now  # try again after min_interval, not at once
            return entry.route
        with self._lock:
            self._entries[topic] = _Entry(route, now)
        return route

    def invalidate(self, topic: str) -> None:
        """Refresh at the next ``get`` that is at least ``min_interval`` after the last fetch."""
        with self._lock:
            entry = self._entries.get(topic)
            if entry is not None:
                entry.stale = True

    def _due(self, entry: _Entry, now: float) -> bool:
        age = now - entry.fetched_at
        return age >= self._ttl or (entry.stale and age >= self._min_interval)


def _brokers(route: TopicRoute) -> dict[str, BrokerData]:
    return {broker.name: broker for broker in route.brokers}


def writable_queues(
    route: TopicRoute, *, topic: str | None = None, limit: int | None = None
) -> list[MessageQueue]:
    """Queues a producer may send to: write permission on the name servers and a registered master."""
    brokers = _brokers(route)
    queues = []
    for data in route.queues:
        broker = brokers.get(data.broker_name)
        if not data.writable or broker is None or broker.master_addr is None:
            continue
        count = data.write_queue_nums if limit is None else min(limit, data.write_queue_nums)
        queues += [MessageQueue(topic or route.topic, data.broker_name, q) for q in range(count)]
    return sorted(queues)


def readable_queues(route: TopicRoute) -> list[MessageQueue]:
    """Queues a consumer reads: every read queue of every group that has a member registered."""
    brokers = _brokers(route)
    queues = []
    for data in route.queues:
        broker = brokers.get(data.broker_name)
        if broker is None or not broker.addrs or not data.perm & PERM_READ:
            continue
        queues += [MessageQueue(route.topic, data.broker_name, q) for q in range(data.read_queue_nums)]
    return sorted(queues)


def broker_addr(route: TopicRoute, broker_name: str, *, prefer: int = MASTER_ID) -> tuple[int, str] | None:
    """The member to talk to: ``prefer`` if registered, else the master, else the lowest slave id.

    This is how RocketMQ's client honours a pull response's ``suggestWhichBrokerId``, and how it keeps
    reading from a slave while the master is gone.
    """
    broker = _brokers(route).get(broker_name)
    if broker is None or not broker.addrs:
        return None
    for broker_id in (prefer, MASTER_ID):
        if broker_id in broker.addrs:
            return broker_id, broker.addrs[broker_id]
    broker_id = min(broker.addrs)
    return broker_id, broker.addrs[broker_id]
