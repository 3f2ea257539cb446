"""Covers the drain of a removed broker group: recorded before anything is done, writes wiped, deleted only
when every consumer group's lag on it is 0, stopped (nothing deleted) after the timeout."""

from __future__ import annotations

from typing import Any

from rocketmq_operator.controllers.drain import drain_step
from rocketmq_operator.controllers.observer import BrokerFacts, ClusterFacts, ObserveTarget
from rocketmq_operator.rocketmq.types import ConsumeStats, MessageQueue, QueueOffsets

TARGET = ObserveTarget(cluster_name="C", name_servers=("ns:9876",), namesrv_addr="ns:9876", members=())
FACTS = ClusterFacts(target=TARGET, read_at=0, name_servers_up=1, name_server_errors=(), brokers=(
    BrokerFacts("c-1-0", "10.0.0.3:10911", broker_name="broker-1", broker_id=0, role="MASTER", registered_on=1),))


class Admin:
    def __init__(self, lag: int) -> None:
        self.lag, self.wiped = lag, []

    def close(self) -> None:
        pass

    def wipe_write_perm(self, broker: str) -> None:
        self.wiped.append(broker)

    def subscription_groups(self, addr: str) -> dict[str, Any]:
        return {"orders": {}, "CID_RMQ_SYS_X": {}}

    def broker_consume_stats(self, addr: str, group: str) -> ConsumeStats:
        offsets = {MessageQueue("T", "broker-1", 0): QueueOffsets(broker_offset=10 + self.lag, consumer_offset=10,
                                                                  last_timestamp=0)}
        return ConsumeStats(offsets=offsets)


def step(admin: Admin, drain: dict[str, Any], *, now: float = 100.0):
    return drain_step([1], drain, FACTS, now=now, timeout=600, brokers=lambda g: (f"broker-{g}",),
                      admin_factory=lambda addrs: admin,
                      name_servers=("ns:9876",))


def test_the_drain_is_recorded_first_and_nothing_else_happens():
    admin = Admin(lag=0)
    first = step(admin, {})
    assert first.drain == {"group": 1, "startedAt": 100.0} and first.delete is None and admin.wiped == []


def test_a_group_with_unconsumed_messages_is_wiped_and_kept():
    admin = Admin(lag=7)
    result = step(admin, {"group": 1, "startedAt": 100.0}, now=150)
    assert admin.wiped == ["broker-1"] and result.delete is None and "orders (7 messages)" in result.waiting


def test_a_consumed_group_is_deleted_and_the_drain_cleared():
    result = step(Admin(lag=0), {"group": 1, "startedAt": 100.0}, now=150)
    assert result.delete == 1 and result.drain == {}


def test_after_the_timeout_the_drain_stops_and_deletes_nothing():
    result = step(Admin(lag=3), {"group": 1, "startedAt": 100.0}, now=800)
    assert result.delete is None and "nothing is deleted" in result.stuck
