"""The broker-cluster reconciler: one sync path behind two front doors, ``BrokerCluster`` and ``Broker``.

``sync(key)`` is a sequence of steps, each reading only from listers:

1. read the custom resource; gone → nothing to do (children are garbage-collected);
2. paused (annotation ``rocketmq.apache.org/pause-reconcile: "true"``) → only a Paused condition;
3. resolve what it refers to (NameService, properties ConfigMap) and build the model; problems the
   schema cannot catch → a condition and a Warning event, no change to any child;
4. per broker group: ConfigMap, Service, StatefulSet, PodDisruptionBudget through the control objects
   (create missing, revert drift, leave foreign objects alone);
5. groups beyond the spec: kept and reported unless ``allowGroupScaleDown`` is set;
6. report rollouts: a changed template (image, resources, the broker.conf hash) is rolled by each
   group's StatefulSet, highest ordinal first (slaves before the master), one Ready pod at a time;
7. write status last, and only when it differs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rocketmq_operator.clock import REAL_CLOCK, Clock
from rocketmq_operator.controllers import status as st
from rocketmq_operator.controllers.conditions import get_condition, rfc3339
from rocketmq_operator.controllers.control import (
    Applied,
    Change,
    ChangeLog,
    ObjectControl,
    controller_uid,
    warn_not_owned,
)
from rocketmq_operator.controllers.runner import Key, Result
from rocketmq_operator.events import WARNING
from rocketmq_operator.informers import Lister
from rocketmq_operator.kube import Conflict, Forbidden, KubeClient, NotFound, Resource
from rocketmq_operator.kube.errors import namespace_terminating
from rocketmq_operator.logs import get_logger
from rocketmq_operator.resources import meta, naming
from rocketmq_operator.resources.brokers import broker_group_objects
from rocketmq_operator.resources.model import BrokerClusterModel

log = get_logger(__name__)
PAUSE_ANNOTATION = "rocketmq.apache.org/pause-reconcile"
CONFLICT_RECHECK = 10.0  # seconds between looks at a name taken by an object the operator does not own


@dataclass(frozen=True)
class FrontDoor:
    """How one custom-resource kind becomes a broker-cluster model."""

    resource: Resource
    build: Callable[..., BrokerClusterModel]  # (obj, name_service=, config_map=) -> model
    name_service: Callable[[dict[str, Any], Lister], tuple[dict | None, str | None]]
    config_map_name: Callable[[dict[str, Any]], str | None]


@dataclass
class Listers:
    parent: Lister
    name_services: Lister
    config_maps: Lister
    stateful_sets: Lister
    pods: Lister


@dataclass
class Controls:
    config_maps: ObjectControl
    services: ObjectControl
    stateful_sets: ObjectControl
    pdbs: ObjectControl


CLUSTER_INDEX = "rocketmq-cluster"


def cluster_index(obj: dict[str, Any]) -> list[str]:
    """Index of pods and StatefulSets by ``<namespace>/<cluster label>``: a sync reads its cluster's objects
    without scanning the namespace."""
    metadata = obj.get("metadata") or {}
    cluster = (metadata.get("labels") or {}).get(meta.LABEL_CLUSTER)
    return [f"{metadata.get('namespace', '')}/{cluster}"] if cluster else []


def is_paused(obj: dict[str, Any]) -> bool:
    return (obj.get("metadata", {}).get("annotations") or {}).get(PAUSE_ANNOTATION, "").lower() == "true"


class BrokerClusterReconciler:
    def __init__(self, door: FrontDoor, *, client: KubeClient, listers: Listers, controls: Controls,
                 recorder: Any, clock: Clock = REAL_CLOCK) -> None:
        self.door = door
        self._client = client
        self._listers = listers
        self._controls = controls
        self._recorder = recorder
        self._clock = clock

    def sync(self, key: Key) -> Result | None:
        try:
            obj = self._listers.parent.get(key.namespace, key.name)
        except NotFound:
            return None
        report = st.Report(obj, now=rfc3339(self._clock.wall()))
        if is_paused(obj):
            report.paused()
            return self._finish(obj, report, None, [])
        model = self._model(obj, report)
        if model is None:
            return self._finish(obj, report, None, [])
        sets = self._apply_groups(obj, model, report)
        self._check_extra_groups(obj, model, report)
        self._progress(model, sets, report)
        return self._finish(obj, report, model, sets)

    # -- steps ---------------------------------------------------------------------------------------

    def _model(self, obj: dict[str, Any], report: st.Report) -> BrokerClusterModel | None:
        name_service, missing = self.door.name_service(obj, self._listers.name_services)
        config_map = None
        cm_name = self.door.config_map_name(obj)
        if cm_name:
            try:
                config_map = self._listers.config_maps.get(obj["metadata"]["namespace"], cm_name)
            except NotFound:
                report.invalid(f"spec.config: ConfigMap {cm_name} not found", reason="ConfigMapNotFound")
        model = self.door.build(obj, name_service=name_service, config_map=config_map)
        if missing:
            report.invalid(missing, reason="NameServiceNotFound")
        for problem in model.problems:
            report.invalid(str(problem), reason="NameServiceNotFound" if problem.field == "spec.nameServiceRef"
                           else "InvalidSpec")
        if report.problems:
            self._warn_once(obj, report)
            return None
        return model

    def _warn_once(self, obj: dict[str, Any], report: st.Report) -> None:
        message = "; ".join(report.problems)
        old = get_condition(obj, st.READY)
        if not old or old.get("message") != message:
            self._recorder.event(obj, WARNING, report.problem_reason, message)

    def _apply_groups(self, obj: dict[str, Any], model: BrokerClusterModel,
                      report: st.Report) -> list[dict[str, Any] | None]:
        controls = {"ConfigMap": self._controls.config_maps, "Service": self._controls.services,
                    "StatefulSet": self._controls.stateful_sets,
                    "PodDisruptionBudget": self._controls.pdbs}
        sets: list[dict[str, Any] | None] = []
        changes = ChangeLog()
        try:
            for group in range(model.groups):
                sts: dict[str, Any] | None = None
                for desired in broker_group_objects(model, group):
                    control = controls[desired["kind"]]
                    try:
                        applied: Applied = control.apply(obj, desired)
                    except Forbidden as e:
                        if namespace_terminating(e):
                            raise
                        self._denied(obj, report, desired, e)
                        continue
                    name = desired["metadata"]["name"]
                    changes.note(control.resource, name, applied.change)
                    if applied.change is Change.NOT_OWNED:
                        report.conflict(warn_not_owned(self._recorder, obj, control.resource, name))
                    if desired["kind"] == "StatefulSet":
                        sts = applied.obj
                sets.append(sts)
        finally:
            changes.report(self._recorder, obj)
        return sets

    def _denied(self, obj: dict[str, Any], report: st.Report, desired: dict[str, Any], error: Forbidden) -> None:
        message = (f"the operator may not write {desired['kind']} {desired['metadata']['name']}: {error.message}; "
                   f"check its RBAC (manifests/rbac)")
        log.error("permission denied", kind=desired["kind"], name=desired["metadata"]["name"],
                  namespace=desired["metadata"]["namespace"], error=error.message)
        if not report.denied:
            self._recorder.event(obj, WARNING, "Forbidden", message)
        report.forbidden(message)

    def _group_sets(self, obj: dict[str, Any]) -> dict[int, dict[str, Any]]:
        uid = obj["metadata"]["uid"]
        out = {}
        for sts in self._cluster_objects(self._listers.stateful_sets, obj):
            refs = sts["metadata"].get("ownerReferences") or ()
            if any(r.get("uid") == uid and r.get("controller") for r in refs):
                out[int(sts["metadata"]["labels"][meta.LABEL_GROUP])] = sts
        return out

    def _check_extra_groups(self, obj: dict[str, Any], model: BrokerClusterModel, report: st.Report) -> None:
        extra = sorted(g for g in self._group_sets(obj) if g >= model.groups)
        if not extra:
            return
        if not model.allow_group_scale_down:
            message = (f"refusing to remove broker groups {extra}: a group holds messages; "
                       f"set spec.allowGroupScaleDown: true to remove them")
            report.scale_down_refused(message)
            old = get_condition(obj, st.SCALE_DOWN)
            if not old or old.get("status") != "True":
                self._recorder.event(obj, WARNING, "ScaleDownRefused", message)
            return
        namespace = obj["metadata"]["namespace"]
        for group in extra:
            for control, name in ((self._controls.pdbs, naming.group_name(model.name, group)),
                                  (self._controls.stateful_sets, naming.group_name(model.name, group)),
                                  (self._controls.services, naming.group_name(model.name, group)),
                                  (self._controls.config_maps, naming.config_map_name(model.name, group))):
                current = control.current(namespace, name)
                if current is not None and controller_uid(current) == obj["metadata"]["uid"]:
                    control.delete(obj, current, reason="ScaledDown")

    def _progress(self, model: BrokerClusterModel, sets: list[dict[str, Any] | None], report: st.Report) -> None:
        """Reports rollouts in flight; the StatefulSet controller does the rolling (see resources.brokers)."""
        for group, sts in enumerate(sets):
            if sts is None:
                continue  # not ours: reported as a conflict
            status, replicas = sts.get("status") or {}, sts["spec"].get("replicas", 0)
            if status.get("observedGeneration", 0) < sts["metadata"].get("generation", 0):
                report.progressing(f"broker group {group}: waiting for the StatefulSet controller")
            elif status.get("updatedReplicas", 0) < replicas:
                if model.allow_restart:
                    report.progressing(f"rolling broker group {group}: "
                                       f"{status.get('updatedReplicas', 0)}/{replicas} pods updated")
                else:
                    report.restart_pending(f"broker group {group} has pods on an old template; "
                                           f"spec.allowRestart is false")

    def _group_pods(self, obj: dict[str, Any], group: int) -> list[dict[str, Any]]:
        return [p for p in self._cluster_objects(self._listers.pods, obj)
                if (p["metadata"].get("labels") or {}).get(meta.LABEL_GROUP) == str(group)]

    @staticmethod
    def _cluster_objects(lister: Lister, obj: dict[str, Any]) -> list[dict[str, Any]]:
        """The broker objects labelled with this cluster's name, from the cluster index."""
        key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
        return [o for o in lister.by_index(CLUSTER_INDEX, key)
                if (o["metadata"].get("labels") or {}).get(meta.LABEL_APP) == meta.BROKER_APP]

    def _finish(self, obj: dict[str, Any], report: st.Report, model: BrokerClusterModel | None,
                sets: list[dict[str, Any] | None]) -> Result | None:
        pods = []
        if model is not None:
            for group in range(model.groups):
                pods.extend(self._group_pods(obj, group))
        new_status = report.status(model, sets=sets, pods=pods, kind=self.door.resource.kind)
        write_status(self._client, self.door.resource, obj, new_status)
        # A foreign object in the way sends no event when it goes away: look again later.
        return Result(requeue_after=CONFLICT_RECHECK) if report.conflicts or report.denied else None


def write_status(client: KubeClient, resource: Resource, obj: dict[str, Any], status: dict[str, Any]) -> None:
    """Writes status with the cached resourceVersion, and only when it differs from the cached one. A
    conflict means the cache is behind: the watch event that brings the newer object queues another sync,
    which writes the status again."""
    if status == (obj.get("status") or {}):
        return
    try:
        client.update_status(resource, {**obj, "status": status}, namespace=obj["metadata"]["namespace"])
    except Conflict:
        pass
    except NotFound:
        pass  # deleted meanwhile
