"""The reflector: keeps a sink in step with the API server by list, then watch.

Cycle: a paginated list replaces the sink's view (of one namespace, or of everything), then a watch
runs from the list's resourceVersion with bookmarks. When a watch ends normally (the server's
``timeoutSeconds``, randomised to 5–10 minutes so watches do not all reconnect together) or goes silent
for longer than ``idle_timeout`` (a socket read timeout; bookmarks count as traffic), it is reopened from
the last resourceVersion seen. When the server says that resourceVersion is too old (HTTP 410, or an
ERROR event with code 410 in the stream) the reflector relists (after a backoff if nothing arrived
since the last list, so a server that keeps answering 410 is not hammered). Any other failure backs off: 0.8 s
doubling to 30 s with jitter, reset after two minutes without failure; a 429's Retry-After is a floor. A
failure that is not an API error (a malformed event, a body that is not JSON, a transform that raised) may
have cost events, so the reflector relists after the backoff; it never stops on an error.

``failing_since`` says since when (the reflector's clock) nothing has succeeded: it is set by the first
failure and cleared by a list, an opened watch or an event; :meth:`Reflector.healthy` turns false once it is
older than a bound, and the process reports that (``/healthz``, a metric).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from ..clock import REAL_CLOCK, Clock
from ..kube.errors import ApiError, Gone, TooManyRequests, TransportError
from ..kube.resources import Resource
from .store import Obj

log = logging.getLogger(__name__)


class WatchEvents(Protocol):
    def __iter__(self) -> Iterator[dict[str, Any]]: ...

    def close(self) -> None: ...


class ListWatchSource(Protocol):
    """What a reflector needs from the client (``KubeClient`` is one)."""

    def list_pages(self, resource: Resource, *, namespace: str | None = None,
                   limit: int = 500) -> Iterator[dict[str, Any]]: ...

    def watch(self, resource: Resource, *, namespace: str | None = None, resource_version: str = "",
              timeout_seconds: int = 300, read_timeout: float = 150.0,
              bookmarks: bool = True, gather: float = 0.0) -> WatchEvents: ...


class ReflectorSink(Protocol):
    """Receives the reflector's view: whole lists (per namespace scope) and single watch events, both
    already passed through the reflector's ``transform``."""

    def replace(self, objects: list[Obj], *, namespace: str | None, initial: bool) -> None: ...

    def apply(self, event_type: str, obj: Obj) -> None: ...


class Backoff:
    """``initial * factor**n`` capped at ``cap``, minus up to ``jitter`` of it; resets after quiet time.

    The jitter is taken off (never added) so the cap is a true upper bound. ``rand`` returns [0, 1).
    """

    def __init__(self, *, clock: Clock = REAL_CLOCK, initial: float = 0.8, cap: float = 30.0,
                 factor: float = 2.0, jitter: float = 0.2, reset_after: float = 120.0,
                 rand: Callable[[], float] = random.random) -> None:
        self._clock, self._rand = clock, rand
        self._initial, self._cap, self._factor = initial, cap, factor
        self._jitter, self._reset_after = jitter, reset_after
        self._step = 0
        self._last: float | None = None

    def next_delay(self) -> float:
        now = self._clock.now()
        if self._last is not None and now - self._last >= self._reset_after:
            self._step = 0
        self._last = now
        base = min(self._cap, self._initial * self._factor ** self._step)
        if base < self._cap:
            self._step += 1
        return base * (1.0 - self._jitter * self._rand())


