"""Covers ControllerGroupReconciler.sync: Service, StatefulSet and budget then status, a second pass that
writes nothing, the leader RocketMQ reports (observed off the worker), a group without a leader, and a bad
spec."""

from __future__ import annotations

from typing import Any

from rocketmq_operator.controllers.observe.observer import Observer
from rocketmq_operator.controllers.runtime.runner import Key
from rocketmq_operator.kube import CONTROLLERS
from rocketmq_operator.rocketmq import ConnectError
from rocketmq_operator.rocketmq.controlleradmin import CONTROLLER_GET_METADATA_INFO
from rocketmq_operator.rocketmq.protocol import RemotingCommand
from tests.unit.controllers.fakes import Cluster, InlinePool, load_sample, play_statefulset_controller

NS, NAME = "rocketmq", "rocketmq-controller"
KEY = Key(NS, NAME)
IPS = {f"{NAME}-{i}": f"10.0.0.{i + 1}" for i in range(3)}


class RaftAdmin:
    """Answers GET_CONTROLLER_METADATA_INFO like a Raft group whose leader is ``leader`` (an address)."""

    def __init__(self, world: dict[str, Any]) -> None:
        self.world = world

    def invoke(self, addr: str, code: int, *, timeout: float | None = None, **_: Any) -> RemotingCommand:
        assert code == CONTROLLER_GET_METADATA_INFO
        if addr in self.world["dead"]:
            raise ConnectError("refused", addr=addr)
        leader = self.world["leader"]
        return RemotingCommand(code=0, ext_fields={"group": NAME, "controllerLeaderAddress": leader or "",
                                                   "isLeader": str(addr == leader).lower(),
                                                   "peers": "n0;n1;n2"})

    def close(self) -> None:
        pass


def observer(cluster: Cluster, world: dict[str, Any]) -> Observer:
    obs = Observer(interval=30.0, clock=cluster.clock, admin_factory=lambda addrs: RaftAdmin(world),
                   pool=InlinePool())
    return obs


def ready(status: dict[str, Any], type_: str = "Ready") -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == type_)


def running(cluster: Cluster, obs: Observer | None = None):
    cluster.seed(CONTROLLERS, load_sample("rocketmq-controller.yaml", uid="uid-c"))
    reconciler = cluster.controller_group_reconciler(observer=obs)
    reconciler.sync(KEY)
    play_statefulset_controller(cluster, NS, IPS)
    return reconciler


def test_a_new_controller_gets_its_headless_service_statefulset_and_budget_then_status(cluster):
    cluster.seed(CONTROLLERS, load_sample("rocketmq-controller.yaml", uid="uid-c"))
    assert cluster.controller_group_reconciler().sync(KEY) is None
    assert [a[:3] for a in cluster.api.heads()] == [
        ("create", "services", None), ("create", "statefulsets", None),
        ("create", "poddisruptionbudgets", None),
        ("update", "controllers", "status")]
    status = cluster.api.actions[-1].body["status"]
    assert status["controllerAddr"].count(":9878") == 3
    assert ready(status)["reason"] == "Progressing"


def test_ready_pods_make_it_ready_and_a_second_pass_writes_nothing(cluster):
    reconciler = running(cluster)
    cluster.api.clear()
    reconciler.sync(KEY)
    status = cluster.api.actions[-1].body["status"]
    assert (ready(status)["status"], ready(status)["reason"]) == ("True", "AllControllersReady")
    assert status["nodes"] == [f"{NAME}-{i}" for i in range(3)]
    cluster.catch_up()
    cluster.api.clear()
    reconciler.sync(KEY)
    assert cluster.api.actions == []


def test_status_names_the_member_that_leads_as_rocketmq_reports_it(cluster):
    world = {"leader": "10.0.0.2:9878", "dead": {"10.0.0.3:9878"}}
    reconciler = running(cluster, observer(cluster, world))
    cluster.api.clear()
    result = reconciler.sync(KEY)
    status = cluster.api.actions[-1].body["status"]
    assert status["leader"] == f"{NAME}-1"
    assert [(m["name"], m["role"]) for m in status["members"]] == [
        (f"{NAME}-0", "FOLLOWER"), (f"{NAME}-1", "LEADER"), (f"{NAME}-2", "UNKNOWN")]
    assert ready(status, "LeaderElected")["message"] == f"{NAME}-1 leads (2/3 members answered)"
    assert ready(status)["status"] == "True"
    assert result.requeue_after == 30.0


def test_a_group_without_a_leader_is_not_ready_and_says_so(cluster):
    world = {"leader": None, "dead": set()}
    reconciler = running(cluster, observer(cluster, world))
    reconciler.sync(KEY)
    status = cluster.api.actions[-1].body["status"]
    assert (ready(status)["status"], ready(status)["reason"]) == ("False", "NoLeader")
    assert ready(status, "LeaderElected")["status"] == "False" and status["leader"] == ""


def test_an_invalid_spec_is_a_condition_and_one_warning_creating_nothing(cluster):
    obj = load_sample("rocketmq-controller.yaml", uid="uid-c")
    obj["spec"]["storageMode"] = "HostPath"
    cluster.seed(CONTROLLERS, obj)
    cluster.controller_group_reconciler().sync(KEY)
    assert [a.verb for a in cluster.api.actions] == ["update"]
    assert ready(cluster.api.actions[0].body["status"])["reason"] == "InvalidSpec"
    assert cluster.recorder.reasons("Warning") == ["InvalidSpec"]
