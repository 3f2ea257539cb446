"""Covers the kinds the operator installs but does not act on yet (Controller): one status write saying so,
nothing created, nothing written again."""

from __future__ import annotations

import pytest

from rocketmq_operator.controllers.registry import UNSERVED
from rocketmq_operator.controllers.runner import Key
from rocketmq_operator.kube import CONTROLLERS, TOPIC_TRANSFERS


def test_topic_transfers_are_served_and_controllers_are_not_yet():
    assert UNSERVED == (CONTROLLERS,) and TOPIC_TRANSFERS not in UNSERVED


@pytest.mark.parametrize("resource", UNSERVED, ids=lambda r: r.kind)
def test_an_unserved_kind_reports_not_served_once_and_then_writes_nothing(cluster, resource):
    cluster.seed(resource, {"apiVersion": "rocketmq.apache.org/v1alpha1", "kind": resource.kind,
                            "metadata": {"name": "x", "namespace": "default", "generation": 1}, "spec": {}})
    cluster.unserved_reconciler(resource).sync(Key("default", "x"))
    [action] = cluster.api.actions
    assert (action.verb, action.resource, action.subresource) == ("update", resource.plural, "status")
    [ready] = action.body["status"]["conditions"]
    assert (ready["type"], ready["status"], ready["reason"]) == ("Ready", "False", "NotServed")
    cluster.catch_up()
    cluster.api.clear()
    cluster.clock.step(600)
    cluster.unserved_reconciler(resource).sync(Key("default", "x"))
    assert cluster.api.actions == []
