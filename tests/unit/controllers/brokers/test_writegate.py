"""Covers the write gate's predicate: which name servers are a NameService of the cluster's own namespace (by
stable DNS name or pod IP), and when the others may be written through (the resource's field and the
operator's flag, both)."""

from __future__ import annotations

import pytest

from rocketmq_operator.controllers.brokers.writegate import WriteGate, foreign_name_servers, write_gate
from rocketmq_operator.kube import NAME_SERVICES, PODS
from tests.unit.controllers.fakes import Cluster, seed_name_service

OWN, OTHER = "team-a", "team-b"


def dns(name: str, namespace: str, i: int = 0) -> str:
    return f"{name}-{i}.{name}.{namespace}.svc.cluster.local:9876"


@pytest.fixture
def world() -> Cluster:
    cluster = Cluster()
    seed_name_service(cluster, OWN, "ns", size=2, ips=("10.1.0.1", "10.1.0.2"))
    seed_name_service(cluster, OTHER, "ns", size=2, ips=("10.2.0.1", "10.2.0.2"))
    cluster.seed(PODS, {"metadata": {"name": "broker-0-0", "namespace": OWN,
                                     "labels": {"app": "rocketmq-broker"}},
                        "status": {"podIP": "10.1.0.9"}})
    return cluster


def foreign(cluster: Cluster, *addrs: str) -> tuple[str, ...]:
    return foreign_name_servers(addrs, namespace=OWN, name_services=cluster.lister(NAME_SERVICES),
                                pods=cluster.lister(PODS))


def test_the_dns_names_of_a_name_service_of_the_namespace_are_own(world):
    assert foreign(world, dns("ns", OWN, 0), dns("ns", OWN, 1)) == ()


def test_the_same_name_service_name_in_another_namespace_is_foreign(world):
    assert foreign(world, dns("ns", OWN), dns("ns", OTHER)) == (dns("ns", OTHER),)


def test_a_dns_name_beyond_the_name_services_size_is_foreign(world):
    assert foreign(world, dns("ns", OWN, 2)) == (dns("ns", OWN, 2),)


def test_a_pod_name_of_the_namespace_without_a_name_service_is_foreign(world):
    assert foreign(world, dns("other", OWN)) == (dns("other", OWN),)


def test_a_dns_name_is_compared_without_case_or_a_trailing_dot(world):
    assert foreign(world, "NS-0.ns.team-a.svc.cluster.local.:9876") == ()


def test_the_pod_ip_of_a_name_service_pod_of_the_namespace_is_own(world):
    assert foreign(world, "10.1.0.1:9876", " 10.1.0.2:9876 ") == ()


def test_the_pod_ip_of_another_namespaces_name_server_is_foreign(world):
    assert foreign(world, "10.2.0.1:9876") == ("10.2.0.1:9876",)


def test_the_ip_of_a_pod_that_is_not_a_name_server_is_foreign(world):
    assert foreign(world, "10.1.0.9:9876") == ("10.1.0.9:9876",)


def test_an_own_pod_ip_on_another_port_is_foreign(world):
    assert foreign(world, "10.1.0.1:10911") == ("10.1.0.1:10911",)


def test_the_ip_of_a_name_server_pod_being_deleted_is_foreign(world):
    pod = world.lister(PODS).get(OWN, "ns-0")
    world.seed(PODS, {**pod, "metadata": {**pod["metadata"], "deletionTimestamp": "2026-01-01T00:00:00Z"}})
    assert foreign(world, "10.1.0.1:9876") == ("10.1.0.1:9876",)


def test_an_external_host_and_unknown_ips_are_foreign_and_kept_in_order(world):
    assert foreign(world, "mq.example.com:9876", dns("ns", OWN), "10.10.103.181:9876") == (
        "mq.example.com:9876", "10.10.103.181:9876")


def test_an_empty_list_has_nothing_foreign(world):
    assert foreign(world, "", " ") == ()


@pytest.mark.parametrize(("spec", "flag", "open_"), [(False, False, False), (True, False, False),
                                                     (False, True, False), (True, True, True)])
def test_foreign_name_servers_are_written_through_only_with_the_field_and_the_flag(spec, flag, open_):
    assert WriteGate(foreign=("mq.example.com:9876",), spec_allows=spec, operator_allows=flag).open is open_


def test_own_name_servers_are_written_through_without_either_opt_in(world):
    gate = write_gate([dns("ns", OWN)], namespace=OWN, name_services=world.lister(NAME_SERVICES),
                      pods=world.lister(PODS), spec_allows=False, operator_allows=False)
    assert gate.open and gate.refusal is None


def test_the_refusal_names_the_addresses_and_what_is_missing_to_opt_in():
    only_flag = WriteGate(foreign=("mq.example.com:9876",), spec_allows=False, operator_allows=True).refusal
    assert only_flag is not None and "mq.example.com:9876" in only_flag
    assert "spec.allowExternalNameServers is not true" in only_flag and "does not run with" not in only_flag
    neither = WriteGate(foreign=("mq.example.com:9876",)).refusal
    assert neither is not None and "does not run with --allow-external-name-servers" in neither
    assert ("set spec.allowExternalNameServers: true and run the operator with --allow-external-name-servers"
            in neither)
