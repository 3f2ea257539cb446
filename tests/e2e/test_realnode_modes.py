"""Cluster modes on real RocketMQ, side by side on one NameService of a real node (issues 31 and 23).

One namespace, one NameService and one Controller, and in it the mode matrix: allMaster 2x1 and 2x2 (the
shape that never became Ready while its masters were looked up as ``broker-<g>``), SYNC 2x2, DLEDGER 2x3 and
CONTROLLER 2x2 BrokerClusters, and two Apache Brokers of size 2 with one slave each (ASYNC and SYNC) and
``nameServers: ""`` (both on the namespace's NameService). Each has a cluster name of its own. Then, as
RocketMQ reports it: every cluster Ready, distinct broker names on the shared name server (pod names for
allMaster, ``<Broker name>-<g>`` for Apache Brokers, ``broker-<g>`` for the first BrokerCluster and
``<name>-<g>`` for the others), a topic created with ``-c <cluster>`` on every broker name of that cluster and
the messages sent to it all consumed; an allMaster scale-out copies the topic to the new master before it is
Ready; a BrokerCluster asking for broker names another cluster holds is refused before any pod starts. Heaps
are small, every cluster shares one name server, and the 28 brokers run in three waves of about ten.
"""

from __future__ import annotations

import time
import uuid

import pytest
from kubernetes import client

from tests.e2e.clusters import condition, create_cr, get_cr, patch_cr, wait_ready
from tests.e2e.conftest import kubectl
from tests.e2e.realnode import ROCKETMQ_IMAGE, placement
from tests.e2e.realnode import observing_operator as observing_operator_in
from tests.e2e.waiting import eventually

pytestmark = pytest.mark.realnode

NAME_SERVICE = "modes-ns"
HEAP = [{"name": "HEAP_OPTS", "value": "-Xms192m -Xmx192m -Xmn96m -XX:MaxDirectMemorySize=192m"}]
POD = {"imagePullPolicy": "IfNotPresent", "storageMode": "EmptyDir", "env": HEAP,
       "resources": {"requests": {"cpu": "20m", "memory": "384Mi"}}}
