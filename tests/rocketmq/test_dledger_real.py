"""Classic DLedger with real JVMs: three brokers with the DLedger keys the operator writes (seed 000 §6.1)
elect a leader among themselves; the leader killed with SIGKILL is replaced by a follower under a continuous
producer/consumer with no acknowledged message lost, and the old leader rejoins as a follower. Figures go to
the terminal summary."""

from __future__ import annotations

import os
import signal
import time

import pytest

from rocketmq_operator.resources.brokerconf import broker_conf
from rocketmq_operator.resources.model import from_broker
from rocketmq_operator.resources.properties import DLEDGER_KEYS, parse_properties_text
from rocketmq_operator.rocketmq import AdminClient, LoadRun, TopicConfig
from tests.rocketmq.rmq_servers import free_port, start_broker, start_namesrv, stop_all, wait_until

pytestmark = [pytest.mark.rocketmq, pytest.mark.timeout(900)]
CLUSTER, GROUP, TOPIC = "DledgerCluster", "dl-0", "dledger-orders"  # GROUP: the Broker dl's group 0


def operator_dledger_keys(member: int, ports: list[int]) -> dict[str, str]:
    """The DLedger keys of member ``member`` as the operator writes them for seed 000's sample, with the
    peers' pod names replaced by loopback ports."""
    obj = {"metadata": {"name": "dl", "namespace": "t", "uid": "u"},
           "spec": {"size": 1, "replicaPerGroup": 3, "replicationMode": "DLEDGER", "brokerImage": "x",
                    "nameServers": "ns:9876", "properties": {"brokerClusterName": CLUSTER}}}
    conf = parse_properties_text(broker_conf(from_broker(obj), group=0, member=member))
    keys = {k: conf[k] for k in DLEDGER_KEYS}
    peers = keys["dLegerPeers"].split(";")
    keys["dLegerPeers"] = ";".join(f"{p.split('-', 1)[0]}-127.0.0.1:{port}" for p, port in zip(peers, ports))
    return keys


@pytest.fixture(scope="module")
def dledger(rocketmq_jars, tmp_path_factory, rocketmq_report):
    home = tmp_path_factory.mktemp("dledger")
    ns_proc, namesrv = start_namesrv(rocketmq_jars, home / "namesrv")
    processes, brokers = [ns_proc], {}
    started = time.monotonic()
    try:
        ns_proc.wait_booted()
        ports = [free_port() for _ in range(3)]
        for m in range(3):
            keys = operator_dledger_keys(m, ports)
            proc, addr = start_broker(rocketmq_jars, home / f"broker-{m}", namesrv=namesrv, cluster=CLUSTER,
                                      name=GROUP, broker_id=m, extra={**keys, "brokerRole": "ASYNC_MASTER"})
            processes.append(proc)
            brokers[addr] = (proc, m, keys)
        for proc in processes[1:]:
            proc.wait_booted()
        wait_until(lambda: _registered(namesrv) == 3, timeout=120,
                   what="a leader and two followers registered")
        with AdminClient(namesrv) as admin:
            admin.create_topic(TopicConfig(TOPIC, read_queue_nums=4, write_queue_nums=4), cluster=CLUSTER)
        rocketmq_report.append(f"DLedger: name server + 3 brokers, leader elected and all registered after "
                               f"{time.monotonic() - started:.1f}s")
        yield namesrv, brokers, home, processes
    finally:
        stop_all(processes[1:])
        stop_all(processes[:1])


def _group(namesrv: str):
    with AdminClient(namesrv, connect_timeout=1.0, request_timeout=3.0) as admin:
        return admin.cluster_info().brokers.get(GROUP)


def _registered(namesrv: str) -> int:
    group = _group(namesrv)
    return len(group.addrs) if group and group.master_addr else 0


def test_the_operators_dledger_keys_elect_one_leader(dledger):
    namesrv, brokers, _, _ = dledger
    group = _group(namesrv)
    assert group.master_addr in brokers and group.addrs[0] == group.master_addr and len(group.addrs) == 3


def test_a_killed_leader_is_replaced_by_a_follower_without_losing_acknowledged_messages(
        dledger, rocketmq_jars, rocketmq_report):
    namesrv, brokers, home, processes = dledger
    old = _group(namesrv).master_addr
    run = LoadRun(namesrv, TOPIC, rate=50, route_ttl=2.0, drain_timeout=90).start()
    try:
        time.sleep(5)
        killed = time.monotonic()
        proc, member, keys = brokers[old]
        os.killpg(proc.proc.pid, signal.SIGKILL)
        proc.proc.wait(10)
        new = wait_until(lambda: (g := _group(namesrv)) and g.master_addr not in (None, old)
                         and g.master_addr,
                         timeout=90, what="a follower to become leader and register as master")
        took = time.monotonic() - killed
        time.sleep(8)
    finally:
        report = run.stop()
    rocketmq_report.append(
        f"DLedger fail-over (kill -9 leader {old}): new leader {new} registered in {took:.1f}s; "
        f"longest write pause {report.max_send_gap_s:.2f}s; sent {report.sent_ok}, "
        f"received {report.received}, lost {report.lost}, send errors {report.send_errors}")
    assert report.lost == 0, report.lost_keys
    assert report.drained
    back, addr = start_broker(rocketmq_jars, home / f"broker-{member}", namesrv=namesrv, cluster=CLUSTER,
                              name=GROUP,
                              broker_id=member, extra={**keys, "brokerRole": "ASYNC_MASTER"})
    processes.append(back)
    back.wait_booted()
    wait_until(lambda: (g := _group(namesrv)) and addr in g.addrs.values() and g.master_addr == new,
               timeout=90,
               what="the old leader to rejoin as a follower")
