"""Covers the Controller builders: the Raft peers and self id the pods write, the headless Service, the store
on the data volume, the Apache example's fields, and what an invalid spec reports."""

from __future__ import annotations

import subprocess

from rocketmq_operator.resources import naming
from rocketmq_operator.resources.controllers import (
    ENV_PEERS,
    controller_objects,
    from_controller,
    start_command,
)


def _peers(env: list[dict]) -> str:
    return next(e["value"] for e in env if e["name"] == ENV_PEERS)


def test_three_controllers_name_each_other_by_stable_dns_names_on_the_peer_port(sample):
    model = from_controller(sample("rocketmq-controller.yaml"))
    service, sts, pdb = controller_objects(model)
    fqdn = "rocketmq-controller-{}.rocketmq-controller.rocketmq.svc.cluster.local:9878"
    container = sts["spec"]["template"]["spec"]["containers"][0]
    assert _peers(container["env"]) == ";".join(f"n{i}-{fqdn.format(i)}" for i in range(3))
    assert model.address == ";".join(fqdn.format(i) for i in range(3))
    assert service["spec"]["clusterIP"] == "None" and service["spec"]["publishNotReadyAddresses"]
    assert service["spec"]["ports"][0]["port"] == naming.CONTROLLER_PORT == 9878
    assert (sts["spec"]["replicas"], sts["spec"]["serviceName"]) == (3, "rocketmq-controller")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert container["startupProbe"]["tcpSocket"]["port"] == 9878


def test_the_start_command_writes_the_self_id_from_the_pod_ordinal_and_runs_the_script(tmp_path):
    """The command really runs in a shell; a fake mqcontroller prints the file it was given."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "mqcontroller").write_text('shift; cat "$1"\n')
    store = tmp_path / "store"
    command = start_command(f"{store}/controller.conf", script="mqcontroller")
    env = {"ROCKETMQ_HOME": str(tmp_path), "POD_NAME": "c-2", "CONTROLLER_DLEGER_GROUP": "c",
           "CONTROLLER_DLEGER_PEERS": "n0-a:9878;n1-b:9878;n2-c:9878", "CONTROLLER_STORE_PATH": str(store),
           "PATH": "/usr/bin:/bin"}
    out = subprocess.run(["/bin/sh", "-c", command], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert out.splitlines() == ["controllerDLegerGroup=c",
                                "controllerDLegerPeers=n0-a:9878;n1-b:9878;n2-c:9878",
                                "controllerDLegerSelfId=n2", f"controllerStorePath={store}",
                                "mappedFileSize=67108864"]


def test_the_apache_example_keeps_its_host_path_store_and_resources(sample):
    obj = sample("rocketmq-controller.yaml")
    obj["spec"].update(storageMode="HostPath", hostPath="/data/rocketmq/controller",
                       volumeClaimTemplates=[{"metadata": {"name": "controller-storage"}, "spec": {}}])
    model = from_controller(obj)
    assert not model.problems
    sts = controller_objects(model)[1]
    pod = sts["spec"]["template"]["spec"]
    assert pod["volumes"][0]["hostPath"]["path"] == "/data/rocketmq/controller"
    mounts = {m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert mounts == {f"{naming.ROCKETMQ_HOME_DIR}/logs", f"{naming.ROCKETMQ_HOME_DIR}/store"}
    assert naming.CONTROLLER_STORE_DIR.startswith(f"{naming.ROCKETMQ_HOME_DIR}/store/")
    assert pod["containers"][0]["resources"]["limits"]["memory"] == "1Gi"
    assert "volumeClaimTemplates" not in sts["spec"]


def test_a_missing_image_and_an_env_var_the_operator_sets_are_problems(sample, with_spec):
    obj = with_spec(sample("rocketmq-controller.yaml"), controllerImage="",
                    env=[{"name": "CONTROLLER_DLEGER_PEERS", "value": "x"}])
    fields = [p.field for p in from_controller(obj).problems]
    assert fields == ["spec.controllerImage", "spec.env[0].name"]


def test_name_servers_embedding_the_controller_open_its_port_and_start_with_enable_controller_in_namesrv(
        sample, with_spec):
    from rocketmq_operator.resources.model import from_name_service
    from rocketmq_operator.resources.nameservers import name_service_objects

    plain = from_name_service(sample("nameserver.yaml"))
    embedded = from_name_service(with_spec(sample("nameserver.yaml"), enableControllerInNamesrv=True))
    assert plain.controller_address == "" and not plain.embedded_controller
    assert embedded.controller_address == ";".join(
        f"rocketmq-nameserver-{i}.rocketmq-nameserver.rocketmq.svc.cluster.local:9878" for i in range(2))
    service, sts, _ = name_service_objects(embedded)
    assert [p["port"] for p in service["spec"]["ports"]] == [9876, 9878]
    container = sts["spec"]["template"]["spec"]["containers"][0]
    command = container["command"][2]
    assert '"enableControllerInNamesrv=true"' in command and "mqnamesrv -c" in command
    assert _peers(container["env"]).startswith("n0-rocketmq-nameserver-0.rocketmq-nameserver.rocketmq.svc")
    plain_sts = name_service_objects(plain)[1]
    assert "enableControllerInNamesrv" not in (
        plain_sts["spec"]["template"]["spec"]["containers"][0]["command"][2])
