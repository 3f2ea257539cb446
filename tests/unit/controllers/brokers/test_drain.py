"""Covers the drain of a removed broker group: recorded before anything is done, writes wiped, deleted only
when RocketMQ says every broker of the group holds nothing (read after the producers' grace), a wait naming
what is held or unknown otherwise, stopped (nothing deleted) or deleted with the loss accepted after the
timeout, and refused without observation."""

from __future__ import annotations

from typing import Any

import pytest

from rocketmq_operator.controllers.brokers import drain as dr
from rocketmq_operator.controllers.brokers.drain import PRODUCER_GRACE, drain_step, unobserved_step
from rocketmq_operator.controllers.observe.observer import BrokerFacts, ClusterFacts, ObserveTarget
from rocketmq_operator.rocketmq import ProtocolError, RemotingTimeout
from tests.unit.controllers.drain_fakes import NAME_SERVER, Admin, Master

TARGET = ObserveTarget(cluster_name="C", name_servers=(NAME_SERVER,), namesrv_addr=NAME_SERVER, members=())
MASTER, OTHER = "10.0.0.3:10911", "10.0.0.4:10911"
STARTED = {"group": 1, "startedAt": 100.0}
FENCED = {**STARTED, "wipedAt": 100.0}  # the write fence in place since the drain began
LATER = 100.0 + PRODUCER_GRACE  # the first time an empty read may delete


def facts(*brokers: BrokerFacts) -> ClusterFacts:
    return ClusterFacts(target=TARGET, read_at=0, name_servers_up=1, name_server_errors=(), brokers=brokers)


def member(name: str, addr: str, *, broker_id: int = 0, registered_on: int = 1) -> BrokerFacts:
    return BrokerFacts(f"pod-{addr}", addr, broker_name=name, broker_id=broker_id,
                       role="MASTER" if broker_id == 0 else "SLAVE", registered_on=registered_on)


FACTS = facts(member("broker-1", MASTER), member("broker-1", "10.0.0.9:10911", broker_id=1))


def consumed() -> Master:
    """broker-1: topic T (two queues) and its retry topic, all consumed by group orders."""
    return (Master("broker-1").topic("T", 10, 5).consumed("orders", "T", 10, 5)
            .topic("%RETRY%orders", 2).consumed("orders", "%RETRY%orders", 2))


def step(admin: Admin, drain: dict[str, Any], *, now: float = LATER, cluster: ClusterFacts | None = FACTS,
         names: tuple[str, ...] = ("broker-1",), timeout: float = 600, accept_loss: bool = False):
    return drain_step([1], drain, cluster, now=now, timeout=timeout, brokers=lambda g: names,
                      admin_factory=lambda addrs: admin, name_servers=(NAME_SERVER,), accept_loss=accept_loss)


# -- the happy path ------------------------------------------------------------------------------------------

def test_the_drain_is_recorded_first_and_nothing_else_happens():
    admin = Admin({MASTER: consumed()})
    first = step(admin, {}, now=100.0)
    assert first.drain == STARTED and first.delete is None and admin.calls == []
    assert first.reason == "Started"


def test_a_group_whose_every_queue_is_consumed_is_deleted_once_producers_had_the_grace():
    admin = Admin({MASTER: consumed()})
    result = step(admin, FENCED)
    assert (result.delete, result.drain, result.lost) == (1, {}, None)
    assert admin.wiped == ["broker-1"] and admin.closed


def test_an_empty_group_read_right_after_the_first_wipe_waits_for_producers_to_leave():
    admin = Admin({MASTER: consumed()})
    admin.wipe_count = 4
    result = step(admin, STARTED, now=110.0)
    assert result.delete is None and result.drain == {**STARTED, "wipedAt": 110.0}
    assert result.reason == "WaitingForProducers" and "0/30 s" in result.waiting


