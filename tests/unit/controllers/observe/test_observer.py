"""Covers the observer's schedule and the status it leads to: one observation at a time per cluster, again
after the interval or at once when the target changes, facts too old count as unknown; registration turned
into the BrokersRegistered condition and each member's status entry (the admin client is replaced by a
scripted one here; tests/rocketmq/test_observer_real.py runs the same code against real RocketMQ)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rocketmq_operator.controllers.brokers.registration import broker_fields, registration
from rocketmq_operator.controllers.observe.observer import (
    BrokerFacts,
    ClusterFacts,
    Member,
    Observer,
    ObserveTarget,
)
from tests.fakeclock import FakeClock
from tests.unit.controllers.fakes import InlinePool, World

MEMBERS = (Member("c-0-0", "10.0.0.1:10911", "broker-0", 0), Member("c-0-1", "10.0.0.2:10911", "broker-0", 1))
TARGET = ObserveTarget(cluster_name="DefaultCluster", name_servers=("ns-a:9876", "ns-b:9876"),
                       namesrv_addr="ns-0:9876;ns-1:9876", members=MEMBERS)


def observer(world: World, clock: FakeClock, interval: float = 30.0) -> Observer:
    obs = Observer(interval=interval, clock=clock, admin_factory=world.admin, pool=InlinePool())
    return obs


def test_an_observation_reads_every_name_server_and_broker_and_pushes_the_name_servers():
    world, clock = World(), FakeClock()
    obs = observer(world, clock)
    done: list[Any] = []
    obs.on_done(done.append)
    obs.ensure("c", TARGET)
    facts = obs.facts("c")
    assert done == ["c"] and facts.name_servers_up == 2 and facts.registered == 2
    master, slave = facts.brokers
    assert (master.role, master.registered_on, slave.role, slave.lag_bytes) == ("MASTER", 2, "SLAVE", 800)
    assert world.pushes == [("10.0.0.1:10911", "ns-0:9876;ns-1:9876"),
                            ("10.0.0.2:10911", "ns-0:9876;ns-1:9876")]
    assert all(b.namesrv_synced for b in facts.brokers)


def test_a_brokers_put_and_get_tps_are_the_latest_window_of_its_runtime_info():
    world, clock = World(), FakeClock()
    world.runtime_tables["10.0.0.1:10911"] = {"putTps": "12.5 10.0 9.0", "getTransferredTps": "7.25 6.0 5.0"}
    world.runtime_tables["10.0.0.2:10911"] = {"putTps": "", "getTransferredTps": "n/a"}
    obs = observer(world, clock)
    obs.ensure("c", TARGET)
    master, slave = obs.facts("c").brokers
    assert (master.put_tps, master.get_tps) == (12.5, 7.25)
    assert (slave.put_tps, slave.get_tps) == (None, None)


def test_a_4x_brokers_get_tps_is_read_under_its_old_spelling():
    world, clock = World(), FakeClock()
    world.runtime_tables["10.0.0.1:10911"] = {"getTransferedTps": "3.0 2.0 1.0"}
    obs = observer(world, clock)
    obs.ensure("c", TARGET)
    assert obs.facts("c").brokers[0].get_tps == 3.0


def test_within_the_interval_an_unchanged_target_is_not_observed_again_and_a_changed_one_is():
    world, clock = World(), FakeClock()
    obs = observer(world, clock)
    obs.ensure("c", TARGET)
    calls = world.calls
    clock.step(10)
    obs.ensure("c", TARGET)
    assert world.calls == calls
    obs.ensure("c", replace(TARGET, namesrv_addr="ns-0:9876"))
    assert world.calls > calls
    calls = world.calls
    clock.step(31)
    obs.ensure("c", replace(TARGET, namesrv_addr="ns-0:9876"))
    assert world.calls > calls


def test_facts_older_than_three_intervals_count_as_unknown():
    world, clock = World(), FakeClock()
    obs = observer(world, clock)
    obs.ensure("c", TARGET)
    clock.step(89)
    assert obs.fresh_facts("c") is not None
    clock.step(2)
    assert obs.fresh_facts("c") is None


def test_a_dead_name_server_is_named_and_registration_counts_the_live_ones():
    world, clock = World(), FakeClock()
    world.dead.add("ns-b:9876")
    obs = observer(world, clock)
    obs.ensure("c", TARGET)
    facts = obs.facts("c")
    assert facts.name_servers_up == 1 and "ns-b:9876" in facts.name_server_errors[0]
    assert registration(facts, pods(2)).status == "True"


def pods(n: int) -> list[dict[str, Any]]:
    return [{"metadata": {"name": f"c-0-{m}"}} for m in range(n)]


def facts_with(*brokers: BrokerFacts, up: int = 2, errors: tuple[str, ...] = ()) -> ClusterFacts:
    return ClusterFacts(target=TARGET, read_at=0.0, name_servers_up=up, name_server_errors=errors,
                        brokers=brokers)


def test_registration_before_any_observation_is_unknown():
    assert (registration(None, pods(2)).status, registration(None, pods(2)).reason) == (
        "Unknown", "Observing")


def test_a_member_on_no_name_server_is_not_registered_and_named():
    facts = facts_with(BrokerFacts("c-0-0", "a", registered_on=2), BrokerFacts("c-0-1", "b", registered_on=0))
    reg = registration(facts, pods(2))
    assert (reg.status, reg.reason, reg.registered, reg.serving) == ("False", "NotRegistered", 1, False)
    assert "waiting for c-0-1" in reg.message


def test_a_member_on_one_of_two_name_servers_serves_while_registration_propagates():
    facts = facts_with(BrokerFacts("c-0-0", "a", registered_on=2), BrokerFacts("c-0-1", "b", registered_on=1))
    reg = registration(facts, pods(2))
    assert (reg.status, reg.reason, reg.registered, reg.serving) == ("False", "Propagating", 2, True)
    assert "c-0-1 on 1" in reg.message and "c-0-0" not in reg.message


def test_no_name_server_answering_is_unreachable_with_the_errors_in_the_message():
    reg = registration(facts_with(up=0, errors=("name server ns-a:9876: refused",)), pods(2))
    assert reg.unreachable and reg.reason == "NameServersUnreachable" and "ns-a:9876: refused" in reg.message


def test_a_status_entry_takes_rocketmqs_role_and_dledger_roles_read_as_leader_and_follower():
    entry = {"name": "c-0-1", "role": "SLAVE", "brokerId": 1}
    broker = BrokerFacts("c-0-1", "10.0.0.2:10911", broker_name="broker-0", broker_id=0, role="MASTER",
                         version="V5_3_3", registered_on=2, namesrv_synced=True)
    facts = facts_with(broker)
    assert broker_fields(entry, broker, facts, dledger=False)["role"] == "MASTER"
    assert broker_fields(entry, broker, facts, dledger=True)["role"] == "LEADER"
    assert broker_fields(entry, None, facts, dledger=False) == entry


def test_an_observation_runs_on_the_observers_own_threads_and_reports_when_done():
    import threading

    world, clock = World(), FakeClock()
    obs = Observer(interval=30.0, clock=clock, admin_factory=world.admin, workers=1)
    done = threading.Event()
    obs.on_done(lambda key: done.set())
    try:
        obs.ensure("c", TARGET)
        assert done.wait(10), "the observation did not finish"
        assert obs.facts("c").registered == 2
    finally:
        obs.shutdown()


def silent_observer(world: World, clock: FakeClock) -> Observer:
    obs = observer(world, clock)
    obs._probes = InlinePool()
    return obs


def test_a_broker_that_times_out_costs_one_wait_then_is_skipped_and_named_while_the_others_are_read():
    world, clock = World(), FakeClock()
    world.silent.add("10.0.0.2:10911")
    obs = silent_observer(world, clock)
    obs.ensure("c", TARGET)
    assert "no response within the request timeout" in obs.facts("c").brokers[1].error
    clock.step(10)
    obs.ensure("c", replace(TARGET, namesrv_addr="ns-0:9876"))
    master, slave = obs.facts("c").brokers
    assert world.asked["10.0.0.2:10911"] == 1 and world.asked["10.0.0.1:10911"] == 2
    assert slave.error == "broker 10.0.0.2:10911: not answering for 10s, not asked until a probe answers"
    assert (slave.registered_on, master.error, master.max_offset) == (2, "", 5000)


def test_after_the_backoff_a_probe_asks_the_silent_broker_and_once_it_answers_observations_read_it_again():
    world, clock = World(), FakeClock()
    world.silent.add("10.0.0.2:10911")
    obs = silent_observer(world, clock)
    obs.ensure("c", TARGET)
    clock.step(30)
    obs.ensure("c", TARGET)  # the probe (inline here, on its own pool in production) times out again
    assert world.asked["10.0.0.2:10911"] == 2 and obs.facts("c").brokers[1].error
    world.silent.clear()
    clock.step(60)
    obs.ensure("c", TARGET)  # this observation still skips it; its probe gets an answer
    assert world.asked["10.0.0.2:10911"] == 3 and obs.silence.silent() == {}
    clock.step(30)
    obs.ensure("c", TARGET)
    assert world.asked["10.0.0.2:10911"] == 4 and obs.facts("c").brokers[1].error == ""


def test_a_silent_name_server_is_skipped_and_counted_down():
    world, clock = World(), FakeClock()
    world.silent.add("ns-b:9876")
    obs = silent_observer(world, clock)
    obs.ensure("c", TARGET)
    clock.step(30)
    obs.ensure("c", TARGET)
    facts = obs.facts("c")
    assert world.asked["ns-b:9876"] == 2  # the first observation and one probe, never the second observation
    assert facts.name_servers_up == 1 and "ns-b:9876: not answering for 30s" in facts.name_server_errors[0]
