"""Covers brokers in CONTROLLER mode: the keys RocketMQ 5.3.3 needs in every member's broker.conf (no role or
id the operator would fight the controller over), where controllerAddr comes from, and what cannot combine."""

from __future__ import annotations

import pytest

from rocketmq_operator.resources.brokerconf import broker_conf
from rocketmq_operator.resources.model import from_broker, from_broker_cluster
from rocketmq_operator.resources.properties import parse_properties_text

CONTROLLERS = ";".join(f"rocketmq-controller-{i}.rocketmq-controller.rocketmq.svc.cluster.local:9878"
                       for i in range(3))


def test_every_member_starts_as_a_slave_with_id_minus_one_and_the_controller_keys(sample):
    model = from_broker(sample("rocketmq-cluster-controller.yaml"),
                        controller=sample("rocketmq-controller.yaml"))
    assert not model.problems and not model.notes and model.members_per_group == 3
    confs = [parse_properties_text(broker_conf(model, group=1, member=m)) for m in range(3)]
    assert confs[0] == confs[1] == confs[2]
    conf = confs[0]
    assert (conf["brokerName"], conf["brokerId"], conf["brokerRole"]) == ("rocketmq-ha-1", "-1", "SLAVE")
    assert (conf["enableControllerMode"], conf["controllerAddr"]) == ("true", CONTROLLERS)
    assert conf["allAckInSyncStateSet"] == "true"
    assert "enableDLegerCommitLog" not in conf


def test_the_user_may_turn_all_ack_off_but_not_pick_the_controller(sample, with_spec):
    obj = with_spec(sample("rocketmq-cluster-controller.yaml"),
                    properties={"allAckInSyncStateSet": False, "controllerAddr": "elsewhere:9878"})
    model = from_broker(obj, controller=sample("rocketmq-controller.yaml"))
    conf = parse_properties_text(broker_conf(model, group=0, member=0))
    assert conf["allAckInSyncStateSet"] == "false" and conf["controllerAddr"] == CONTROLLERS
    assert [n.field for n in model.notes] == ["spec.properties.controllerAddr"]


def test_name_servers_that_embed_the_controller_serve_a_cluster_without_a_controller_ref(sample, with_spec):
    obj = with_spec(sample("rocketmq-cluster-controller.yaml"), controllerRef=None)
    name_service = with_spec(sample("nameserver.yaml"), enableControllerInNamesrv=True)
    model = from_broker(obj, name_service=name_service)
    assert not model.problems
    assert model.controller_address == ";".join(
        f"rocketmq-nameserver-{i}.rocketmq-nameserver.rocketmq.svc.cluster.local:9878" for i in range(2))


@pytest.mark.parametrize("changes, field", [
    ({}, "spec.controllerRef"),                                  # the named Controller does not exist
    ({"controllerRef": None}, "spec.clusterMode"),               # no Controller and no embedding name servers
    ({"clusterMode": "CONTAINER"}, "spec.clusterMode"),
])
def test_a_controller_mode_cluster_without_controllers_is_a_problem(sample, with_spec, changes, field):
    model = from_broker(with_spec(sample("rocketmq-cluster-controller.yaml"), **changes))
    assert field in [p.field for p in model.problems]


def test_broker_cluster_controller_mode_cannot_be_all_master(sample, with_spec):
    obj = with_spec(sample("04-cluster-2m-2s.yaml"), clusterMode="CONTROLLER", allMaster=True)
    model = from_broker_cluster(obj, controller=sample("rocketmq-controller.yaml"))
    assert "CONTROLLER cannot be combined" in "; ".join(str(p) for p in model.problems)
    assert model.master_role is None


def test_a_role_from_an_apache_broker_common_conf_is_dropped_with_a_note_naming_the_controllers(
        sample, with_spec):
    obj = with_spec(sample("rocketmq-cluster-controller.yaml"),
                    properties={"brokerClusterName": "HaCluster", "brokerRole": "ASYNC_MASTER"})
    model = from_broker(obj, controller=sample("rocketmq-controller.yaml"))
    [note] = model.notes
    assert "in CONTROLLER mode the controllers elect the master" in note.message
    assert parse_properties_text(broker_conf(model, group=0, member=0))["brokerRole"] == "SLAVE"