def test_the_producers_grace_runs_from_the_first_wipe_that_succeeded_everywhere():
    admin = Admin({MASTER: consumed()})
    admin.wipe_count = 4  # a name server counts the broker's topics, changed or not
    assert step(admin, FENCED, now=LATER - 1).drain["wipedAt"] == 100.0
    assert step(admin, FENCED, now=LATER).delete == 1


def test_messages_below_a_queues_min_offset_are_gone_and_not_held():
    master = consumed()
    master.queues["T"][0] = (10, 10)  # all ten consumed by nobody, but already deleted by the broker
    master.offsets["orders"]["T"][0] = 3
    assert step(Admin({MASTER: master}), FENCED).delete == 1


def test_the_brokers_bookkeeping_topics_are_not_counted():
    master = consumed().topic("RMQ_SYS_TRANS_OP_HALF_TOPIC", 9).topic("rmq_sys_REVIVE_LOG_C", 9, 9)
    master.topic("rmq_sys_wheel_timer", 9).topic("CHECKPOINT_TOPIC", 3)
    assert step(Admin({MASTER: master}), FENCED).delete == 1


# -- what is held keeps the group ----------------------------------------------------------------------------

def test_a_consumer_group_that_lags_keeps_the_group_and_is_named_with_its_count():
    master = consumed().consumed("orders", "T", 3, 5)
    result = step(Admin({MASTER: master}), FENCED)
    assert result.delete is None and result.reason == "MessagesHeld"
    assert "broker-1 holds 7 messages of T for group orders" in result.waiting


def test_a_queue_without_an_offset_of_its_group_counts_from_its_min_offset():
    master = consumed().consumed("orders", "T", 10)  # queue 1 (5 messages) never committed
    assert "5 messages of T for group orders" in step(Admin({MASTER: master}), FENCED).waiting


def test_every_group_of_a_topic_must_have_consumed_it():
    master = consumed().consumed("audit", "T", 10, 4)
    result = step(Admin({MASTER: master}), FENCED)
    assert result.delete is None and "1 messages of T for group audit" in result.waiting


def test_unconsumed_messages_of_a_retry_topic_keep_the_group():
    master = consumed().consumed("orders", "%RETRY%orders", 0)
    result = step(Admin({MASTER: master}), FENCED)
    assert result.delete is None and "2 messages of %RETRY%orders for group orders" in result.waiting


def test_a_topic_holding_messages_that_no_group_consumes_keeps_the_group():
    master = consumed().topic("%DLQ%orders", 3).topic("new-topic", 1, 1)
    result = step(Admin({MASTER: master}), FENCED)
    assert result.delete is None
    assert "3 messages of %DLQ%orders, which no consumer group consumes" in result.waiting
    assert "2 messages of new-topic, which no consumer group consumes" in result.waiting


def test_a_group_online_for_other_topics_only_does_not_consume_a_topic_it_has_stale_offsets_on():
    master = consumed().topic("old", 4).consumed("orders", "old", 0)
    master.online["orders"] = {"T", "%RETRY%orders"}
    result = step(Admin({MASTER: master}), FENCED)
    assert "4 messages of old, which no consumer group consumes" in result.waiting


def test_a_group_online_and_subscribed_without_offsets_yet_has_consumed_nothing():
    master = consumed()
    master.online["fresh"] = {"T"}
    assert "15 messages of T for group fresh" in step(Admin({MASTER: master}), FENCED).waiting


def test_delay_messages_not_delivered_keep_the_group():
    master = consumed().topic("SCHEDULE_TOPIC_XXXX", 0, 0, 6, 2)  # levels 3 and 4 hold messages
    master.runtime["scheduleMessageOffset_3"] = "4,6"  # level 3 delivered 4 of them; level 4 never ran
    result = step(Admin({MASTER: master}), FENCED)
    assert result.delete is None and "4 delay messages not delivered yet" in result.waiting


