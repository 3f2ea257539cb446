"""Helpers for e2e tests of the RocketMQ resources: read them, wait for them, record pod restarts."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes import client, watch

from tests.e2e.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "manifests" / "samples"
KINDS = {
    "BrokerCluster": ("rocketmq.huanwei.io", "v1alpha1", "brokerclusters"),
    "Broker": ("rocketmq.apache.org", "v1alpha1", "brokers"),
    "NameService": ("rocketmq.apache.org", "v1alpha1", "nameservices"),
    "Console": ("rocketmq.apache.org", "v1alpha1", "consoles"),
    "Controller": ("rocketmq.apache.org", "v1alpha1", "controllers"),
    "TopicTransfer": ("rocketmq.apache.org", "v1alpha1", "topictransfers"),
    "Proxy": ("rocketmq.apache.org", "v1alpha1", "proxies"),
}


def get_cr(api_client, kind: str, namespace: str, name: str) -> dict:
    group, version, plural = KINDS[kind]
    return client.CustomObjectsApi(api_client).get_namespaced_custom_object(
        group, version, namespace, plural, name)


def patch_cr(api_client, kind: str, namespace: str, name: str, body: dict) -> dict:
    group, version, plural = KINDS[kind]
    return client.CustomObjectsApi(api_client).patch_namespaced_custom_object(
        group, version, namespace, plural, name, body)


def create_cr(api_client, kind: str, namespace: str, body: dict) -> dict:
    group, version, plural = KINDS[kind]
    return client.CustomObjectsApi(api_client).create_namespaced_custom_object(
        group, version, namespace, plural, body)


def condition(obj: dict, type_: str) -> dict:
    for c in (obj.get("status") or {}).get("conditions") or ():
        if c["type"] == type_:
            return c
    return {}


def wait_ready(api_client, kind: str, namespace: str, name: str, *, timeout: float = 120) -> dict:
    def ready():
        obj = get_cr(api_client, kind, namespace, name)
        gen = obj["metadata"]["generation"]
        c = condition(obj, "Ready")
        return obj if c.get("status") == "True" and obj["status"].get("observedGeneration") == gen else None

    return eventually(ready, timeout=timeout, what=f"{kind} {namespace}/{name} Ready")


def wait_condition(api_client, kind: str, namespace: str, name: str, type_: str, status: str, *,
                   reason: str | None = None, timeout: float = 60) -> dict:
    def found():
        c = condition(get_cr(api_client, kind, namespace, name), type_)
        return c if c.get("status") == status and (reason is None or c.get("reason") == reason) else None

    return eventually(found, timeout=timeout, what=f"{kind} {name} condition {type_}={status} {reason or ''}")


def events_for(api_client, namespace: str, name: str) -> list:
    items = client.CoreV1Api(api_client).list_namespaced_event(namespace).items
    return [e for e in items if e.involved_object.name == name]


def wait_event(api_client, namespace: str, name: str, *, reason: str, type_: str = "Normal",
               contains: str = "", timeout: float = 30):
    def found():
        return [e for e in events_for(api_client, namespace, name)
                if e.reason == reason and e.type == type_ and contains in (e.message or "")]

    return eventually(found, timeout=timeout, what=f"event {reason} on {name}")


@dataclass
class RestartRecorder:
    """Watches the pods of a namespace and records when each is deleted and when a pod becomes Ready."""

    api_client: object
    namespace: str
    deleted: list[tuple[float, str]] = field(default_factory=list)
    became_ready: list[tuple[float, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._seen_deleting: set[str] = set()
        self._ready: dict[str, bool] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = threading.Event()
        self._thread.start()
        self._started.wait(10)

    def _run(self) -> None:
        core = client.CoreV1Api(self.api_client)
        rv = core.list_namespaced_pod(self.namespace).metadata.resource_version
        for pod in core.list_namespaced_pod(self.namespace).items:
            self._ready[pod.metadata.uid] = _is_ready(pod)
        self._started.set()
        w = watch.Watch()
        while not self._stop.is_set():
            for ev in w.stream(core.list_namespaced_pod, self.namespace, resource_version=rv,
                               timeout_seconds=5):
                pod = ev["object"]
                rv = pod.metadata.resource_version
                self._observe(ev["type"], pod)
                if self._stop.is_set():
                    break

    def _observe(self, kind: str, pod) -> None:
        now = time.monotonic()
        name, uid = pod.metadata.name, pod.metadata.uid
        if (pod.metadata.deletion_timestamp or kind == "DELETED") and uid not in self._seen_deleting:
            self._seen_deleting.add(uid)
            self.deleted.append((now, name))
            return
        ready = _is_ready(pod)
        if ready and not self._ready.get(uid):
            self.became_ready.append((now, name))
        self._ready[uid] = ready

    def stop(self) -> None:
        self._stop.set()

    def order(self) -> list[str]:
        return [name for _, name in self.deleted]


def _is_ready(pod) -> bool:
    if pod.metadata.deletion_timestamp:
        return False
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


# A BrokerCluster's brokers on claims (the local cluster's default StorageClass): the rolls of an emptyDir
# cluster restart only slaves, so tests that roll masters keep the stores on claims.
CLAIMS = {"storageMode": "StorageClass", "volumeClaimTemplate": {
    "metadata": {"name": "broker-storage"},
    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}}