class Reflector:
    """Mirrors one resource (in one namespace, or all) into a sink until stopped. Not restartable."""

    def __init__(self, source: ListWatchSource, resource: Resource, sink: ReflectorSink, *,
                 namespace: str | None = None, clock: Clock = REAL_CLOCK, backoff: Backoff | None = None,
                 idle_timeout: float = 150.0, page_size: int = 500,
                 transform: Callable[[Obj], Obj] | None = None,
                 rand: Callable[[], float] = random.random, gather: float = 0.0) -> None:
        self._source, self._resource, self._sink = source, resource, sink
        self._transform = transform or (lambda obj: obj)
        self._namespace = namespace
        self._clock = clock
        self._backoff = backoff or Backoff(clock=clock, rand=rand)
        self._idle_timeout, self._page_size, self._rand = idle_timeout, page_size, rand
        self._gather = gather
        self._stop = threading.Event()
        self._stream: WatchEvents | None = None
        self.resource_version: str | None = None
        self.has_synced = False
        self._fresh_list = False
        # Plain counters, read at scrape time (see ``stats``): written by this reflector's thread only.
        self.lists = 0
        self.watches = 0
        self.events = 0
        self.failures = 0
        self.failing_since: float | None = None

    @property
    def namespace(self) -> str | None:
        return self._namespace

    def healthy(self, unhealthy_after: float) -> bool:
        """False once nothing has succeeded (list, watch opened, event) for ``unhealthy_after`` seconds."""
        since = self.failing_since
        return since is None or self._clock.now() - since < unhealthy_after

    def _failed(self) -> None:
        self.failures += 1
        if self.failing_since is None:
            self.failing_since = self._clock.now()

    def _succeeded(self) -> None:
        if self.failing_since is not None:
            self.failing_since = None

    def run(self) -> None:
        """List and watch until :meth:`stop`, backing off between failures."""
        while not self._stop.is_set():
            try:
                self.list_and_watch()
            except ApiError as err:
                if self._stop.is_set():
                    return
                self._failed()
                delay = self._delay_after(err)
                log.warning("reflector %s: %s; retrying in %.1fs", self._name(), err, delay)
                if self._clock.wait(self._stop, delay):
                    return
            except Exception:
                if self._stop.is_set():
                    return
                self._failed()
                self.resource_version = None  # events may have been lost: list again
                delay = self._backoff.next_delay()
                log.exception("reflector %s failed; relisting in %.1fs", self._name(), delay)
                if self._clock.wait(self._stop, delay):
                    return

    def stop(self) -> None:
        self._stop.set()
        stream = self._stream
        if stream is not None:
            stream.close()

    def list_and_watch(self) -> None:
        """One cycle: list when needed, then watch until the stream ends, expires (relist) or fails."""
        if self.resource_version is None:
            self._list()
        while not self._stop.is_set():
            try:
                self._watch()
            except Gone:
                log.info("reflector %s: resourceVersion %s expired; relisting", self._name(),
                         self.resource_version)
                self.resource_version = None
                if self._fresh_list:
                    raise  # expired straight after a list: back off rather than relist in a loop
                return
            except TransportError as err:
                self._failed()  # cleared again once the next watch opens
                log.info("reflector %s: watch stream dropped (%s); rewatching", self._name(), err)

    def _list(self) -> None:
        """List page by page, transforming each page as it arrives so only one raw page is in memory."""
        objects: list[Obj] = []
        page: dict[str, Any] = {}
        for page in self._source.list_pages(self._resource, namespace=self._namespace,
                                            limit=self._page_size):
            objects.extend(self._transform_item(item) for item in page.get("items") or ())
        self._sink.replace(objects, namespace=self._namespace, initial=self.lists == 0)
        self.lists += 1
        self.resource_version = (page.get("metadata") or {}).get("resourceVersion", "")
        self.has_synced = True
        self._fresh_list = True
        self._succeeded()

    def _watch(self) -> None:
        """Open a watch (errors opening it propagate) and apply events until it ends."""
        try:
            stream = self._open_watch()
        except TransportError as err:
            raise _OpenFailed(str(err), not_sent=err.not_sent) from err
        self._stream = stream
        self.watches += 1
        self._succeeded()
        try:
            self._consume(stream)
        finally:
            self._stream = None
            stream.close()

    def _open_watch(self) -> WatchEvents:
        return self._source.watch(
            self._resource, namespace=self._namespace, resource_version=self.resource_version or "",
            timeout_seconds=int(300 + 300 * self._rand()), read_timeout=self._idle_timeout,
            bookmarks=True, gather=self._gather)

    def _consume(self, events: Iterable[dict[str, Any]]) -> None:
        for event in events:
            if self._stop.is_set():
                return
            self._fresh_list = False
            obj = event.get("object") or {}
            rv = (obj.get("metadata") or {}).get("resourceVersion")
            if event["type"] != "BOOKMARK":
                self.events += 1
                self._sink.apply(event["type"], self._transform(obj))
            if rv:
                self.resource_version = rv
            if self.failing_since is not None:
                self._succeeded()

    def _transform_item(self, item: Obj) -> Obj:
        """List items come without apiVersion/kind; give them the ones watch events carry."""
        item.setdefault("apiVersion", self._resource.api_version)
        item.setdefault("kind", self._resource.kind)
        return self._transform(item)

    def _delay_after(self, err: ApiError) -> float:
        delay = self._backoff.next_delay()
        if isinstance(err, TooManyRequests) and err.retry_after is not None:
            delay = max(delay, err.retry_after)
        return delay

    def _name(self) -> str:
        return f"{self._resource}@{self._namespace or '*'}"


class _OpenFailed(ApiError):
    """Opening the watch failed at the transport level: back off rather than rewatch at once."""

    def __init__(self, message: str, *, not_sent: bool) -> None:
        super().__init__(message, status=0)
        self.not_sent = not_sent
