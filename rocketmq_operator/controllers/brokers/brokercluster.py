"""The broker-cluster reconciler: one sync path behind two front doors, ``BrokerCluster`` and ``Broker``.

``sync(key)`` is a sequence of steps, each reading only from listers:

1. read the custom resource; gone → nothing to do (children are garbage-collected);
2. paused (annotation ``rocketmq.apache.org/pause-reconcile: "true"``) → only a Paused condition;
3. resolve what it refers to (NameService, properties ConfigMap) and build the model; problems the
   schema cannot catch → a condition and a Warning event, no change to any child;
4. the cluster's headless Service, ConfigMap and PodDisruptionBudget, and per broker group a
   StatefulSet, through the control objects (create missing, revert drift, leave foreign objects
   alone); groups created with a Service and ConfigMap of their own keep them (see resources.brokers),
   and a group whose files do not fit in the cluster's ConfigMap gets one of its own
   (resources.configlayout). The ConfigMaps are written first: a group whose ConfigMap was not written
   keeps its StatefulSet as it is and no pod of it restarts (see controllers.brokers.configwrites);
5. groups beyond the spec: kept and reported unless ``allowGroupScaleDown`` is set;
6. report rollouts: a changed template (image, resources, the broker.conf hash) is rolled by each
   group's StatefulSet, highest ordinal first (slaves before the master), one Ready pod at a time;
   with RocketMQ observed, fences and drains write through the name servers only where the write gate
   allows (the namespace's own NameServices, or both opt-ins; see writegate), else they wait;
7. write status last, and only when it differs; a change of only the progress figures (member counts,
   the per-broker list) at most every few seconds (see statuspace).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from rocketmq_operator.clock import REAL_CLOCK, Clock
from rocketmq_operator.controllers.brokers import status as st
from rocketmq_operator.controllers.brokers.configwrites import write_configs
from rocketmq_operator.controllers.brokers.doors import FrontDoor, Refs
from rocketmq_operator.controllers.brokers.drain import (
    ACCEPT_LOSS_FIELD,
    DEFAULT_DRAIN_TIMEOUT,
    DrainStep,
    drain_step,
    refused_step,
    unobserved_step,
)
from rocketmq_operator.controllers.brokers.metadata import copy_metadata
from rocketmq_operator.controllers.brokers.nameclaims import NameClaims
from rocketmq_operator.controllers.brokers.registration import (
    BROKERS_REGISTERED,
    observe_target,
    waits_for_name_servers,
)
from rocketmq_operator.controllers.brokers.rolling import (
    fence,
    handover,
    roll_inputs,
    set_partitions,
    writes_name_servers,
)
from rocketmq_operator.controllers.brokers.writegate import (
    ALLOW_FIELD,
    NAME_SERVERS_FOREIGN,
    WriteGate,
    write_gate,
)
from rocketmq_operator.controllers.observe.clustermetrics import ClusterMetrics
from rocketmq_operator.controllers.observe.observer import Observer
from rocketmq_operator.controllers.plans import rollplan
from rocketmq_operator.controllers.runtime.addresses import coming_up, dialable_list, name_server_list
from rocketmq_operator.controllers.runtime.common import (
    CLUSTER_INDEX,
    STALE_CACHE_RECHECK,
    is_paused,
    note_overrides,
    pods_not_created,
)
from rocketmq_operator.controllers.runtime.conditions import (
    READY,
    TRUE,
    Recorder,
    get_condition,
    rfc3339,
    warn_when_new,
)
from rocketmq_operator.controllers.runtime.control import (
    ObjectControl,
    StatusWriter,
    apply_all,
    controller_uid,
)
from rocketmq_operator.controllers.runtime.runner import Key, Result
from rocketmq_operator.controllers.runtime.statuspace import StatusPacer
from rocketmq_operator.events import WARNING
from rocketmq_operator.informers import Lister
from rocketmq_operator.kube import NotFound
from rocketmq_operator.resources import configlayout, identity, meta, naming
from rocketmq_operator.resources.brokers import broker_cluster_objects
from rocketmq_operator.resources.diff import ContainsMemo
from rocketmq_operator.resources.model import BrokerClusterModel

ROLL_RECHECK = 5.0  # seconds between looks at a roll that waits for time to pass
_PROBLEM_REASONS = {"spec.nameServiceRef": "NameServiceNotFound", "spec.config": "ConfigMapNotFound",
                    "spec.volumes[0].configMap": "ConfigMapNotFound"}


@dataclass(frozen=True)
class Listers:
    parent: Lister
    name_services: Lister
    config_maps: Lister
    stateful_sets: Lister
    pods: Lister
    failed_creates: Lister  # FailedCreate events, indexed by the uid of their object
    controllers: Lister | None = None  # Controller resources (CONTROLLER-mode clusters)
    # (kind, lister) of every kind of broker cluster, this one's included: the clusters a new one's broker
    # names must not clash with (see resources.identity)
    peers: tuple[tuple[str, Lister], ...] = ()


class BrokerClusterReconciler:
    def __init__(self, door: FrontDoor, *, listers: Listers, controls: dict[str, ObjectControl],
                 status: StatusWriter, recorder: Recorder, clock: Clock = REAL_CLOCK,
                 observer: Observer | None = None, metrics: ClusterMetrics | None = None,
                 pacer: StatusPacer | None = None, allow_external_name_servers: bool = False,
                 name_claims: NameClaims | None = None) -> None:
        self.door = door
        # the prefixes decided for new clusters, shared with the other kind's reconciler (see nameclaims)
        self._claims = name_claims if name_claims is not None else NameClaims()
        # --allow-external-name-servers: with spec.allowExternalNameServers, writes may go through name
        # servers that are not the namespace's own (see writegate)
        self._allow_external = allow_external_name_servers
        self._templates = ContainsMemo()  # pod templates already compared, by StatefulSet version
        self._pacer = pacer
        self._observer = observer
        self._metrics = metrics
        # The generation and update strategy of each StatefulSet as this reconciler last wrote it: a roll is
        # planned only on a cache that shows them (planning on an older copy would undo the last step).
        self._written: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
        self._listers = listers
        self._controls = controls
        self._status = status
        self._recorder = recorder
        self._clock = clock

    @property
    def status_writer(self) -> StatusWriter:
        return self._status

    def sync(self, key: Key) -> Result | None:
        try:
            obj = self._listers.parent.get(key.namespace, key.name)
        except NotFound:
            if self._observer is not None:
                self._observer.forget(self._observed_key(key))
            if self._metrics is not None:
                self._metrics.forget(self._observed_key(key))
            if self._pacer is not None:
                self._pacer.forget(self._observed_key(key))
            self._status.forget(key.namespace, key.name)
            self._claims.forget(self.door.resource.kind, key.namespace, key.name)
            return None
        report = st.Report(obj, now=rfc3339(self._clock.wall()))
        if is_paused(obj):
            report.paused()
            self._lift_fence(obj, report)
            return self._finish(obj, report, None)
        model = self._model(obj, report)
        if model is None:
            return self._finish(obj, report, None)
        current = self._group_sets(obj)  # read once: every step below plans on the same view of the cache
        model = self._names(obj, self._with_layout(model, current), current, report)
        if model is None:
            return self._finish(obj, report, None)
        if not current and _ephemeral(model) and not (obj.get("status") or {}).get("observedGeneration"):
            self._recorder.event(obj, WARNING, "EphemeralStorage",
                                 "the brokers' stores are emptyDir volumes: a master that restarts loses its "
                                 "messages, so rolls restart only slaves; set storageMode StorageClass with "
                                 "volumeClaimTemplates to keep them")
        if self._observer is not None:  # read once: the roll's fence and the drain's wipe both ask
            report.writes_refused(self._refusal(obj, model))
        sets = self._apply_groups(obj, model, current, report)
        self._check_extra_groups(obj, model, current, report)
        self._progress(model, sets, report)
        self._warn_failed_create(obj, report)
        if self._observer is not None:
            self._observe(key, obj, model, report)
        return self._finish(obj, report, model)

    # -- steps ---------------------------------------------------------------------------------------

    def _model(self, obj: dict[str, Any], report: st.Report) -> BrokerClusterModel | None:
        refs = self.door.resolve(obj, name_services=self._listers.name_services,
                                 config_maps=self._listers.config_maps, controllers=self._listers.controllers)
        model = self.door.build(obj, refs)
        for reason, message in _unreported(refs, model):
            report.invalid(message, reason=reason)
        for problem in model.problems:
            report.invalid(str(problem), reason=_PROBLEM_REASONS.get(problem.field, "InvalidSpec"))
        report.overridden(note_overrides(self._recorder, obj, model.notes))
        if report.problems:
            self._warn_once(obj, report)
            return None
        return model

    def _lift_fence(self, obj: dict[str, Any], report: st.Report) -> None:
        """A paused cluster restarts nothing, so a master whose writes a roll wiped gets them back (through
        the name servers its status names); until that succeeds the fence stays in status.roll with the
        error."""
        roll = (obj.get("status") or {}).get("roll") or {}
        if self._observer is None or not roll.get("fenced"):
            return
        addrs = name_server_list(str((obj.get("status") or {}).get("nameServers") or ""))
        refusal = self._write_gate(obj, addrs).refusal  # the name servers the fence was put on
        if refusal is not None:
            report.rolling(roll, waiting=None, error=f"paused with {roll['fenced']} fenced: {refusal}")
            return
        name_servers = dialable_list(addrs, self._listers.pods)
        plan = rollplan.RollPlan(partitions={}, roll=roll, restore=roll["fenced"])
        kept, error = fence(plan, admin_factory=self._observer.admin_factory, name_servers=name_servers,
                            now=self._clock.wall())
        report.rolling(kept, waiting=None, error=error and f"paused with {roll['fenced']} fenced: {error}")

    def _names(self, obj: dict[str, Any], model: BrokerClusterModel, current: dict[int, dict[str, Any]],
               report: st.Report) -> BrokerClusterModel | None:
        """The model with the broker-name prefix its groups run with (see resources.identity): the one
        recorded on the running groups; for a new cluster the one it asks for, unless another cluster on the
        same name servers holds those names — then a BrokerCluster that asked for nothing takes its own name,
        and any other is refused (a condition naming the other cluster, and a Warning) before its pods
        start."""
        kind = self.door.resource.kind
        recorded = (identity.recorded_prefix(current.values())
                    or (obj.get("status") or {}).get("brokerNamePrefix"))
        with self._claims.deciding():  # read the peers, pick, record: one decision at a time (see nameclaims)
            recorded = recorded or self._claims.prefix(kind, obj)
            if recorded:
                return (replace(model, broker_name_prefix=recorded) if recorded != model.broker_name_prefix
                        else model)
            others = self._name_peers(obj)
            clash = identity.clashes(identity.cluster_brokers(model.layout), others)
            if clash and self._may_rename(obj):
                model = replace(model, broker_name_prefix=obj["metadata"]["name"])
                clash = identity.clashes(identity.cluster_brokers(model.layout), others)
            if not clash:
                self._claims.claim(kind, obj, model.broker_name_prefix)
                return model
        kind, name, shared = clash[0]
        report.invalid(f"broker names {', '.join(shared[:4])}{' ...' if len(shared) > 4 else ''} are already "
                       f"used on the same name servers by {kind} {name} (a name server keys its routes by "
                       f"broker name): set spec.brokerNamePrefix to a prefix no other cluster there uses",
                       reason="BrokerNameClash")
        self._warn_once(obj, report)
        return None

    def _may_rename(self, obj: dict[str, Any]) -> bool:
        """A new BrokerCluster that did not ask for a prefix may take its own name instead of the talk's."""
        return (self.door.resource.kind == "BrokerCluster"
                and not (obj.get("spec") or {}).get("brokerNamePrefix"))

    def _name_peers(self, obj: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """The other clusters of the namespace on the same name servers that hold their broker names before
        this one: those whose prefix is decided (recorded on their StatefulSets or in status, or claimed in
        this process and not yet in the cache) and those created earlier. Each comes with its decided prefix
        in status, so its names are the ones it runs with."""
        tokens = identity.name_server_tokens(obj)
        me = (self.door.resource.kind, obj["metadata"]["name"])
        mine = _age(obj)
        out = []
        for kind, lister in self._listers.peers:
            for other in lister.list(obj["metadata"]["namespace"]):
                if (kind, other["metadata"]["name"]) == me:
                    continue
                if not identity.share_name_servers(tokens, identity.name_server_tokens(other)):
                    continue
                decided = ((other.get("status") or {}).get("brokerNamePrefix")
                           or identity.recorded_prefix(self._group_sets(other).values())
                           or self._claims.prefix(kind, other))
                if decided:
                    out.append((kind, {**other, "status": {**(other.get("status") or {}),
                                                           "brokerNamePrefix": decided}}))
                elif _age(other) < mine:
                    out.append((kind, other))
        return out

    def _warn_once(self, obj: dict[str, Any], report: st.Report) -> None:
        warn_when_new(self._recorder, obj, get_condition(obj, READY), reason=report.problem_reason,
                      message="; ".join(report.problems))

    def _cache_behind(self, current: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]] | None:
        """The update strategies last written, by group, when the cache has not caught up with a write."""
        written = {g: self._written.get((sts["metadata"]["namespace"], sts["metadata"]["name"]))
                   for g, sts in current.items()}
        if all(w is None or int(current[g]["metadata"].get("generation") or 0) >= w[0]
               for g, w in written.items()):
            return None
        return {g: w[1] for g, w in written.items() if w is not None}

    def _observed_key(self, key: Key) -> tuple[str, str, str]:
        return (self.door.resource.kind, key.namespace, key.name)

    def _observe(self, key: Key, obj: dict[str, Any], model: BrokerClusterModel, report: st.Report) -> None:
        """Asks the observer to look (it reads RocketMQ off this thread) and takes what it last saw."""
        assert self._observer is not None
        okey = self._observed_key(key)
        # Every broker pod of the cluster, those of groups beyond the spec too: a group being drained is read
        # (its master's consumer lag) until it is gone.
        target = observe_target(model, self._cluster_objects(self._listers.pods, obj),
                                pod_lister=self._listers.pods)
        self._observer.ensure(okey, target)
        facts = self._observer.fresh_facts(okey)
        starting = coming_up(name_server_list(model.name_server_address), self._listers.pods)
        report.observed(facts, starting)
        scale_out = (obj.get("status") or {}).get("scaleOut") or {}
        report.metadata(copy_metadata(model, facts, tuple(scale_out.get("copiedGroups") or ()),
                                      copied_brokers=tuple(scale_out.get("copiedBrokers") or ()),
                                      admin_factory=self._observer.admin_factory))
        self._note_refusal(obj, report)
        if facts is not None and facts.unreachable and not waits_for_name_servers(facts, starting):
            warn_when_new(self._recorder, obj, get_condition(obj, BROKERS_REGISTERED),
                          reason="NameServersUnreachable", message="; ".join(facts.name_server_errors),
                          said="", said_reason="NameServersUnreachable")

    def _write_gate(self, obj: dict[str, Any], addrs: list[str], *,
                    cluster_domain: str = naming.DEFAULT_CLUSTER_DOMAIN) -> WriteGate:
        """Whether this cluster's writes to RocketMQ may go through the name servers ``addrs`` (see
        writegate)."""
        return write_gate(addrs, namespace=obj["metadata"]["namespace"],
                          name_services=self._listers.name_services, pods=self._listers.pods,
                          spec_allows=(obj.get("spec") or {}).get(ALLOW_FIELD) is True,
                          operator_allows=self._allow_external, cluster_domain=cluster_domain)

    def _refusal(self, obj: dict[str, Any], model: BrokerClusterModel) -> str | None:
        """Why no write may go through the model's name servers (None: they may)."""
        return self._write_gate(obj, name_server_list(model.name_server_address),
                                cluster_domain=model.cluster_domain).refusal

    def _note_refusal(self, obj: dict[str, Any], report: st.Report) -> None:
        """A Warning event when the refusal behind condition NameServersForeign is news."""
        self._warn_on_change(obj, NAME_SERVERS_FOREIGN, NAME_SERVERS_FOREIGN, report.foreign)

    def _warn_failed_create(self, obj: dict[str, Any], report: st.Report) -> None:
        old = get_condition(obj, READY)
        for message in report.not_created:
            warn_when_new(self._recorder, obj, old, reason="FailedCreate", message=message)

    def _apply_groups(self, obj: dict[str, Any], model: BrokerClusterModel,
                      current: dict[int, dict[str, Any]], report: st.Report) -> list[dict[str, Any] | None]:
        hot = self._observer is not None  # running brokers get name-server changes pushed, not a restart
        draining = tuple(sorted(g for g in current if g >= model.groups))
        objects = broker_cluster_objects(model, hot_name_servers=hot, draining=draining)
        configs = write_configs(obj, objects, self._controls["ConfigMap"], self._recorder)
        report.configs_written(configs)
        desired_sets = {int(o["metadata"]["labels"][meta.LABEL_GROUP]): o
                        for o in objects if o["kind"] == "StatefulSet"}
        self._roll(obj, model, desired_sets, current, report, held=frozenset(configs.held))
        applied = apply_all(obj, configs.rest, self._controls, self._recorder, changes=configs.changes)
        report.absorb(applied)
        if applied.get("PodDisruptionBudget", naming.cluster_service_name(model.name)) is not None:
            self._retire_group_budgets(obj, model, current)
        sets = [applied.get("StatefulSet", naming.group_name(model.name, group))
                for group in range(model.groups)]
        for sts in sets:
            if sts is not None:
                self._written[(sts["metadata"]["namespace"], sts["metadata"]["name"])] = (
                    int(sts["metadata"].get("generation") or 0), sts["spec"].get("updateStrategy") or {})
        return sets

    @staticmethod
    def _with_layout(model: BrokerClusterModel, current: dict[int, dict[str, Any]]) -> BrokerClusterModel:
        """Names the groups whose StatefulSet governs its pods with a Service of the group's own (created,
        with a ConfigMap of its own, before one of each served the cluster), and which ConfigMap each group
        mounts: serviceName is immutable and a new volume would restart the pods, so those keep theirs and
        nothing restarts."""
        return configlayout.with_mounts(model, current)

    def _retire_group_budgets(self, obj: dict[str, Any], model: BrokerClusterModel,
                              current: dict[int, dict[str, Any]]) -> None:
        """Deletes the per-group PodDisruptionBudgets of earlier versions once the cluster's budget exists, so
        the brokers are never without one; no pod changes."""
        control = self._controls["PodDisruptionBudget"]
        namespace, uid = obj["metadata"]["namespace"], obj["metadata"]["uid"]
        for group in sorted(set(range(model.groups)) | set(current)):
            budget = control.current(namespace, naming.group_name(model.name, group))
            if budget is not None and controller_uid(budget) == uid:
                control.delete(obj, budget, reason="Replaced")

    def _roll(self, obj: dict[str, Any], model: BrokerClusterModel, desired_sets: dict[int, dict[str, Any]],
              current: dict[int, dict[str, Any]], report: st.Report, *,
              held: frozenset[int] = frozenset()) -> None:
        """Plans the next step of a template roll (see rollplan), sets the partitions it allows into the
        desired StatefulSets and fences or restores a master's writes when the plan says so. ``held``: groups
        whose StatefulSet is not written this time (their ConfigMap was not): the plan restarts none of their
        pods, and their pods still have to be Ready for another's to restart."""
        behind = self._cache_behind(current)
        if behind is not None:  # keep the partitions last written; plan once the cache shows them
            for group, sts in desired_sets.items():
                sts["spec"]["updateStrategy"] = behind.get(group) or sts["spec"]["updateStrategy"]
            report.rolling((obj.get("status") or {}).get("roll") or {}, waiting=None, error=None)
            report.progressing(st.STALE_MESSAGE)
            return
        facts = self._observer.fresh_facts(self._observed_key(_key(obj))) if self._observer else None
        groups, pods = roll_inputs(model, desired_sets, current, self._cluster_pods(obj, model), facts,
                                   memo=self._templates)
        groups = [g for g in groups if g.group not in held]
        old = (obj.get("status") or {}).get("roll") or {}
        now = self._clock.wall()
        params = rollplan.RollParams(observed=self._observer is not None,
                                     controller_mode=model.controller_mode, all_master=model.all_master,
                                     ephemeral=_ephemeral(model))
        step = rollplan.plan(groups, pods, old, now=now, params=params)
        set_partitions(desired_sets, step, allow_restart=model.allow_restart)
        if not model.allow_restart:  # nothing restarts: a master fenced for its restart gets its writes back
            step = replace(step, wipe=None, elect=None, restore=old.get("fenced") or None)
        roll, error = step.roll, None
        if self._observer is not None and (model.allow_restart or step.restore):
            refusal = report.foreign
            # held where it is: nothing restarts unfenced
            if refusal is not None and writes_name_servers(step, old):
                report.rolling(old, waiting=f"roll held ({step.waiting}): {refusal}", error=None)
                return
            name_servers = dialable_list(name_server_list(model.name_server_address), self._listers.pods)
            roll, error = fence(step, admin_factory=self._observer.admin_factory, name_servers=name_servers,
                                now=now)
            controllers = dialable_list(name_server_list(model.controller_address), self._listers.pods)
            error = error or handover(step, admin_factory=self._observer.admin_factory,
                                      controllers=controllers, cluster=model.cluster_name)
        if step.refused and model.allow_restart:
            self._refuse_restart(obj, step.refused, report)
            step = replace(step, waiting=None)
        report.rolling(roll, waiting=None if step.done or not model.allow_restart else step.waiting,
                       error=error)

    def _refuse_restart(self, obj: dict[str, Any], why: str, report: st.Report) -> None:
        """A restart the roll will not make (a master on an emptyDir store): RestartPending says why, once
        warned."""
        report.restart_pending(why, reason="EphemeralStorage")
        self._warn_on_change(obj, st.RESTART_PENDING, "RestartRefused", why)

    def _warn_on_change(self, obj: dict[str, Any], condition: str, reason: str, message: str | None) -> None:
        """A Warning event for ``message`` unless the condition already says it (None: nothing to say)."""
        if message is not None:
            warn_when_new(self._recorder, obj, get_condition(obj, condition), reason=reason, message=message)

    def _group_sets(self, obj: dict[str, Any]) -> dict[int, dict[str, Any]]:
        uid = obj["metadata"]["uid"]
        out = {}
        for sts in self._cluster_objects(self._listers.stateful_sets, obj):
            if controller_uid(sts) == uid:
                out[int(sts["metadata"]["labels"][meta.LABEL_GROUP])] = sts
        return out

    def _check_extra_groups(self, obj: dict[str, Any], model: BrokerClusterModel,
                            current: dict[int, dict[str, Any]], report: st.Report) -> None:
        extra = sorted(g for g in current if g >= model.groups)
        if not extra:
            return
        if not model.allow_group_scale_down:
            message = (f"refusing to remove broker groups {extra}: a group holds messages; "
                       f"set spec.allowGroupScaleDown: true to remove them")
            report.scale_down_refused(message)
            warn_when_new(self._recorder, obj, get_condition(obj, st.SCALE_DOWN), reason="ScaleDownRefused",
                          message=message, said="", said_status=TRUE)
            return
        accept_loss = bool((obj.get("spec") or {}).get(ACCEPT_LOSS_FIELD, False))
        if self._observer is None:  # nothing to ask RocketMQ: refused, unless the loss is accepted
            self._execute(obj, model, unobserved_step(extra, accept_loss=accept_loss), report)
            return
        self._drain(obj, model, extra, report, accept_loss=accept_loss)

    def _drain(self, obj: dict[str, Any], model: BrokerClusterModel, extra: list[int], report: st.Report, *,
               accept_loss: bool) -> None:
        """Removes the highest extra group once RocketMQ says it holds nothing (see controllers/drain)."""
        assert self._observer is not None
        spec = obj.get("spec") or {}
        refusal = report.foreign
        if refusal is not None:  # nothing is wiped through name servers the cluster does not own
            self._execute(obj, model,
                          refused_step(extra, (obj.get("status") or {}).get("drain") or {}, why=refusal),
                          report)
            return
        step = drain_step(extra, (obj.get("status") or {}).get("drain") or {},
                          self._observer.fresh_facts(self._observed_key(_key(obj))), now=self._clock.wall(),
                          timeout=float(spec.get("drainTimeoutSeconds", DEFAULT_DRAIN_TIMEOUT)),
                          brokers=lambda g: identity.group_brokers(model.layout, g), accept_loss=accept_loss,
                          admin_factory=self._observer.admin_factory,
                          name_servers=dialable_list(name_server_list(model.name_server_address),
                                                     self._listers.pods))
        self._execute(obj, model, step, report)

    def _execute(self, obj: dict[str, Any], model: BrokerClusterModel, step: DrainStep,
                 report: st.Report) -> None:
        """Reports the step, warns once about a drain that stopped, warns about a loss, deletes what it
        says."""
        report.draining(step)
        if step.stuck:
            warn_when_new(self._recorder, obj, get_condition(obj, st.SCALE_DOWN), reason=step.reason,
                          message=step.stuck, said="", said_reason=step.reason, said_status=TRUE)
        if step.lost:
            self._recorder.event(obj, WARNING, "DeletedUndrained", step.lost)
        if step.delete is not None:
            self._delete_group(obj, model, step.delete)

    def _delete_group(self, obj: dict[str, Any], model: BrokerClusterModel, group: int) -> None:
        namespace = obj["metadata"]["namespace"]
        for kind, name in (("PodDisruptionBudget", naming.group_name(model.name, group)),
                           ("StatefulSet", naming.group_name(model.name, group)),
                           ("Service", naming.group_name(model.name, group)),
                           ("ConfigMap", naming.config_map_name(model.name, group))):
            control = self._controls[kind]
            current = control.current(namespace, name)
            if current is not None and controller_uid(current) == obj["metadata"]["uid"]:
                control.delete(obj, current, reason="ScaledDown")

    def _progress(self, model: BrokerClusterModel, sets: list[dict[str, Any] | None],
                  report: st.Report) -> None:
        """Reports rollouts in flight; the StatefulSet controller does the rolling (see resources.brokers)."""
        for group, sts in enumerate(sets):
            if sts is None:
                continue  # not ours, or refused: reported already
            why = pods_not_created(sts, self._listers.failed_creates)
            if why:
                report.pods_not_created(why)
            status, replicas = sts.get("status") or {}, sts["spec"].get("replicas", 0)
            if status.get("observedGeneration", 0) < sts["metadata"].get("generation", 0):
                report.progressing(f"broker group {group}: waiting for the StatefulSet controller")
            elif status.get("updatedReplicas", 0) < replicas:
                # the roll stopped for good (see _refuse_restart): serving, not progressing
                if report.restart:
                    continue
                if model.allow_restart:
                    report.progressing(f"rolling broker group {group}: "
                                       f"{status.get('updatedReplicas', 0)}/{replicas} pods updated")
                else:
                    report.restart_pending(f"broker group {group} has pods on an old template; "
                                           f"spec.allowRestart is false")

    def _cluster_pods(self, obj: dict[str, Any], model: BrokerClusterModel) -> list[dict[str, Any]]:
        groups = {str(g) for g in range(model.groups)}
        return [p for p in self._cluster_objects(self._listers.pods, obj)
                if (p["metadata"].get("labels") or {}).get(meta.LABEL_GROUP) in groups]

    @staticmethod
    def _cluster_objects(lister: Lister, obj: dict[str, Any]) -> list[dict[str, Any]]:
        """The broker objects labelled with this cluster's name, from the cluster index."""
        key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
        return [o for o in lister.by_index(CLUSTER_INDEX, key)
                if (o["metadata"].get("labels") or {}).get(meta.LABEL_APP) == meta.BROKER_APP]

    def _finish(self, obj: dict[str, Any], report: st.Report,
                model: BrokerClusterModel | None) -> Result | None:
        pods = self._cluster_pods(obj, model) if model is not None else []
        extra = self.door.extra_status(model, pods) if model is not None else None
        status = report.status(model, pods=pods, extra=extra)
        okey = self._observed_key(_key(obj))
        held = self._pacer.hold(okey, obj.get("status") or {}, status) if self._pacer is not None else None
        if held is None and self._status.cache_behind(obj):
            held = STALE_CACHE_RECHECK  # its own last write is still on its way to the cache: look again then
        elif held is None and self._status.write(obj, status) and self._pacer is not None:
            self._pacer.wrote(okey)
        if self._metrics is not None:
            facts = self._observer.fresh_facts(okey) if self._observer is not None else None
            self._metrics.publish(okey, status, facts, observed=self._observer is not None)
        waits = [r.requeue_after for r in (report.result(),) if r is not None and r.requeue_after is not None]
        if held is not None:
            waits.append(held)  # progress figures only: written once the pacer's interval has passed
        if model is not None and (report.roll_waiting or report.roll_error):
            waits.append(ROLL_RECHECK)  # a drain or a fence retry ends by time, not by an event
        if model is not None and self._observer is not None:
            waits.append(self._observer.interval)  # look at RocketMQ again on the observer's schedule
        return Result(requeue_after=min(waits)) if waits else None


def _ephemeral(model: BrokerClusterModel) -> bool:
    """The brokers' stores live in emptyDir volumes: gone when a pod restarts."""
    return model.storage.mode == "EmptyDir"


def _age(obj: dict[str, Any]) -> tuple[str, str]:
    """Orders clusters by creation (the API server's timestamps, to the second; then by name)."""
    return (str(obj["metadata"].get("creationTimestamp") or ""), obj["metadata"]["name"])


def _key(obj: dict[str, Any]) -> Key:
    return Key(obj["metadata"]["namespace"], obj["metadata"]["name"])


def _unreported(refs: Refs, model: BrokerClusterModel) -> list[tuple[str, str]]:
    """Reference problems the model does not report itself (it names a missing nameServiceRef or ConfigMap
    when it was built without one)."""
    model_fields = {p.field for p in model.problems}
    return [(reason, message) for reason, field, message in refs.problems if field not in model_fields]
