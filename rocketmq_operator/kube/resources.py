"""Which API resources the operator touches, described as plain values.

A :class:`Resource` is all the generic client needs to build a URL, and it is hashable so informers
and listers can be keyed by it. The constants below are the complete list the operator uses.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    field_selector: str | None = None  # a filtered view: list and watch only the objects it selects

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, *, namespace: str | None = None, name: str | None = None,
             subresource: str | None = None) -> str:
        """The URL path of the collection, or of one object (and its subresource) when ``name`` is given."""
        parts = ["/api/" + self.version if not self.group else f"/apis/{self.group}/{self.version}"]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{namespace}")
        parts.append(self.plural)
        if name is not None:
            parts.append(name)
            if subresource:
                parts.append(subresource)
        return "/".join(parts)

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


PODS = Resource("", "v1", "pods", "Pod")
CONFIG_MAPS = Resource("", "v1", "configmaps", "ConfigMap")
SERVICES = Resource("", "v1", "services", "Service")
EVENTS = Resource("", "v1", "events", "Event")
PVCS = Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim")
NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
NODES = Resource("", "v1", "nodes", "Node", namespaced=False)
STATEFUL_SETS = Resource("apps", "v1", "statefulsets", "StatefulSet")
DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
POD_DISRUPTION_BUDGETS = Resource("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget")
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease")

BROKER_CLUSTERS = Resource("rocketmq.huanwei.io", "v1alpha1", "brokerclusters", "BrokerCluster")
NAME_SERVICES = Resource("rocketmq.apache.org", "v1alpha1", "nameservices", "NameService")
BROKERS = Resource("rocketmq.apache.org", "v1alpha1", "brokers", "Broker")
CONSOLES = Resource("rocketmq.apache.org", "v1alpha1", "consoles", "Console")
TOPIC_TRANSFERS = Resource("rocketmq.apache.org", "v1alpha1", "topictransfers", "TopicTransfer")
CONTROLLERS = Resource("rocketmq.apache.org", "v1alpha1", "controllers", "Controller")
PROXIES = Resource("rocketmq.apache.org", "v1alpha1", "proxies", "Proxy")
# Events of the StatefulSet controller failing to create a pod (an invalid pod spec, a quota, ...).
FAILED_CREATE_EVENTS = Resource("", "v1", "events", "Event", field_selector="reason=FailedCreate")
