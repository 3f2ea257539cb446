"""The internal model of a broker cluster and of a name service, and the front doors that make them.

Two custom resources describe a broker cluster, and both become one :class:`BrokerClusterModel`:

- ``BrokerCluster`` (``rocketmq.huanwei.io/v1alpha1``, the 2018 talk): ``groupReplica`` broker groups
  of ``membersPerGroup`` members each (member 0 is the master).
- ``Broker`` (``rocketmq.apache.org/v1alpha1``, seed 000): ``size`` broker groups. ``replicaPerGroup``
  counts the *slaves* of each group, so a group has ``replicaPerGroup + 1`` members — except in
  ``DLEDGER`` mode, where ``replicaPerGroup`` is the size of the DLedger group itself (seed 000 writes
  ``replicaPerGroup: 3`` for a three-member Raft group).

Builders take only the model, never a raw custom resource, so that the two dialects cannot drift.
What the OpenAPI schema cannot check is data, never an exception, in one of two fields:

- ``problems``: what stops a sync — a missing NameService or ConfigMap, a property value RocketMQ
  would not take, a user volume or env var that clashes with the operator's. Controllers should
  not create or change children while a model has problems;
- ``notes``: what the operator applied differently from what the user wrote — a property the
  operator owns (``brokerRole`` in DLEDGER mode, ``brokerClusterName``, ...) dropped in favour of
  its own value, an env var given twice. The sync goes on; controllers say it in a Warning event
  and a condition so that the user can clean up the manifest.

Models are frozen; their dict and tuple fields come from the API object and must not be mutated —
builders copy them into the objects they return.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from rocketmq_operator.resources import identity, naming, properties
from rocketmq_operator.resources.meta import ANNOTATION_RESTART, ParentRef
from rocketmq_operator.resources.modelparts import (
    PodOptions,
    Problem,
    ServerModel,
    Storage,
    controller_address,
    pod_options,
    pod_problems,
    retention_policy,
    storage,
)
from rocketmq_operator.resources.propsources import (
    SPEC_PROPERTIES,
    UserProperties,
    broker_common_config_map_name,
    broker_common_layers,
    config_map_layer,
    user_properties,
)

__all__ = [
    "BROKER_API_VERSION",
    "BROKER_CLUSTER_API_VERSION",
    "NAME_SERVICE_API_VERSION",
    "BrokerClusterModel",
    "NameServiceModel",
    "PodOptions",
    "Problem",
    "Storage",
    "broker_common_config_map_name",
    "from_broker",
    "from_broker_cluster",
    "from_name_service",
]

BROKER_CLUSTER_API_VERSION = "rocketmq.huanwei.io/v1alpha1"
BROKER_API_VERSION = "rocketmq.apache.org/v1alpha1"
NAME_SERVICE_API_VERSION = "rocketmq.apache.org/v1alpha1"

DEFAULT_CLUSTER_NAME = "DefaultCluster"
REPLICATION_MODES = ("SYNC", "ASYNC", "DLEDGER")
CLUSTER_MODES = ("STATIC", "CONTROLLER")
BROKER_VOLUMES = (naming.CONFIG_VOLUME, naming.RUN_VOLUME)


@dataclass(frozen=True)
class BrokerClusterModel:
    """Everything the builders need to know about one broker cluster."""

    parent: ParentRef
    image: str
    cluster_name: str
    groups: int
    members_per_group: int
    replication_mode: str  # SYNC | ASYNC | DLEDGER
    all_master: bool = False
    properties: Mapping[str, str] = field(default_factory=dict)
    name_server_address: str = ""
    image_pull_policy: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    pod: PodOptions = field(default_factory=PodOptions)
    storage: Storage = field(default_factory=Storage)
    allow_group_scale_down: bool = False
    allow_restart: bool = True
    # Reserved for issue 11 (scale-out copies metadata): the pod ``scalePodName`` names, whose
    # topics and subscription groups a new broker group copies. Parsed, not yet read.
    metadata_source_pod: str | None = None
    # The custom resource's restart annotation (meta.ANNOTATION_RESTART), copied onto the pod template.
    restart: str = ""
    generation: int = 0
    cluster_domain: str = naming.DEFAULT_CLUSTER_DOMAIN
    problems: tuple[Problem, ...] = ()
    notes: tuple[Problem, ...] = ()
    cluster_mode: str = "STATIC"  # STATIC | CONTROLLER (RocketMQ 5 controllers elect the masters)
    controller_address: str = ""  # controllerAddr in CONTROLLER mode
    # Groups whose StatefulSet was created with a headless Service and a ConfigMap of its own (before one of
    # each served the whole cluster); serviceName is immutable and a new volume would restart the pods, so
    # they keep theirs (see resources.brokers).
    legacy_groups: frozenset[int] = frozenset()
    # Groups whose StatefulSet mounts a ConfigMap of the group's own (legacy groups do too) and groups whose
    # StatefulSet mounts the cluster's; groups in neither are new. Each keeps what it mounts while its files
    # fit (see resources.configlayout).
    own_config_groups: frozenset[int] = frozenset()
    shared_config_groups: frozenset[int] = frozenset()
    # What the groups' broker names start with (see resources.identity): the kind's default until the
    # reconciler settles it against the running groups and the other clusters on the same name servers.
    broker_name_prefix: str = identity.LEGACY_PREFIX

    @property
    def layout(self) -> identity.Layout:
        """What names this cluster's brokers (see resources.identity)."""
        return identity.Layout(name=self.name, cluster_name=self.cluster_name, prefix=self.broker_name_prefix,
                               groups=self.groups, members=self.members_per_group, all_master=self.all_master,
                               controller_mode=self.controller_mode, dledger=self.dledger,
                               master_role=self.master_role)

    @property
    def name(self) -> str:
        return self.parent.name

    @property
    def namespace(self) -> str:
        return self.parent.namespace

    @property
    def dledger(self) -> bool:
        return self.replication_mode == "DLEDGER"

    @property
    def controller_mode(self) -> bool:
        return self.cluster_mode == "CONTROLLER"

    @property
    def master_role(self) -> str | None:
        """``brokerRole`` of member 0; ``None`` in DLEDGER mode, where the Raft group elects roles.

        Every broker of an all-master cluster is a lone master, so it is ASYNC_MASTER whatever the
        replication mode: a SYNC_MASTER without a slave answers every send with SLAVE_NOT_AVAILABLE.
        """
        if self.dledger or self.controller_mode:
            return None
        if self.all_master or self.replication_mode == "ASYNC":
            return "ASYNC_MASTER"
        return "SYNC_MASTER"


