"""Informers against a real API server: convergence under churn, and relisting after 410 Gone."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from rocketmq_operator.informers import DeletedFinalStateUnknown, SharedInformer, SharedInformerFactory
from rocketmq_operator.kube import CONFIG_MAPS, NAMESPACES, KubeClient, NotFound, connect

from .waiting import eventually

CHURN_OPS = 2000
CHURN_THREADS = 4


@pytest.fixture(scope="module")
def kube(kubeconfig: str) -> KubeClient:
    return connect(kubeconfig)


@pytest.fixture
def ns(kube: KubeClient) -> Iterator[str]:
    name = f"informer-{uuid.uuid4().hex[:8]}"
    kube.create(NAMESPACES, {"metadata": {"name": name, "labels": {"e2e": "true"}}})
    yield name
    kube.delete(NAMESPACES, name, propagation_policy="Background")


class Mirror:
    """Rebuilds the cache from notifications alone, so the test checks what handlers were told."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.objects: dict[str, str] = {}
        self.tombstones: list[str] = []
        self.adds: list[str] = []

    def on_add(self, obj: dict, *, is_initial_list: bool) -> None:
        with self.lock:
            self.objects[obj["metadata"]["name"]] = obj["metadata"]["resourceVersion"]
            self.adds.append(obj["metadata"]["name"])

    def on_update(self, old: dict, new: dict) -> None:
        with self.lock:
            self.objects[new["metadata"]["name"]] = new["metadata"]["resourceVersion"]

    def on_delete(self, obj: Any) -> None:
        with self.lock:
            if isinstance(obj, DeletedFinalStateUnknown):
                self.tombstones.append(obj.obj["metadata"]["name"])
                obj = obj.obj
            self.objects.pop(obj["metadata"]["name"], None)

    def snapshot(self) -> dict[str, str]:
        with self.lock:
            return dict(self.objects)


def server_view(kube: KubeClient, ns: str) -> dict[str, str]:
    return {o["metadata"]["name"]: o["metadata"]["resourceVersion"]
            for o in kube.list(CONFIG_MAPS, namespace=ns, limit=250).items}


def cache_view(informer: SharedInformer, ns: str) -> dict[str, str]:
    return {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in informer.lister().list(ns)}


def configmap(ns: str, name: str, value: str = "0") -> dict:
    return {"metadata": {"name": name, "namespace": ns, "labels": {"churn": "true"}}, "data": {"v": value}}


def churn(kube: KubeClient, ns: str, worker: int, ops: int) -> None:
    """Creates, updates and deletes ConfigMaps of this worker's own names, at random."""
    rng = random.Random(worker)
    live: list[str] = []
    for op in range(ops):
        action = "create" if len(live) < 5 else rng.choice(["create", "create", "update", "update", "delete"])
        if action == "create":
            name = f"w{worker}-{op}"
            kube.create(CONFIG_MAPS, configmap(ns, name))
            live.append(name)
        elif action == "update":
            kube.patch(CONFIG_MAPS, rng.choice(live), {"data": {"v": str(op)}}, namespace=ns)
        else:
            kube.delete(CONFIG_MAPS, live.pop(rng.randrange(len(live))), namespace=ns)


