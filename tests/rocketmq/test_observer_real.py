"""Covers the observer against real RocketMQ (a name server, a master and its slave on loopback): the facts it
reads (registration on every name server, roles, version, a slave's lag) and the name-server push — a second
name server reaches the running brokers by UPDATE_BROKER_CONFIG, without a restart, and they register
there."""

from __future__ import annotations

import time

import pytest

from rocketmq_operator.controllers.observe.observer import Member, ObserveTarget, default_admin, observe
from rocketmq_operator.rocketmq import AdminClient
from tests.rocketmq.rmq_servers import start_namesrv, stop_all, wait_until

pytestmark = pytest.mark.rocketmq


def target(rocketmq, name_servers: tuple[str, ...], *, pushed: str | None = None) -> ObserveTarget:
    members = (Member(pod="broker-0-0", addr=rocketmq.master, broker_name=rocketmq.broker_name, broker_id=0),
               Member(pod="broker-0-1", addr=rocketmq.slave, broker_name=rocketmq.broker_name, broker_id=1))
    return ObserveTarget(cluster_name=rocketmq.cluster, name_servers=name_servers,
                         namesrv_addr=";".join(name_servers) if pushed is None else pushed, members=members)


def test_an_observation_reads_registration_roles_versions_and_lag(rocketmq, rocketmq_jars):
    facts = observe(target(rocketmq, (rocketmq.namesrv,)), admin_factory=default_admin, now=time.monotonic)
    assert facts.name_servers_up == 1 and facts.registered == 2
    master, slave = facts.brokers
    assert (master.pod, master.role, master.broker_id, master.registered_on) == ("broker-0-0", "MASTER", 0, 1)
    assert (slave.pod, slave.role, slave.broker_id) == ("broker-0-1", "SLAVE", 1)
    assert master.version == rocketmq_jars.version_desc and slave.lag_bytes is not None and (
        slave.lag_bytes >= 0)
    assert master.namesrv_synced and slave.namesrv_synced


def test_an_observation_reads_the_masters_put_and_get_tps(rocketmq):
    def master_tps() -> tuple[float, float] | None:
        master = observe(target(rocketmq, (rocketmq.namesrv,)), admin_factory=default_admin,
                         now=time.monotonic).brokers[0]
        return (master.put_tps, master.get_tps) if None not in (master.put_tps, master.get_tps) else None

    # A freshly started broker reports its rates once its first sampling window is complete.
    put, get = wait_until(master_tps, timeout=60, interval=1.0,
                          what="the master's putTps and getTransferredTps")
    assert put >= 0 and get >= 0


def test_a_dead_name_server_costs_one_bounded_timeout_and_is_named(rocketmq):
    started = time.monotonic()
    facts = observe(target(rocketmq, (rocketmq.namesrv, "127.0.0.1:1"), pushed=rocketmq.namesrv),
                    admin_factory=default_admin, now=time.monotonic)
    assert time.monotonic() - started < 15
    assert facts.name_servers_up == 1 and len(facts.name_server_errors) == 1
    assert "127.0.0.1:1" in facts.name_server_errors[0]


def test_a_new_name_server_is_pushed_to_running_brokers_and_they_register_there(
        rocketmq, rocketmq_jars, tmp_path):
    proc, second = start_namesrv(rocketmq_jars, tmp_path / "namesrv-2")
    try:
        proc.wait_booted()
        both = (rocketmq.namesrv, second)
        facts = observe(target(rocketmq, both), admin_factory=default_admin, now=time.monotonic)
        assert all(b.namesrv_synced for b in facts.brokers)
        with AdminClient(rocketmq.master) as admin:
            assert admin.broker_config(rocketmq.master)["namesrvAddr"] == ";".join(both)
        started = time.monotonic()
        wait_until(lambda: observe(target(rocketmq, both), admin_factory=default_admin,
                                   now=time.monotonic).registered == 2, timeout=90,
                   what="both brokers registered on the second name server too", interval=1.0)
        print(f"registered on the new name server {time.monotonic() - started:.1f}s after the push")
    finally:
        for b in (rocketmq.master, rocketmq.slave):  # back to the session's single name server
            with AdminClient(b) as admin:
                admin.update_broker_config(b, {"namesrvAddr": rocketmq.namesrv})
        stop_all([proc])
