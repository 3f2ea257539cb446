"""Covers the RBAC in manifests/rbac: it grants exactly what the code calls (tests/rbac_derived.py reads
that from the code); no more, no less."""

from __future__ import annotations

from rocketmq_operator.controllers.runtime.control import ObjectControl, StatusWriter
from rocketmq_operator.kube import LEASES
from rocketmq_operator.leaderelection import LeaderElector
from tests.rbac_derived import RBAC, client_verbs, granted, grants, required


def test_the_cluster_role_grants_exactly_what_the_controllers_call():
    need, have = required(), granted(RBAC / "cluster_role.yaml")
    assert sorted(have - need) == [], "granted but never called"
    assert sorted(need - have) == [], "called but not granted"


def test_the_leader_election_role_grants_exactly_what_the_elector_calls():
    assert granted(RBAC / "leader_election_role.yaml") == grants(LEASES, client_verbs(LeaderElector))


def test_verbs_are_read_from_the_code():
    assert client_verbs(ObjectControl) == {"create", "update", "delete"}
    assert client_verbs(StatusWriter) == {"update"}
