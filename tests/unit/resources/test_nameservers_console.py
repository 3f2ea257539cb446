"""Covers the NameService and Console builders and the name-server address helpers."""

from __future__ import annotations

from rocketmq_operator.resources import console, model, nameservers, naming


def test_a_name_service_is_a_statefulset_a_headless_service_and_a_pdb_of_the_same_name(name_service):
    objs = nameservers.name_service_objects(model.from_name_service(name_service))
    assert [(o["kind"], o["metadata"]["name"]) for o in objs] == [
        ("Service", "rocketmq-nameserver"),
        ("StatefulSet", "rocketmq-nameserver"),
        ("PodDisruptionBudget", "rocketmq-nameserver"),
    ]
    pdb = objs[2]["spec"]
    assert pdb == {"maxUnavailable": 1, "selector": objs[1]["spec"]["selector"]}
    for obj in objs:
        assert obj["metadata"]["ownerReferences"][0]["kind"] == "NameService"
        assert obj["metadata"]["ownerReferences"][0]["controller"] is True
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "rocketmq-operator"


def test_the_name_server_pods_are_labelled_probed_and_configured_as_seed_000_asks(name_service):
    sts = nameservers.name_service_statefulset(model.from_name_service(name_service))
    spec = sts["spec"]
    assert (spec["replicas"], spec["serviceName"]) == (2, "rocketmq-nameserver")
    assert spec["template"]["metadata"]["labels"]["app"] == "rocketmq-nameserver"
    pod_spec = spec["template"]["spec"]
    assert pod_spec["dnsPolicy"] == "ClusterFirst"
    assert "hostNetwork" not in pod_spec
    container = pod_spec["containers"][0]
    assert container["readinessProbe"]["tcpSocket"] == {"port": 9876}
    assert container["ports"][0]["containerPort"] == 9876
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["resources"]["limits"] == {"memory": "1Gi", "cpu": "500m"}


def test_host_network_name_servers_still_resolve_cluster_dns(name_service, with_spec):
    obj = with_spec(name_service, hostNetwork=True, dnsPolicy=None)
    pod_spec = nameservers.name_service_statefulset(model.from_name_service(obj))["spec"]["template"]["spec"]
    assert (pod_spec["hostNetwork"], pod_spec["dnsPolicy"]) == (True, "ClusterFirstWithHostNet")


def test_the_name_service_service_publishes_not_ready_pods_on_9876(name_service):
    svc = nameservers.name_service_service(model.from_name_service(name_service))
    assert svc["spec"]["clusterIP"] == "None"
    assert svc["spec"]["publishNotReadyAddresses"] is True
    assert svc["spec"]["ports"][0]["port"] == 9876
    assert svc["spec"]["selector"] == {
        "app": "rocketmq-nameserver",
        "app.kubernetes.io/instance": "rocketmq-nameserver",
    }


def test_name_server_address_lists_every_pod_by_its_stable_name():
    assert naming.name_server_address("ns", "prod", 3) == (
        "ns-0.ns.prod.svc.cluster.local:9876;ns-1.ns.prod.svc.cluster.local:9876;ns-2.ns.prod.svc.cluster.local:9876"
    )
    assert (
        naming.name_server_address("ns", "prod", 1, cluster_domain="k8s.local")
        == "ns-0.ns.prod.svc.k8s.local:9876"
    )


def test_status_addresses_match_the_brokers_address(name_service):
    m = model.from_name_service(name_service)
    assert ";".join(nameservers.name_service_status_addresses(m)) == m.address


def _console(sample):
    return sample("rocketmq_v1alpha1_console_cr.yaml", uid="uid-console")


def test_the_console_deployment_gets_the_name_server_address_in_java_opts(sample):
    deployment = console.console_deployment(_console(sample), name_server_address="a:9876;b:9876")
    assert (deployment["metadata"]["name"], deployment["metadata"]["namespace"]) == ("console", "rocketmq")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "JAVA_OPTS", "value": "-Drocketmq.namesrv.addr=a:9876;b:9876"} in container["env"]
    assert deployment["metadata"]["ownerReferences"][0]["uid"] == "uid-console"


def test_existing_java_opts_are_kept_and_an_old_address_is_replaced():
    opts = "-Xmx1g -Drocketmq.namesrv.addr=old:9876 -Dx=y"
    assert console.with_name_server(opts, "new:9876") == "-Xmx1g -Dx=y -Drocketmq.namesrv.addr=new:9876"


def test_the_console_selector_and_pod_labels_agree(sample):
    deployment = console.console_deployment(_console(sample), name_server_address="a:9876")
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector == {"app": "rocketmq-console"}
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_the_console_service_exposes_the_first_container_port(sample):
    deployment, service = console.console_objects(_console(sample), name_server_address="a:9876")
    assert service["metadata"]["name"] == "console"
    assert service["spec"]["ports"][0]["port"] == 8080
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_the_console_builder_leaves_the_custom_resource_untouched(sample):
    obj = _console(sample)
    console.console_objects(obj, name_server_address="a:9876")
    containers = obj["spec"]["consoleDeployment"]["spec"]["template"]["spec"]["containers"]
    assert "env" not in containers[0]


def test_name_servers_get_the_production_pod_defaults(name_service):
    pod_spec = nameservers.name_service_statefulset(model.from_name_service(name_service))["spec"][
        "template"
    ]["spec"]
    container = pod_spec["containers"][0]
    assert container["startupProbe"]["tcpSocket"] == container["livenessProbe"]["tcpSocket"] == {"port": 9876}
    assert pod_spec["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod_spec["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"] == (
        nameservers.name_service_selector(model.from_name_service(name_service))
    )