def test_the_cache_equals_a_fresh_list_after_heavy_churn(kube: KubeClient, ns: str) -> None:
    factory = SharedInformerFactory(kube, namespaces=[ns])
    informer = factory.informer(CONFIG_MAPS)
    mirror = Mirror()
    informer.add_handler(mirror)
    factory.start()
    try:
        assert factory.wait_for_cache_sync(30)
        with ThreadPoolExecutor(CHURN_THREADS) as pool:
            for result in [pool.submit(churn, kube, ns, w, CHURN_OPS // CHURN_THREADS)
                           for w in range(CHURN_THREADS)]:
                result.result()
        expected = server_view(kube, ns)
        assert len(expected) > 200
        eventually(lambda: cache_view(informer, ns) == expected, timeout=60, what="cache == fresh list")
        eventually(lambda: mirror.snapshot() == expected, timeout=30, what="handlers' view == fresh list")
    finally:
        factory.stop()


class GatedSource:
    """Wraps the client so the test can hold the reflector's next watch and make it start from a
    resourceVersion the server no longer keeps."""

    def __init__(self, kube: KubeClient) -> None:
        self._kube = kube
        self.open = threading.Event()
        self.open.set()
        self.stale_version: str | None = None
        self.watch_versions: list[str] = []
        self.lists = 0
        self._stream: Any = None

    def list_pages(self, resource: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        self.lists += 1
        return self._kube.list_pages(resource, **kwargs)

    def watch(self, resource: Any, **kwargs: Any) -> Any:
        self.open.wait(60)
        if self.stale_version is not None:
            kwargs["resource_version"], self.stale_version = self.stale_version, None
        self._stream = self._kube.watch(resource, **kwargs)
        self.watch_versions.append(kwargs["resource_version"])
        return self._stream

    def hold(self) -> None:
        """Close the current watch and keep the next one from opening until ``release``."""
        self.open.clear()
        self._stream.close()

    def release(self, *, from_version: str) -> None:
        self.stale_version = from_version
        self.open.set()


def test_a_410_makes_the_informer_relist_with_no_lost_and_no_phantom_objects(
        kube: KubeClient, ns: str) -> None:
    for i in range(30):
        kube.create(CONFIG_MAPS, configmap(ns, f"cm-{i}"))
    source = GatedSource(kube)
    informer = SharedInformer(source, CONFIG_MAPS, namespaces=[ns])
    mirror = Mirror()
    informer.add_handler(mirror)
    informer.start()
    try:
        assert informer.wait_for_sync(30)
        eventually(lambda: source.watch_versions, timeout=10, what="the first watch")
        source.hold()
        deleted = [f"cm-{i}" for i in range(10)]
        for name in deleted:
            kube.delete(CONFIG_MAPS, name, namespace=ns)
        created = [f"new-{i}" for i in range(10)]
        for name in created:
            kube.create(CONFIG_MAPS, configmap(ns, name))
        for i in range(10, 15):
            kube.patch(CONFIG_MAPS, f"cm-{i}", {"data": {"v": "changed"}}, namespace=ns)
        source.release(from_version="1")
        eventually(lambda: source.lists >= 2, timeout=30, what="a relist after 410 Gone")
        expected = server_view(kube, ns)
        eventually(lambda: cache_view(informer, ns) == expected, timeout=30, what="cache == fresh list")
        eventually(lambda: mirror.snapshot() == expected, timeout=30, what="handlers' view == fresh list")
        assert sorted(mirror.tombstones) == sorted(deleted)
        assert set(created) <= set(mirror.adds)
        assert source.watch_versions[1] == "1"
        with pytest.raises(NotFound):
            informer.lister().get(ns, "cm-0")
    finally:
        informer.stop()


class GarblingSource:
    """Wraps the client; the first watch stream delivers one malformed event (no ``type``) after
    ``garble_after`` real ones, as a broken proxy or server might."""

    def __init__(self, kube: KubeClient, garble_after: int = 0) -> None:
        self._kube = kube
        self._left = garble_after
        self.garbled = threading.Event()
        self.lists = 0

    def list_pages(self, resource: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        self.lists += 1
        return self._kube.list_pages(resource, **kwargs)

    def watch(self, resource: Any, **kwargs: Any) -> Any:
        stream = self._kube.watch(resource, **kwargs)
        return stream if self.garbled.is_set() else _Garbled(stream, self)


class _Garbled:
    def __init__(self, stream: Any, source: GarblingSource) -> None:
        self._stream, self._source = stream, source

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for event in self._stream:
            yield event
            if self._source._left <= 0 and not self._source.garbled.is_set():
                self._source.garbled.set()
                yield {"object": {"metadata": {"name": "garbage"}}}  # no type: the reflector cannot apply it
            self._source._left -= 1

    def close(self) -> None:
        self._stream.close()


def test_a_malformed_watch_event_makes_the_informer_relist_and_catch_up(kube: KubeClient, ns: str) -> None:
    source = GarblingSource(kube)
    informer = SharedInformer(source, CONFIG_MAPS, namespaces=[ns])
    informer.start()
    try:
        assert informer.wait_for_sync(30)
        kube.create(CONFIG_MAPS, configmap(ns, "first"))  # delivered, then the malformed event
        assert source.garbled.wait(30)
        kube.create(CONFIG_MAPS, configmap(ns, "second"))  # may fall in the gap: only a relist brings it
        kube.patch(CONFIG_MAPS, "first", {"data": {"v": "1"}}, namespace=ns)
        eventually(lambda: cache_view(informer, ns) == server_view(kube, ns), timeout=30,
                   what="the cache to catch up after the malformed event")
        assert source.lists >= 2, "the reflector relisted"
        assert informer.unhealthy(60.0) == [] and informer.stats()["failures"] == 1
    finally:
        informer.stop()
