"""The comparison operator for ``bench_vs_kopf.py``: a plain kopf operator for BrokerCluster.

It does what a first kopf operator for this resource would do, and no more: on creation of a
``rocketmq.huanwei.io/v1alpha1`` BrokerCluster it creates exactly the objects rocketmq-operator creates
for it (built by the project's own builders, so the bytes are the same: per broker group a ConfigMap, a
headless Service, a StatefulSet and a PodDisruptionBudget, owned by the CR), with the kubernetes client in
kopf's handler threads. kopf keeps its defaults: its progress and last-handled annotations, the handler
result in status, and its events. It writes no Ready condition, watches no children and reverts no drift.

Run: ``kopf run --standalone --all-namespaces bench/kopf_baseline.py`` with ``KUBECONFIG`` set.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

import kopf
import kubernetes

from rocketmq_operator.resources.brokers import broker_cluster_objects
from rocketmq_operator.resources.model import from_broker_cluster

USER_AGENT = "kopf-baseline/handlers"
_local = threading.local()


def _api() -> kubernetes.client.ApiClient:
    """One API client per handler thread (kubernetes' client is not meant to be shared across threads)."""
    api = getattr(_local, "api", None)
    if api is None:
        configuration = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config(config_file=os.environ["KUBECONFIG"],
                                           client_configuration=configuration)
        api = kubernetes.client.ApiClient(configuration)
        api.user_agent = USER_AGENT
        _local.api = api
    return api


def _create(obj: dict[str, Any], namespace: str) -> None:
    api = _api()
    kind = obj["kind"]
    if kind == "ConfigMap":
        kubernetes.client.CoreV1Api(api).create_namespaced_config_map(namespace, obj)
    elif kind == "Service":
        kubernetes.client.CoreV1Api(api).create_namespaced_service(namespace, obj)
    elif kind == "StatefulSet":
        kubernetes.client.AppsV1Api(api).create_namespaced_stateful_set(namespace, obj)
    elif kind == "PodDisruptionBudget":
        kubernetes.client.PolicyV1Api(api).create_namespaced_pod_disruption_budget(namespace, obj)
    else:
        raise kopf.PermanentError(f"unexpected kind {kind}")


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.posting.level = 20  # logging.INFO, kopf's default: handler outcomes become events
    settings.watching.server_timeout = 300


@kopf.on.create("rocketmq.huanwei.io", "v1alpha1", "brokerclusters")
def create_broker_cluster(body: kopf.Body, namespace: str, **_: Any) -> dict[str, Any]:
    cr = json.loads(json.dumps(dict(body), default=dict))  # kopf's read-only views as plain dicts
    objects = broker_cluster_objects(from_broker_cluster(cr))
    for obj in objects:
        try:
            _create(obj, namespace)
        except kubernetes.client.ApiException as e:
            if e.status != 409:  # AlreadyExists after a retry: the object is there
                raise
    return {"created": len(objects)}
