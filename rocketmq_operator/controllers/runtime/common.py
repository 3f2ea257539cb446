"""Small facts every controller shares: the pause annotation, the recheck delay, the cluster index.

They live apart from any one controller so that no controller imports another.
"""

from __future__ import annotations

from typing import Any

from rocketmq_operator.controllers.runtime.conditions import Recorder, get_condition, warn_when_new
from rocketmq_operator.resources import meta

PAUSE_ANNOTATION = "rocketmq.apache.org/pause-reconcile"
OVERRIDDEN = "Overridden"  # condition: what the operator applied differently from what the user wrote
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


INVOLVED_UID_INDEX = "involved-object-uid"


def involved_uid_index(event: dict[str, Any]) -> list[str]:
    """Index of events by the uid of the object they are about."""
    uid = (event.get("involvedObject") or {}).get("uid")
    return [uid] if uid else []


def pods_not_created(sts: dict[str, Any] | None, failed_creates: Any) -> str | None:
    """Why the StatefulSet controller cannot create ``sts``'s pods, from its latest FailedCreate event —
    only while pods are missing (an old event after the pods came is history, not news)."""
    if not sts:
        return None
    if int((sts.get("status") or {}).get("replicas") or 0) >= int(sts["spec"].get("replicas") or 0):
        return None
    events = failed_creates.by_index(INVOLVED_UID_INDEX, sts["metadata"].get("uid", ""))
    if not events:
        return None
    latest = max(events, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
    return f"StatefulSet {sts['metadata']['name']} cannot create pods: {latest.get('message', '')}"


def note_overrides(recorder: Recorder, obj: dict[str, Any], notes: Any) -> str | None:
    """The message of the Overridden condition for a model's ``notes`` (None without any), with a Warning
    event when it is news (the condition does not already say it)."""
    message = "; ".join(str(note) for note in notes) or None
    if message:
        warn_when_new(recorder, obj, get_condition(obj, OVERRIDDEN), reason=OVERRIDDEN, message=message)
    return message


def pod_ready(pod: dict[str, Any]) -> bool:
    """Ready and not being deleted."""
    if pod.get("metadata", {}).get("deletionTimestamp"):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or ())
