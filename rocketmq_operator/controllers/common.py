"""Small facts every controller shares: the pause annotation, the recheck delay, the cluster index.

They live apart from any one controller so that no controller imports another.
"""

from __future__ import annotations

from typing import Any

from rocketmq_operator.resources import meta

PAUSE_ANNOTATION = "rocketmq.apache.org/pause-reconcile"
CONFLICT_RECHECK = 10.0  # seconds between looks at a name taken by an object the operator does not own
STALE_CACHE_RECHECK = 1.0  # seconds before a sync that found its cache behind the server runs again
CLUSTER_INDEX = "rocketmq-cluster"


def is_paused(obj: dict[str, Any]) -> bool:
    return (obj.get("metadata", {}).get("annotations") or {}).get(PAUSE_ANNOTATION, "").lower() == "true"


def cluster_index(obj: dict[str, Any]) -> list[str]:
    """Index of pods and StatefulSets by ``<namespace>/<cluster label>``: a sync reads its cluster's objects
    without scanning the namespace."""
    metadata = obj.get("metadata") or {}
    cluster = (metadata.get("labels") or {}).get(meta.LABEL_CLUSTER)
    return [f"{metadata.get('namespace', '')}/{cluster}"] if cluster else []