@dataclass(frozen=True)
class NameServiceModel(ServerModel):
    """Everything the builders need to know about one name service."""

    embedded_controller: bool = False  # enableControllerInNamesrv: each name server also runs a controller

    @property
    def controller_address(self) -> str:
        """``controllerAddr`` for brokers when the name servers embed the controller ("" when they do not)."""
        if not self.embedded_controller:
            return ""
        return naming.controller_address(self.name, self.namespace, self.size,
                                         cluster_domain=self.cluster_domain)

    @property
    def address(self) -> str:
        """The ``namesrvAddr`` brokers and clients use to reach this name service."""
        return naming.name_server_address(
            self.name, self.namespace, self.size, cluster_domain=self.cluster_domain
        )


def from_broker_cluster(
    obj: Mapping[str, Any],
    *,
    name_service: Mapping[str, Any] | None = None,
    config_map: Mapping[str, Any] | None = None,
    controller: Mapping[str, Any] | None = None,
    cluster_domain: str = naming.DEFAULT_CLUSTER_DOMAIN,
) -> BrokerClusterModel:
    """The model of a ``BrokerCluster`` custom resource (a plain dict as read from the API).

    ``name_service`` is the NameService named by ``spec.nameServiceRef`` and ``config_map`` the
    ConfigMap named by ``spec.config``, both as read by the caller (``None`` when absent).
    """
    spec = obj.get("spec") or {}
    parent = ParentRef.of(obj, api_version=BROKER_CLUSTER_API_VERSION, kind="BrokerCluster")
    problems: list[Problem] = []
    user = user_properties(
        [config_map_layer(config_map), (SPEC_PROPERTIES, spec.get("properties") or {})], problems
    )
    draft = BrokerClusterModel(
        parent=parent,
        image=spec.get("brokerImage", ""),
        cluster_name=spec.get("clusterName") or DEFAULT_CLUSTER_NAME,
        groups=int(spec.get("groupReplica", 1)),
        members_per_group=int(spec.get("membersPerGroup", 1)),
        replication_mode=spec.get("replicationMode") or "ASYNC",
        all_master=bool(spec.get("allMaster", False)),
        broker_name_prefix=identity.requested_prefix("BrokerCluster", obj),
        allow_group_scale_down=bool(spec.get("allowGroupScaleDown", False)),
        name_server_address=_broker_cluster_address(spec, parent, name_service, problems, cluster_domain),
        cluster_domain=cluster_domain,
        cluster_mode=spec.get("clusterMode") or "STATIC",
        controller_address=controller_address(spec, name_service=name_service, controller=controller,
                                              namespace=parent.namespace, problems=problems,
                                              cluster_domain=cluster_domain),
    )
    return _complete(draft, obj, user=user, storage_spec=_single_claim_storage(spec), problems=problems)