def test_delivered_delay_messages_do_not_keep_the_group():
    master = consumed().topic("SCHEDULE_TOPIC_XXXX", 0, 0, 6)
    master.runtime["scheduleMessageOffset_3"] = "6,6"
    assert step(Admin({MASTER: master}), FENCED).delete == 1


@pytest.mark.parametrize("key", ["timerOffsetBehind", "timerCongestNum"])
def test_timer_messages_not_delivered_keep_the_group(key):
    master = consumed()
    master.runtime[key] = "3"
    result = step(Admin({MASTER: master}), FENCED)
    assert result.delete is None and "3 timer messages not delivered yet" in result.waiting


def test_half_messages_not_settled_by_the_transaction_check_keep_the_group():
    master = consumed().topic("RMQ_SYS_TRANS_HALF_TOPIC", 5).consumed("CID_RMQ_SYS_TRANS",
                                                                      "RMQ_SYS_TRANS_HALF_TOPIC", 3)
    result = step(Admin({MASTER: master}), FENCED)
    assert result.delete is None
    assert "2 transactional half messages not committed or rolled back yet" in result.waiting


def test_half_messages_the_transaction_check_never_looked_at_are_all_pending():
    master = consumed().topic("RMQ_SYS_TRANS_HALF_TOPIC", 5)
    assert "5 transactional half messages" in step(Admin({MASTER: master}), FENCED).waiting


def test_settled_half_messages_do_not_keep_the_group():
    master = consumed().topic("RMQ_SYS_TRANS_HALF_TOPIC", 5).consumed("CID_RMQ_SYS_TRANS",
                                                                      "RMQ_SYS_TRANS_HALF_TOPIC", 5)
    assert step(Admin({MASTER: master}), FENCED).delete == 1


# -- what is not known is a wait -----------------------------------------------------------------------------

def test_a_consume_stats_timeout_is_a_wait_naming_it_not_nothing_held():
    master = consumed().consumed("orders", "T", 0, 0)
    master.queues["T"] = {0: (0, 1_000_000), 1: (0, 0)}
    admin = Admin({MASTER: master})
    admin.fail["broker_consume_stats"] = RemotingTimeout("no response in 3 s", addr=MASTER)
    result = step(admin, FENCED)
    assert result.delete is None and result.reason == "StateUnknown"
    assert "not known" in result.waiting and "no response in 3 s" in result.waiting
    assert result.drain["wipedAt"] == 100.0  # the fence held: only the read failed


@pytest.mark.parametrize("method", ["topic_configs", "topic_stats", "topic_consumers", "deferred_messages"])
def test_any_failed_read_is_a_wait(method):
    admin = Admin({MASTER: consumed()})
    admin.fail[method] = RemotingTimeout("timed out", addr=MASTER)
    result = step(admin, FENCED)
    assert result.delete is None and result.reason == "StateUnknown" and admin.closed


def test_an_unreadable_runtime_figure_is_a_wait():
    admin = Admin({MASTER: consumed()})
    admin.fail["deferred_messages"] = ProtocolError("malformed delivery figures in runtime info", addr=MASTER)
    result = step(admin, FENCED)
    assert result.delete is None and result.reason == "StateUnknown" and "malformed" in result.waiting


def test_a_master_not_registered_is_a_wait_and_rocketmq_is_not_asked():
    admin = Admin({MASTER: consumed()})
    for cluster in (None, facts(), facts(member("broker-1", MASTER, registered_on=0)),
                    facts(member("broker-1", "10.0.0.9:10911", broker_id=1))):
        result = step(admin, FENCED, cluster=cluster)
        assert result.delete is None and result.reason == "StateUnknown"
        assert "the master of broker-1 is not registered" in result.waiting
    assert admin.calls == []


