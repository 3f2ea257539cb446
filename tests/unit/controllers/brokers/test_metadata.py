"""Covers the scale-out copy's pure parts: which group is the source (scalePodName in the Apache form, else
group 0), which groups still need a copy, and that nothing is attempted before RocketMQ was observed."""

from __future__ import annotations

import pytest

from rocketmq_operator.controllers.brokers.metadata import copy_metadata, source_group
from rocketmq_operator.resources.model import from_broker


def broker(size: int, scale_pod: str | None = None):
    spec = {"size": size, "replicaPerGroup": 1, "brokerImage": "x", "nameServers": "ns:9876"}
    if scale_pod is not None:
        spec["scalePodName"] = scale_pod
    return from_broker({"metadata": {"name": "broker", "namespace": "ns", "uid": "u"}, "spec": spec})


@pytest.mark.parametrize("scale_pod, group", [
    (None, 0), ("broker-0-master-0", 0), ("broker-1-master-0", 1), ("broker-1-0", 1), ("broker-7-0", 0),
    ("other-1-0", 0), ("broker-x", 0)])
def test_the_source_group_comes_from_scale_pod_name(scale_pod, group):
    assert source_group(broker(3, scale_pod)) == group


def test_without_observed_facts_the_copy_waits_and_a_cluster_of_one_group_needs_none():
    assert copy_metadata(broker(2), None, (), admin_factory=None).waiting.startswith("waiting for RocketMQ")
    assert copy_metadata(broker(1), None, (), admin_factory=None).waiting is None
    assert copy_metadata(broker(3), None, (1, 2), admin_factory=None).copied == (1, 2)
