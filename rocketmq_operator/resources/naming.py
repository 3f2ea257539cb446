"""Names and DNS addresses of the objects the operator creates.

Every name the operator derives from a custom resource is spelled here, once, so that builders,
broker.conf rendering and controllers agree on them:

- broker group ``g`` of cluster ``c``: StatefulSet and headless Service ``c-g``, ConfigMap
  ``c-g-config``, PodDisruptionBudget ``c-g``, pods ``c-g-m`` (``m`` = member ordinal, 0 = master);
- RocketMQ names: DLedger self id ``n<m>`` (broker names are resources.identity's);
- inside the pods: the RocketMQ home, the broker's store directory, the volumes and env the
  operator adds;
- name service ``n``: StatefulSet and headless Service ``n``, pods ``n-i`` reachable at
  ``n-i.n.<namespace>.svc.<cluster domain>:9876``.
"""

from __future__ import annotations

DEFAULT_CLUSTER_DOMAIN = "cluster.local"

# The RocketMQ images' home. The data volume is mounted at <home>/logs and <home>/store, and
# broker.conf names the store directory explicitly, so the store is on the volume even in an image
# whose user has another home (RocketMQ's default is ${user.home}/store).
ROCKETMQ_HOME_DIR = "/home/rocketmq"
BROKER_STORE_DIR = f"{ROCKETMQ_HOME_DIR}/store"

# Pod volumes and env the operator adds, in names a user will not pick for their own. (Renaming
# a volume changes the pod template, so an operator upgrade that did — 'broker-config' and
# 'broker-run' became these, because the Apache operator's example calls its own volume
# 'broker-config' — rolls each broker group once.)
CONFIG_VOLUME = "rocketmq-operator-config"
RUN_VOLUME = "rocketmq-operator-run"
FIELD_ENV = ("POD_NAME", "POD_NAMESPACE", "POD_IP")  # from the downward API
BROKER_ENV = (*FIELD_ENV, "BROKER_CONF_DIR", "BROKER_RUN_DIR")  # read by start-broker.sh

BROKER_PORT = 10911
BROKER_VIP_PORT = 10909  # listenPort - 2 ("fast remoting")
BROKER_HA_PORT = 10912  # listenPort + 1 (master → slave replication)
DLEDGER_PORT = 40911
NAME_SERVER_PORT = 9876
CONTROLLER_PORT = 9878  # a controller's Raft peer port, where it also serves brokers and admins
PROXY_REMOTING_PORT = 8080
PROXY_GRPC_PORT = 8081
CONTROLLER_STORE_DIR = f"{ROCKETMQ_HOME_DIR}/store/controller"
NAMESRV_CONTROLLER_STORE_DIR = f"{ROCKETMQ_HOME_DIR}/namesrv/controller"  # a name server's data volume
CONTROLLER_ENV = ("CONTROLLER_DLEGER_GROUP", "CONTROLLER_DLEGER_PEERS", "CONTROLLER_STORE_PATH")


def group_name(cluster: str, group: int) -> str:
    """StatefulSet, headless Service and PodDisruptionBudget name of broker group ``group``."""
    return f"{cluster}-{group}"


def cluster_service_name(cluster: str) -> str:
    """The headless Service of every broker group of ``cluster``; also the name of its PodDisruptionBudget
    and of the ConfigMap of the groups' broker.conf files (those that fit, see resources.configlayout)."""
    return f"{cluster}-brokers"


def config_map_name(cluster: str, group: int) -> str:
    """Name of the ConfigMap of broker group ``group``, for a group with one of its own (created so by an
    earlier version, or whose files did not fit in the cluster's)."""
    return f"{group_name(cluster, group)}-config"


def pod_name(cluster: str, group: int, member: int) -> str:
    """Name of member ``member`` of broker group ``group`` (the StatefulSet's pod ``member``)."""
    return f"{group_name(cluster, group)}-{member}"


def dledger_self_id(member: int) -> str:
    """DLedger ``dLegerSelfId`` of member ``member`` of a group."""
    return f"n{member}"


def service_domain(namespace: str, *, cluster_domain: str = DEFAULT_CLUSTER_DOMAIN) -> str:
    """DNS suffix of Services in ``namespace``: ``<namespace>.svc.<cluster domain>``."""
    return f"{namespace}.svc.{cluster_domain}"


def pod_fqdn(pod: str, service: str, namespace: str, *, cluster_domain: str = DEFAULT_CLUSTER_DOMAIN) -> str:
    """Stable DNS name of a StatefulSet pod behind its headless Service."""
    return f"{pod}.{service}.{service_domain(namespace, cluster_domain=cluster_domain)}"


def dledger_peers(
    cluster: str, group: int, *, members: int, namespace: str, service: str,
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN,
) -> str:
    """``dLegerPeers`` of a group: ``n0-<pod 0 fqdn>:40911;n1-<pod 1 fqdn>:40911;...``.

    Stable DNS names behind the group's headless Service ``service``, not pod IPs, so that a restarted pod
    keeps its peers' configuration.
    """
    return ";".join(
        f"{dledger_self_id(m)}-"
        f"{pod_fqdn(pod_name(cluster, group, m), service, namespace, cluster_domain=cluster_domain)}"
        f":{DLEDGER_PORT}"
        for m in range(members)
    )


def name_server_hosts(
    name: str, namespace: str, size: int, *, cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
) -> list[str]:
    """``host:port`` of each pod of a NameService of ``size`` pods, in ordinal order."""
    return [
        f"{pod_fqdn(f'{name}-{i}', name, namespace, cluster_domain=cluster_domain)}:{NAME_SERVER_PORT}"
        for i in range(size)
    ]


def name_server_address(
    name: str, namespace: str, size: int, *, cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
) -> str:
    """RocketMQ ``namesrvAddr`` for a NameService of ``size`` pods: ``host:port;host:port``."""
    return ";".join(name_server_hosts(name, namespace, size, cluster_domain=cluster_domain))


def controller_self_id(ordinal: int) -> str:
    """``controllerDLegerSelfId`` of controller pod ``ordinal``."""
    return f"n{ordinal}"


def controller_hosts(
    name: str, namespace: str, size: int, *, cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
) -> list[str]:
    """``host:port`` of each controller of a StatefulSet ``name`` of ``size`` pods behind the headless
    Service ``name`` (a Controller's, or a NameService's when it embeds the controller)."""
    return [
        f"{pod_fqdn(f'{name}-{i}', name, namespace, cluster_domain=cluster_domain)}:{CONTROLLER_PORT}"
        for i in range(size)
    ]


def controller_peers(
    name: str, namespace: str, size: int, *, cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
) -> str:
    """``controllerDLegerPeers``: ``n0-<pod 0 fqdn>:9878;n1-...`` (stable names, as for DLedger brokers)."""
    hosts = controller_hosts(name, namespace, size, cluster_domain=cluster_domain)
    return ";".join(f"{controller_self_id(i)}-{host}" for i, host in enumerate(hosts))


def controller_address(
    name: str, namespace: str, size: int, *, cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
) -> str:
    """A broker's ``controllerAddr`` for those controllers: ``host:9878;host:9878``."""
    return ";".join(controller_hosts(name, namespace, size, cluster_domain=cluster_domain))