def from_broker(
    obj: Mapping[str, Any],
    *,
    name_service: Mapping[str, Any] | None = None,
    config_map: Mapping[str, Any] | None = None,
    controller: Mapping[str, Any] | None = None,
    cluster_domain: str = naming.DEFAULT_CLUSTER_DOMAIN,
) -> BrokerClusterModel:
    """The model of an Apache ``Broker`` custom resource.

    ``size`` is the number of broker groups. ``replicaPerGroup`` is the number of slaves per group
    (members = replicaPerGroup + 1), except in DLEDGER mode where it is the DLedger group size.
    The cluster name and, without ``spec.replicationMode``, the replication mode come from the
    ``brokerClusterName`` and ``brokerRole`` properties as in the Apache operator.
    ``name_service`` supplies the address when ``spec.nameServers`` is empty. ``config_map`` is
    the ConfigMap :func:`broker_common_config_map_name` names (``None`` when absent); its
    ``broker-common.conf`` is read as a properties file under ``spec.properties``.
    """
    spec = obj.get("spec") or {}
    parent = ParentRef.of(obj, api_version=BROKER_API_VERSION, kind="Broker")
    problems: list[Problem] = []
    user = user_properties(
        [*broker_common_layers(spec, config_map, problems), (SPEC_PROPERTIES, spec.get("properties") or {})],
        problems,
    )
    mode = spec.get("replicationMode") or _mode_from_role(user.props.get("brokerRole"))
    replicas = int(spec.get("replicaPerGroup", 0))
    address = (spec.get("nameServers") or "").strip()
    if not address and name_service is not None:
        address = _name_service_address(name_service, parent.namespace, cluster_domain)
    draft = BrokerClusterModel(
        parent=parent,
        image=spec.get("brokerImage", ""),
        cluster_name=str(user.props.get("brokerClusterName") or DEFAULT_CLUSTER_NAME),
        groups=int(spec.get("size", 1)),
        members_per_group=replicas if mode == "DLEDGER" else replicas + 1,
        replication_mode=mode,
        broker_name_prefix=identity.requested_prefix("Broker", obj),
        allow_group_scale_down=bool(spec.get("allowGroupScaleDown", False)),
        allow_restart=bool(spec.get("allowRestart", True)),
        metadata_source_pod=spec.get("scalePodName") or None,
        name_server_address=address,
        cluster_domain=cluster_domain,
        cluster_mode=spec.get("clusterMode") or "STATIC",
        controller_address=controller_address(spec, name_service=name_service, controller=controller,
                                              namespace=parent.namespace, problems=problems,
                                              cluster_domain=cluster_domain),
    )
    return _complete(draft, obj, user=user, storage_spec=spec, problems=problems)


def from_name_service(
    obj: Mapping[str, Any], *, cluster_domain: str = naming.DEFAULT_CLUSTER_DOMAIN
) -> NameServiceModel:
    """The model of a ``NameService`` custom resource."""
    spec = obj.get("spec") or {}
    problems: list[Problem] = []
    if not spec.get("nameServiceImage"):
        problems.append(Problem("spec.nameServiceImage", "a name-server image is required"))
    pod = pod_options(spec)
    store = storage(spec, retention=retention_policy(spec), problems=problems)
    embedded = bool(spec.get("enableControllerInNamesrv", False))
    operator_env = (*naming.FIELD_ENV, *naming.CONTROLLER_ENV) if embedded else naming.FIELD_ENV
    refused, notes = pod_problems(pod, storage=store, operator_env=operator_env, operator_volumes=())
    return NameServiceModel(
        parent=ParentRef.of(obj, api_version=NAME_SERVICE_API_VERSION, kind="NameService"),
        image=spec.get("nameServiceImage", ""),
        size=int(spec.get("size", 1)),
        image_pull_policy=spec.get("imagePullPolicy") or None,
        labels=_labels(obj),
        pod=pod,
        storage=store,
        generation=_generation(obj),
        cluster_domain=cluster_domain,
        problems=(*problems, *refused),
        notes=tuple(notes),
        embedded_controller=embedded,
    )