def test_a_wipe_that_failed_on_a_name_server_is_a_wait_and_restarts_the_grace():
    admin = Admin({MASTER: consumed()})
    admin.wipe_errors = {NAME_SERVER: RemotingTimeout("timed out", addr=NAME_SERVER)}
    result = step(admin, FENCED)
    assert result.delete is None and result.reason == "StateUnknown" and (
        "could not be wiped" in result.waiting)
    assert "wipedAt" not in result.drain and admin.calls == ["wipe_write_perm"]


# -- every broker of the group -------------------------------------------------------------------------------

ALL_MASTER = facts(member("c-1-0", MASTER), member("c-1-1", OTHER))


def test_every_broker_of_the_group_is_wiped_and_read_and_all_empty_deletes():
    admin = Admin({MASTER: Master("c-1-0").topic("T", 3).consumed("g", "T", 3),
                   OTHER: Master("c-1-1").topic("T", 2).consumed("g", "T", 2)})
    result = step(admin, FENCED, cluster=ALL_MASTER, names=("c-1-0", "c-1-1"))
    assert result.delete == 1 and admin.wiped == ["c-1-0", "c-1-1"]


def test_one_broker_of_the_group_that_holds_messages_keeps_it():
    admin = Admin({MASTER: Master("c-1-0").topic("T", 3).consumed("g", "T", 3),
                   OTHER: Master("c-1-1").topic("T", 2).consumed("g", "T", 1)})
    result = step(admin, FENCED, cluster=ALL_MASTER, names=("c-1-0", "c-1-1"))
    assert result.delete is None and "c-1-1 holds 1 messages of T for group g" in result.waiting


def test_one_broker_of_the_group_not_registered_keeps_it():
    admin = Admin({MASTER: Master("c-1-0")})
    result = step(admin, FENCED, cluster=facts(member("c-1-0", MASTER)), names=("c-1-0", "c-1-1"))
    assert result.delete is None and "the master of c-1-1 is not registered" in result.waiting


# -- the timeout and the accepted loss -----------------------------------------------------------------------

def test_after_the_timeout_the_drain_stops_says_what_is_left_and_deletes_nothing():
    master = consumed().consumed("orders", "T", 7, 5)
    first = step(Admin({MASTER: master}), FENCED, now=800)
    assert first.delete is None and first.reason == "DrainTimedOut" and first.drain["group"] == 1
    assert "3 messages of T for group orders" in first.stuck and "nothing is deleted" in first.stuck
    assert "drainAcceptMessageLoss" in first.stuck
    assert step(Admin({MASTER: master}), FENCED, now=900).stuck == first.stuck  # the message does not tick


def test_a_group_drained_after_the_timeout_is_still_deleted():
    assert step(Admin({MASTER: consumed()}), FENCED, now=800).delete == 1


def test_with_the_loss_accepted_a_held_group_waits_until_the_timeout_then_is_deleted_saying_what_was_lost():
    master = consumed().topic("%DLQ%orders", 3)
    assert step(Admin({MASTER: master}), FENCED, now=600, accept_loss=True).delete is None
    result = step(Admin({MASTER: master}), FENCED, now=800, accept_loss=True)
    assert result.delete == 1 and result.drain == {} and "3 messages of %DLQ%orders" in result.lost


def test_with_the_loss_accepted_an_unknown_group_is_deleted_after_the_timeout():
    result = step(Admin({}), FENCED, cluster=None, now=800, accept_loss=True)
    assert result.delete == 1 and "not registered" in result.lost


def test_without_observation_the_removal_is_refused_saying_how_to_proceed():
    result = unobserved_step([1, 2], accept_loss=False)
    assert result.delete is None and result.reason == "NotObserved" and result.drain == {}
    assert "--rocketmq-observe-interval" in result.stuck and f"{dr.ACCEPT_LOSS_FIELD}: true" in result.stuck


def test_without_observation_the_accepted_loss_deletes_the_highest_group_undrained():
    result = unobserved_step([1, 2], accept_loss=True)
    assert result.delete == 2 and "undrained" in result.lost