# ac keeps its stores on claims (the local cluster's default StorageClass): its roll restarts its masters,
# fenced one at a time; ab stays on EmptyDir, whose masters a roll must not restart
CLAIMS = {"storageMode": "StorageClass", "volumeClaimTemplates": [{
    "metadata": {"name": "broker-storage"},
    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}
CLUSTERS = {  # resource → (kind, RocketMQ cluster name, members per group)
    "am": ("BrokerCluster", "AllMasterCluster", 1),  # allMaster 2x1
    "am2": ("BrokerCluster", "AllMaster2", 2),  # allMaster 2x2
    "sy": ("BrokerCluster", "SyncCluster", 2),  # SYNC 2x2
    "dl": ("BrokerCluster", "DledgerCluster", 3),  # DLEDGER 2x3
    "ct": ("BrokerCluster", "ControllerCluster", 2),  # CONTROLLER 2x2, elected by the Controller ctl
    "ab": ("Broker", "ClusterB", 2),  # Apache Broker, ASYNC, size 2 (one slave each)
    "ac": ("Broker", "ClusterC", 2),  # Apache Broker, SYNC, size 2
}
ALL_MASTER = ("am", "am2")
FIGURES: dict[str, str] = {}


def _name_service() -> dict:
    return {"apiVersion": "rocketmq.apache.org/v1alpha1", "kind": "NameService",
            "metadata": {"name": NAME_SERVICE},
            "spec": {"size": 1, "nameServiceImage": ROCKETMQ_IMAGE, "imagePullPolicy": "IfNotPresent",
                     "storageMode": "EmptyDir", "dnsPolicy": "ClusterFirst",
                     "env": [{"name": "HEAP_OPTS", "value": "-Xms96m -Xmx96m -Xmn48m"}],
                     "resources": {"requests": {"cpu": "20m", "memory": "192Mi"}}, **placement()}}


def _controller() -> dict:
    return {"apiVersion": "rocketmq.apache.org/v1alpha1", "kind": "Controller", "metadata": {"name": "ctl"},
            "spec": {"size": 1, "controllerImage": ROCKETMQ_IMAGE, "storageMode": "EmptyDir",
                     "imagePullPolicy": "IfNotPresent",
                     "env": [{"name": "HEAP_OPTS", "value": "-Xms96m -Xmx96m -Xmn48m"}],
                     "resources": {"requests": {"cpu": "20m", "memory": "192Mi"}}, **placement()}}


def _broker_cluster(name: str) -> dict:
    _, cluster, members = CLUSTERS[name]
    spec = {"brokerImage": ROCKETMQ_IMAGE, "nameServiceRef": {"name": NAME_SERVICE}, "groupReplica": 2,
            "membersPerGroup": members, "clusterName": cluster, **POD, **placement()}
    spec.update({"am": {"allMaster": True}, "am2": {"allMaster": True}, "sy": {"replicationMode": "SYNC"},
                 "dl": {"replicationMode": "DLEDGER"},
                 "ct": {"clusterMode": "CONTROLLER", "controllerRef": {"name": "ctl"}}}[name])
    return {"apiVersion": "rocketmq.huanwei.io/v1alpha1", "kind": "BrokerCluster", "metadata": {"name": name},
            "spec": spec}


def _apache_broker(name: str) -> dict:
    _, cluster, members = CLUSTERS[name]
    return {"apiVersion": "rocketmq.apache.org/v1alpha1", "kind": "Broker", "metadata": {"name": name},
            "spec": {"size": 2, "replicaPerGroup": members - 1, "brokerImage": ROCKETMQ_IMAGE,
                     "nameServers": "",
                     "replicationMode": "ASYNC" if name == "ab" else "SYNC",
                     "properties": {"brokerClusterName": cluster}, **POD, **(CLAIMS if name == "ac" else {}),
                     **placement()}}


def _expected_names(name: str, obj: dict) -> list[str]:
    """What identity gives each cluster: pod names (allMaster), <Broker name>-<g>, and for a BrokerCluster
    broker-<g> or, when another cluster on the name server held broker-<g> first, <name>-<g>."""
    kind, _, members = CLUSTERS[name]
    if name in ALL_MASTER:
        return [f"{name}-{g}-{m}" for g in range(obj["spec"]["groupReplica"]) for m in range(members)]
    prefix = obj["status"]["brokerNamePrefix"]
    assert prefix == name or (kind == "BrokerCluster" and prefix == "broker"), (name, prefix)
    return [f"{prefix}-{g}" for g in range(2)]


# Waves of about ten brokers, each gone before the next starts (28 JVMs at once starve a 2-core machine
# until probes fail); the last wave stays for the scale-out and clash tests.
WAVES = (("am2", "dl"), ("sy", "ct"), ("am", "ab", "ac"))


@pytest.fixture(scope="module")
def modes_ns(api_client, real_nodes):
    name = f"e2e-modes-{uuid.uuid4().hex[:6]}"
    core = client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": name, "labels": {"e2e": "true"}}})
    yield name
    core.delete_namespace(name, propagation_policy="Background")


@pytest.fixture(scope="module")
def tenant_ns(api_client, modes_ns):
    """A second namespace, whose BrokerCluster names the first one's NameService by its DNS name."""
    name = f"{modes_ns}-tenant"
    core = client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": name, "labels": {"e2e": "true"}}})
    yield name
    core.delete_namespace(name, propagation_policy="Background")


@pytest.fixture(scope="module")
def modes(api_client, kubeconfig, operator_kubeconfig, modes_ns, tenant_ns):
    """Runs each wave: its clusters Ready, what the name server lists, a cluster topic with load on each;
    yields what was seen per cluster, the namespace and the name-server address (the last wave still up)."""
    ns = modes_ns
    seen: dict[str, dict] = {}
    with observing_operator_in(operator_kubeconfig, [ns, tenant_ns], identity="e2e-realnode-modes"):
        create_cr(api_client, "NameService", ns, _name_service())
        wait_ready(api_client, "NameService", ns, NAME_SERVICE, timeout=180)
        ip = client.CoreV1Api(api_client).read_namespaced_pod(f"{NAME_SERVICE}-0", ns).status.pod_ip
        namesrv = f"{ip}:9876"
        for i, wave in enumerate(WAVES):
            if i:
                _delete(api_client, ns, WAVES[i - 1])
            _run_wave(api_client, kubeconfig, ns, namesrv, wave, seen)
        yield {"ns": ns, "namesrv": namesrv, "seen": seen, "tenant_ns": tenant_ns}
    for key, value in FIGURES.items():
        print(f"FIGURE {key}: {value}")


def _run_wave(api_client, kubeconfig, ns: str, namesrv: str, wave: tuple[str, ...], seen: dict) -> None:
    start = time.monotonic()
    if "ct" in wave:
        create_cr(api_client, "Controller", ns, _controller())
    for name in wave:
        kind = CLUSTERS[name][0]
        create_cr(api_client, kind, ns,
                  _broker_cluster(name) if kind == "BrokerCluster" else _apache_broker(name))
    try:
        for name in wave:
            wait_ready(api_client, CLUSTERS[name][0], ns, name, timeout=420)
    except AssertionError as e:
        pods = kubectl(kubeconfig, "-n", ns, "get", "pods", "-o", "wide", check=False).stdout
        crs = kubectl(kubeconfig, "-n", ns, "get", "brokerclusters,brokers", "-o", "yaml", check=False).stdout
        raise AssertionError(f"{e}\n{pods}\n{crs[-6000:]}") from None
    FIGURES[f"wave {'+'.join(wave)} Ready"] = f"{time.monotonic() - start:.1f}s"
    info = _cluster_info(namesrv)
    for name in wave:
        obj = get_cr(api_client, CLUSTERS[name][0], ns, name)
        seen[name] = {"obj": obj, "info": info, "names": _expected_names(name, obj), "wave": wave,
                      **_topic_and_load(namesrv, name, _expected_names(name, obj))}


def _topic_and_load(namesrv: str, name: str, names: list[str]) -> dict:
    """A topic created on the cluster (``-c``), its route, and a few seconds of load through it."""
    from rocketmq_operator.rocketmq import AdminClient, LoadRun, TopicConfig

    cluster = CLUSTERS[name][1]
    topic = f"Modes-{name}"
    with AdminClient([namesrv]) as admin:
        admin.create_topic(TopicConfig(topic, read_queue_nums=2, write_queue_nums=2), cluster=cluster)
        route = eventually(lambda: (r := admin.topic_route(topic)) and len(r.queues) == len(names) and r,
                           timeout=60, interval=1, what=f"the route of {topic} on every broker of {cluster}")
    run = LoadRun([namesrv], topic, rate=40, group=f"modes-{name}", route_ttl=2.0, drain_timeout=60,
                  start_from="earliest").start()
    time.sleep(4)  # real traffic for a few seconds: the figure is what was sent, not a fixed count
    report = run.stop()
    FIGURES[f"{name} sent/received"] = f"{report.sent_ok}/{report.received}"
    return {"route": sorted(q.broker_name for q in route.queues), "load": report}


def _delete(api_client, ns: str, wave: tuple[str, ...]) -> None:
    """Deletes a wave's clusters (and the Controller) and waits until their pods are gone."""
    from tests.e2e.clusters import KINDS

    custom = client.CustomObjectsApi(api_client)
    for name in wave:
        group, version, plural = KINDS[CLUSTERS[name][0]]
        custom.delete_namespaced_custom_object(group, version, ns, plural, name)
    if "ct" in wave:
        group, version, plural = KINDS["Controller"]
        custom.delete_namespaced_custom_object(group, version, ns, plural, "ctl")
    core = client.CoreV1Api(api_client)
    prefixes = tuple(f"{n}-" for n in (*wave, "ctl"))
    eventually(lambda: not [p for p in core.list_namespaced_pod(ns).items
                            if p.metadata.name.startswith(prefixes)],
               timeout=180, interval=2, what=f"the pods of {', '.join(wave)} to go")


def _cluster_info(namesrv: str):
    from rocketmq_operator.rocketmq import AdminClient

    with AdminClient([namesrv]) as admin:
        return admin.cluster_info()


@pytest.mark.parametrize("name", list(CLUSTERS))
def test_every_mode_is_ready_with_its_brokers_registered_under_their_own_names(modes, name):
    seen = modes["seen"][name]
    _, cluster, members = CLUSTERS[name]
    info, names = seen["info"], seen["names"]
    assert sorted(info.clusters.get(cluster, ())) == sorted(names), (cluster, info.clusters)
    assert sorted({b["brokerName"] for b in seen["obj"]["status"]["brokers"]}) == sorted(names)
    per_name = 1 if name in ALL_MASTER else members
    assert all(len(info.brokers[n].addrs) == per_name for n in names), (name, info.brokers)


@pytest.mark.parametrize("wave", WAVES, ids=["+".join(w) for w in WAVES])
def test_clusters_on_one_name_server_never_share_a_broker_name_or_an_address(modes, wave):
    info = modes["seen"][wave[0]]["info"]
    names = [n for name in wave for n in modes["seen"][name]["names"]]
    assert len(names) == len(set(names)) and set(names) <= set(info.brokers), (names, sorted(info.brokers))
    addrs = [a for b in info.brokers.values() for a in b.addrs.values()]
    assert len(addrs) == len(set(addrs)) == sum(len(modes["seen"][n]["obj"]["status"]["brokers"])
                                                for n in wave)
    talk = [n for n in wave if n not in ALL_MASTER and CLUSTERS[n][0] == "BrokerCluster"
            and modes["seen"][n]["obj"]["status"]["brokerNamePrefix"] == "broker"]
    assert len(talk) == (1 if any(CLUSTERS[n][0] == "BrokerCluster" and n not in ALL_MASTER for n in wave)
                         else 0)


@pytest.mark.parametrize("name", list(CLUSTERS))
def test_a_cluster_topic_has_queues_on_every_broker_and_every_message_is_consumed(modes, name):
    seen = modes["seen"][name]
    assert seen["route"] == sorted(seen["names"])
    report = seen["load"]
    assert report.sent_ok > 0 and report.lost == 0 and report.received == report.sent_ok, report.to_json()


def test_an_allmaster_scale_out_copies_topics_and_groups_to_the_new_master_before_it_is_ready(
        modes, api_client):
    from rocketmq_operator.rocketmq import AdminClient, TopicConfig

    ns = modes["ns"]
    with AdminClient([modes["namesrv"]]) as admin:
        admin.create_topic(TopicConfig("Modes-copied", read_queue_nums=4, write_queue_nums=4),
                           cluster="AllMasterCluster")
        for broker in ("am-0-0", "am-1-0"):
            addr = _cluster_info(modes["namesrv"]).brokers[broker].addrs[0]
            admin.create_subscription_group(addr, {"groupName": "modes-copied-group", "retryMaxTimes": 7})
        patch_cr(api_client, "BrokerCluster", ns, "am", {"spec": {"groupReplica": 3}})
        start = time.monotonic()
        obj = wait_ready(api_client, "BrokerCluster", ns, "am", timeout=300)
        FIGURES["allMaster 2 -> 3 Ready"] = f"{time.monotonic() - start:.1f}s"
        new = next(b for b in _cluster_info(modes["namesrv"]).brokers.values() if b.name == "am-2-0")
        configs, groups = admin.topic_configs(new.addrs[0]), admin.subscription_groups(new.addrs[0])
    assert "Modes-copied" in configs, sorted(configs)
    assert groups["modes-copied-group"]["retryMaxTimes"] == 7, sorted(groups)
    assert configs["Modes-copied"].write_queue_nums == 4
    assert 2 in obj["status"]["scaleOut"]["copiedGroups"], obj["status"]


def test_a_cluster_asking_for_broker_names_another_holds_is_refused_before_its_pods_start(modes, api_client):
    ns = modes["ns"]
    clash = {"apiVersion": "rocketmq.huanwei.io/v1alpha1", "kind": "BrokerCluster",
             "metadata": {"name": "late"},
             "spec": {"brokerImage": ROCKETMQ_IMAGE, "nameServiceRef": {"name": NAME_SERVICE},
                      "brokerNamePrefix": "ab", "groupReplica": 1, "membersPerGroup": 1, **POD,
                      **placement()}}
    create_cr(api_client, "BrokerCluster", ns, clash)
    ready = eventually(lambda: (c := condition(get_cr(api_client, "BrokerCluster", ns, "late"), "Ready"))
                       .get("reason") == "BrokerNameClash" and c, timeout=60, interval=1,
                       what="BrokerNameClash")
    assert "Broker ab" in ready["message"] and "brokerNamePrefix" in ready["message"], ready
    sets = client.AppsV1Api(api_client).list_namespaced_stateful_set(
        ns, label_selector="rocketmq.apache.org/cluster=late")
    assert sets.items == []


class PermSampler:
    """Reads every second, from the name server, the write permission of each broker name in the routes of
    ``topics``; keeps each change as (seconds, broker name, writable)."""

    def __init__(self, namesrv: str, topics: list[str]) -> None:
        import threading

        self.namesrv, self.topics = namesrv, topics
        self.changes: list[tuple[float, str, bool]] = []
        self.samples = 0
        self._last: dict[str, bool] = {}
        self._stop = threading.Event()
        self._start = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from rocketmq_operator.rocketmq import AdminClient, RemotingError

        with AdminClient([self.namesrv], connect_timeout=1, request_timeout=2) as admin:
            while not self._stop.wait(1.0):
                try:
                    queues = [q for t in self.topics for q in admin.topic_route(t).queues]
                except RemotingError:
                    continue  # a sample lost, not a change
                self.samples += 1
                for q in queues:
                    if q.broker_name in self._last and self._last[q.broker_name] != q.writable:
                        self.changes.append((round(time.monotonic() - self._start, 1), q.broker_name,
                                             q.writable))
                    self._last[q.broker_name] = q.writable

    @property
    def last(self) -> dict[str, bool]:
        """Whether each broker name was writable when last read."""
        return dict(self._last)

    def stop(self) -> list[tuple[float, str, bool]]:
        self._stop.set()
        self._thread.join(5)
        return self.changes


def _rolled(api_client, ns: str, name: str, before: dict[int, str], *, members: tuple[int, ...],
            groups: tuple[int, ...] = (0, 1)) -> bool:
    """The given members of each group of ``name`` run the StatefulSet's new revision and are Ready."""
    core = client.CoreV1Api(api_client)
    apps = client.AppsV1Api(api_client)
    for g in groups:
        sts = apps.read_namespaced_stateful_set(f"{name}-{g}", ns)
        if sts.status.update_revision == before[g]:
            return False
        for m in members:
            pod = core.read_namespaced_pod(f"{name}-{g}-{m}", ns)
            ready = any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or ())
            if pod.metadata.labels.get("controller-revision-hash") != sts.status.update_revision or not ready:
                return False
    return True


def _read_all(namesrv: str, group: str, topic: str, keys: frozenset[str]) -> set[str]:
    """A consumer group that read nothing so far reads the topic from its start until it has every key."""
    from rocketmq_operator.rocketmq import PullConsumer

    received: set[str] = set()
    with PullConsumer([namesrv], group=group, topic=topic, start_from="earliest") as late:
        def read_all():
            received.update(k for m in late.poll() for k in m.keys)
            return keys <= received
        eventually(read_all, timeout=120, interval=0.2,
                   what=f"{group} to read every acknowledged key of {topic}")
    return received


@pytest.fixture(scope="module")
def tenant(modes, api_client):
    """A BrokerCluster of another namespace (one group of two, on claims) whose literal nameServers is the
    modes NameService's DNS name: it runs, registers and is Ready, but the operator may not write there."""
    from rocketmq_operator.rocketmq import AdminClient, TopicConfig

    ns = modes["tenant_ns"]
    host = f"{NAME_SERVICE}-0.{NAME_SERVICE}.{modes['ns']}.svc.cluster.local:9876"
    claims = {"storageMode": "StorageClass", "volumeClaimTemplate": CLAIMS["volumeClaimTemplates"][0]}
    create_cr(api_client, "BrokerCluster", ns, {
        "apiVersion": "rocketmq.huanwei.io/v1alpha1", "kind": "BrokerCluster", "metadata": {"name": "tenant"},
        "spec": {"brokerImage": ROCKETMQ_IMAGE, "nameServers": host, "brokerNamePrefix": "tenant",
                 "clusterName": "TenantCluster", "groupReplica": 1, "membersPerGroup": 2,
                 **POD, **claims, **placement()}})
    obj = wait_ready(api_client, "BrokerCluster", ns, "tenant", timeout=300)
    with AdminClient([modes["namesrv"]]) as admin:
        admin.create_topic(TopicConfig("Modes-tenant", read_queue_nums=2, write_queue_nums=2),
                           cluster="TenantCluster")
        eventually(lambda: admin.topic_route("Modes-tenant").queues, timeout=60, interval=1,
                   what="Modes-tenant's route")
    return {"ns": ns, "obj": obj}


def test_two_brokers_on_one_name_service_roll_under_load_and_neither_touches_the_others_brokers(
        modes, tenant, api_client, kubeconfig):
    """With them, the tenant's BrokerCluster rolls too: its slave restarts, its master is held with
    NameServersForeign (the operator may not wipe a permission on another namespace's name server), and its
    write permission never changes."""
    from rocketmq_operator.rocketmq import AdminClient, LoadRun

    ns, namesrv = modes["ns"], modes["namesrv"]
    names = {n: modes["seen"][n]["names"] for n in ("ab", "ac")}
    apps = client.AppsV1Api(api_client)
    tenant_before = {0: apps.read_namespaced_stateful_set("tenant-0", tenant["ns"]).status.update_revision}
    with AdminClient([namesrv]) as admin:  # a subscription group on every master, to find there afterwards
        for n in ("ab", "ac"):
            for broker in names[n]:
                admin.create_subscription_group(_cluster_info(namesrv).brokers[broker].addrs[0],
                                                {"groupName": f"modes-kept-{n}", "retryMaxTimes": 5})
    runs = {n: LoadRun([namesrv], f"Modes-{n}", rate=30, group=f"modes-roll-{n}", route_ttl=2.0,
                       drain_timeout=90).start() for n in ("ab", "ac")}
    time.sleep(3)  # traffic flowing before the rolls start
    before = {n: {g: apps.read_namespaced_stateful_set(f"{n}-{g}", ns).status.update_revision for g in (0, 1)}
              for n in ("ab", "ac")}
    core = client.CoreV1Api(api_client)
    unrolled = {(tenant["ns"] if p.startswith("tenant") else ns, p): None
                for p in ("ab-0-0", "ab-1-0", "tenant-0-0")}
    unrolled = {k: core.read_namespaced_pod(k[1], k[0]).metadata.uid for k in unrolled}
    perms = PermSampler(namesrv, ["Modes-ab", "Modes-ac", "Modes-tenant"])
    start = time.monotonic()
    for n in ("ab", "ac"):
        patch_cr(api_client, "Broker", ns, n, {"spec": {"properties": {"maxMessageSize": "4194304"}}})
    patch_cr(api_client, "BrokerCluster", tenant["ns"], "tenant",
             {"spec": {"properties": {"maxMessageSize": "4194304"}}})
    try:
        eventually(lambda: _rolled(api_client, tenant["ns"], "tenant", tenant_before, members=(1,),
                                   groups=(0,)),
                   timeout=600, interval=2, what="the tenant's slave to roll")
        held = eventually(lambda: (c := condition(get_cr(api_client, "BrokerCluster", tenant["ns"], "tenant"),
                                                  "NameServersForeign")).get("status") == "True" and c,
                          timeout=120, interval=1,
                          what="the tenant's roll held at its master: NameServersForeign")
        eventually(lambda: _rolled(api_client, ns, "ab", before["ab"], members=(1,)), timeout=600, interval=2,
                   what="ab's slaves to roll")
        eventually(lambda: _rolled(api_client, ns, "ac", before["ac"], members=(0, 1)), timeout=900,
                   interval=2, what="every member of ac to roll")
        FIGURES["ab + ac roll (2 slaves; 2 masters + 2 slaves)"] = f"{time.monotonic() - start:.1f}s"
        pending = eventually(lambda: (c := condition(get_cr(api_client, "Broker", ns, "ab"),
                                                     "RestartPending"))
                             .get("reason") == "EphemeralStorage" and c, timeout=60, interval=1,
                             what="ab's RestartPending condition")
        eventually(lambda: condition(get_cr(api_client, "Broker", ns, "ac"), "Ready").get("status") == "True"
                   and not get_cr(api_client, "Broker", ns, "ac")["status"].get("roll"), timeout=120,
                   interval=1, what="ac Ready with no roll in status")
    except AssertionError as e:
        for run in runs.values():
            run.stop()
        pods = kubectl(kubeconfig, "-n", ns, "get", "pods", "-o", "wide", check=False).stdout
        crs = kubectl(kubeconfig, "-n", ns, "get", "brokers", "-o", "yaml", check=False).stdout
        raise AssertionError(f"{e}\n{perms.stop()}\n{pods}\n{crs[-6000:]}") from None
    time.sleep(3)
    changes = perms.stop()
    reports = {n: run.stop() for n, run in runs.items()}
    acked = {n: run.acknowledged() for n, run in runs.items()}
    FIGURES["roll permission samples / changes"] = f"{perms.samples} / {changes}"
    assert {*names["ab"], *names["ac"], "tenant-0"} <= set(perms.last) and all(perms.last.values()), (
        perms.last)
    # ab's masters were never restarted and never fenced, nor the tenant's; ac's were, one at a time, and are
    # writable again
    assert not [c for c in changes if c[1] in (*names["ab"], "tenant-0") and not c[2]], changes
    # not restarted
    assert {k: core.read_namespaced_pod(k[1], k[0]).metadata.uid for k in unrolled} == unrolled
    assert "are not a NameService of this namespace" in held["message"], held
    rolling = condition(get_cr(api_client, "BrokerCluster", tenant["ns"], "tenant"), "Rolling")
    assert "wiping write permission of tenant-0" in rolling.get("message", ""), rolling
    wiped = [c for c in changes if not c[2]]
    assert sorted({c[1] for c in wiped}) == sorted(names["ac"]), changes
    assert all(c[1] in names["ac"] for c in changes), changes
    state: dict[str, bool] = {}
    for _, broker, writable in changes:
        state[broker] = writable
        assert sum(not w for w in state.values()) <= 1, changes  # at most one master read-only at a time
    assert all(state[b] for b in names["ac"]), changes
    assert "ab-" in pending["message"] or "master" in pending["message"], pending
    for n in ("ab", "ac"):
        report = reports[n]
        assert report.sent_ok > 0 and report.lost == 0 and report.drained, report.to_json()
        received = _read_all(namesrv, f"modes-lagging-{n}", f"Modes-{n}", acked[n])
        FIGURES[f"{n} roll: sent/received/lagging group"] = (
            f"{report.sent_ok}/{report.received}/{len(acked[n] & received)}")
    with AdminClient([namesrv]) as admin:
        info = _cluster_info(namesrv)
        for n in ("ab", "ac"):
            for broker in names[n]:
                addr = info.brokers[broker].addrs[0]
                assert f"Modes-{n}" in admin.topic_configs(addr), (broker, n)
                assert f"modes-kept-{n}" in admin.subscription_groups(addr), (broker, n)
