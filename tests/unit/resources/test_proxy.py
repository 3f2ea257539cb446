"""Covers the Proxy builders: rmq-proxy.json from the name servers, both ports on the Service, a rolling
update of one pod at a time (a single proxy surges instead), and the start command as a shell runs it."""

from __future__ import annotations

import json
import subprocess

from rocketmq_operator.resources.proxy import ENV_CONFIG, START_COMMAND, from_proxy, proxy_objects

ADDR = "ns-0.ns.rocketmq.svc.cluster.local:9876;ns-1.ns.rocketmq.svc.cluster.local:9876"


def test_the_proxies_run_in_cluster_mode_with_the_name_servers_and_both_ports(sample):
    model = from_proxy(sample("rocketmq-proxy.yaml"), name_server_address=ADDR)
    service, deployment, pdb = proxy_objects(model)
    assert [(p["name"], p["port"]) for p in service["spec"]["ports"]] == [("grpc", 8081), ("remoting", 8080)]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    config = json.loads(next(e["value"] for e in container["env"] if e["name"] == ENV_CONFIG))
    assert config == {"rocketMQClusterName": "DefaultCluster", "namesrvAddr": ADDR, "proxyMode": "cluster",
                      "remotingListenPort": 8080, "grpcServerPort": 8081}
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 1, "maxSurge": 0}
    assert container["readinessProbe"]["tcpSocket"]["port"] == 8081
    assert pdb["spec"]["maxUnavailable"] == 1


def test_a_single_proxy_is_surged_so_a_roll_never_leaves_none(sample, with_spec):
    model = from_proxy(with_spec(sample("rocketmq-proxy.yaml"), size=1), name_server_address=ADDR)
    assert proxy_objects(model)[1]["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0,
                                                                            "maxSurge": 1}


def test_a_name_server_change_is_a_new_pod_template(sample):
    one = proxy_objects(from_proxy(sample("rocketmq-proxy.yaml"), name_server_address=ADDR.split(";")[0]))[1]
    two = proxy_objects(from_proxy(sample("rocketmq-proxy.yaml"), name_server_address=ADDR))[1]
    assert one["spec"]["template"] != two["spec"]["template"]


def test_the_start_command_writes_the_configuration_and_starts_mqproxy_in_cluster_mode(tmp_path, monkeypatch):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "mqproxy").write_text('echo "$@"; cat "$2"\n')
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    command = START_COMMAND.replace("/tmp/rocketmq-operator", str(run_dir))
    env = {"ROCKETMQ_HOME": str(tmp_path), ENV_CONFIG: '{"namesrvAddr":"a:9876"}', "PATH": "/usr/bin:/bin"}
    out = subprocess.run(["/bin/sh", "-c", command], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert out.splitlines() == [f"-pc {run_dir}/rmq-proxy.json -pm cluster", '{"namesrvAddr":"a:9876"}']


def test_a_missing_image_or_name_servers_are_problems(sample, with_spec):
    model = from_proxy(with_spec(sample("rocketmq-proxy.yaml"), proxyImage=""), name_server_address="")
    assert [p.field for p in model.problems] == ["spec.proxyImage", "spec.nameServers"]