def _complete(
    draft: BrokerClusterModel,
    obj: Mapping[str, Any],
    *,
    user: UserProperties,
    storage_spec: Mapping[str, Any],
    problems: list[Problem],
) -> BrokerClusterModel:
    """``draft`` (identity and topology) completed with properties, pod options, storage, problems.

    Shared by both front doors. Keys the operator writes are dropped from the user's properties:
    quietly when they restate its value, with a note otherwise.
    """
    spec = obj.get("spec") or {}
    if not draft.name_server_address and user.props.get("namesrvAddr"):
        draft = replace(draft, name_server_address=user.props["namesrvAddr"])
    clean, dropped = properties.split_managed(user.props, expected=_expected_properties(draft))
    problems += _shape_problems(draft)
    notes = [Problem(user.located(key), msg) for key, msg in dropped]
    pod = pod_options(spec)
    store = storage(storage_spec, retention=retention_policy(spec), problems=problems)
    refused, applied = pod_problems(
        pod, storage=store, operator_env=naming.BROKER_ENV, operator_volumes=BROKER_VOLUMES
    )
    return replace(
        draft,
        properties=clean,
        image_pull_policy=spec.get("imagePullPolicy") or None,
        labels=_labels(obj),
        pod=pod,
        storage=store,
        restart=_restart(obj),
        generation=_generation(obj),
        problems=(*problems, *refused),
        notes=(*notes, *applied),
    )


def _expected_properties(model: BrokerClusterModel) -> dict[str, str]:
    expected = {"brokerClusterName": model.cluster_name, "listenPort": str(naming.BROKER_PORT)}
    if model.master_role:
        expected["brokerRole"] = model.master_role
    if model.name_server_address:
        expected["namesrvAddr"] = model.name_server_address
    if model.dledger:
        expected["enableDLegerCommitLog"] = "true"
    if model.controller_mode:
        expected["enableControllerMode"] = "true"
        expected["controllerAddr"] = model.controller_address
    expected["storePathRootDir"] = naming.BROKER_STORE_DIR
    return expected


def _shape_problems(model: BrokerClusterModel) -> list[Problem]:
    problems = []
    if model.replication_mode not in REPLICATION_MODES:
        problems.append(Problem("spec.replicationMode", f"must be one of {', '.join(REPLICATION_MODES)}"))
    if model.groups < 1 or model.members_per_group < 1:
        problems.append(Problem("spec", "a cluster needs at least one group of at least one member"))
    if model.dledger and (model.members_per_group < 3 or model.members_per_group % 2 == 0):
        problems.append(Problem("spec", "DLEDGER replication needs an odd number of members, at least 3"))
    if model.dledger and model.all_master:
        problems.append(Problem("spec.allMaster", "allMaster cannot be combined with DLEDGER replication"))
    if model.cluster_mode not in CLUSTER_MODES:
        problems.append(Problem("spec.clusterMode", f"must be one of {', '.join(CLUSTER_MODES)}"))
    if model.controller_mode and (model.dledger or model.all_master):
        problems.append(Problem("spec.clusterMode",
                                "CONTROLLER cannot be combined with DLEDGER or allMaster"))
    if not model.image:
        problems.append(Problem("spec.brokerImage", "a broker image is required"))
    return problems


def _broker_cluster_address(
    spec: Mapping[str, Any],
    parent: ParentRef,
    name_service: Mapping[str, Any] | None,
    problems: list[Problem],
    cluster_domain: str,
) -> str:
    ref = (spec.get("nameServiceRef") or {}).get("name")
    if not ref:
        return (spec.get("nameServers") or "").strip()
    if name_service is None or (name_service.get("metadata") or {}).get("name") != ref:
        problems.append(
            Problem("spec.nameServiceRef", f"NameService {ref!r} not found in namespace {parent.namespace!r}")
        )
        return ""
    return _name_service_address(name_service, parent.namespace, cluster_domain)


def _name_service_address(name_service: Mapping[str, Any], namespace: str, cluster_domain: str) -> str:
    name = (name_service.get("metadata") or {}).get("name", "")
    size = int((name_service.get("spec") or {}).get("size", 1))
    return naming.name_server_address(name, namespace, size, cluster_domain=cluster_domain)


def _single_claim_storage(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The talk's single ``volumeClaimTemplate`` in the shape of the Apache ``volumeClaimTemplates``."""
    claim = spec.get("volumeClaimTemplate")
    return {**spec, "volumeClaimTemplates": [claim] if claim else []}


def _mode_from_role(role: str | None) -> str:
    return "SYNC" if role == "SYNC_MASTER" else "ASYNC"


def _labels(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def _restart(obj: Mapping[str, Any]) -> str:
    return str(((obj.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_RESTART) or "")


def _generation(obj: Mapping[str, Any]) -> int:
    return int((obj.get("metadata") or {}).get("generation", 0))
