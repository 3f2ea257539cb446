"""kubectl rocketmq end to end, run by kubectl itself from PATH: status of a cluster the operator serves,
clear errors, pause and resume through the operator's annotation, and a restart the operator rolls one broker
at a time, each StatefulSet's template changed exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from kubernetes import client, watch

from rocketmq_operator.controllers.runtime.runner import Key
from tests.e2e.clusters import SAMPLES, condition, create_cr, get_cr, wait_condition, wait_ready
from tests.e2e.conftest import IN_CLUSTER_OPERATOR
from tests.e2e.test_brokercluster import _assert_rolled_slaves_first, small_cluster
from tests.e2e.waiting import eventually

PLUGIN_DIR = Path(sys.executable).parent  # the virtualenv's bin, where the package put kubectl-rocketmq
PAUSE = "rocketmq.apache.org/pause-reconcile"
RESTART = "rocketmq.apache.org/restartedAt"


def kubectl_rocketmq(kubeconfig: str, *args: str) -> subprocess.CompletedProcess:
    """``kubectl rocketmq ARGS``: kubectl finds the plugin on PATH."""
    env = {**os.environ, "PATH": f"{PLUGIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(["kubectl", "rocketmq", *args, "--kubeconfig", kubeconfig], capture_output=True,
                          text=True, env=env, timeout=60, check=False)


@pytest.mark.skipif(IN_CLUSTER_OPERATOR, reason="needs a cluster no operator serves yet")
def test_a_cluster_the_operator_has_not_reconciled_has_no_status_yet(kubeconfig, api_client, crds, namespace):
    # first in the module: no operator runs until a test asks for the fixture
    create_cr(api_client, "BrokerCluster", namespace, small_cluster(namespace))
    done = kubectl_rocketmq(kubeconfig, "status", "bc", "-n", namespace)
    assert done.returncode == 1
    assert done.stderr == (f"error: brokercluster.rocketmq.huanwei.io/bc has no status yet: the operator has "
                           f"not reconciled it (is the operator running and watching namespace "
                           f"'{namespace}'?)\n")
    broker = {"apiVersion": "rocketmq.apache.org/v1alpha1", "kind": "Broker", "metadata": {"name": "bc"},
              "spec": {"size": 1, "brokerImage": "apache/rocketmq:5.3.3", "nameServers": "127.0.0.1:9876"}}
    create_cr(api_client, "Broker", namespace, broker)
    both = kubectl_rocketmq(kubeconfig, "pause", "bc", "-n", namespace)
    assert both.returncode == 1
    assert both.stderr == (f"error: both a BrokerCluster and a Broker are named 'bc' in namespace "
                           f"'{namespace}': say brokercluster/bc or broker/bc\n")
    assert kubectl_rocketmq(kubeconfig, "pause", "broker/bc", "-n", namespace).returncode == 0
    assert get_cr(api_client, "Broker", namespace, "bc")["metadata"]["annotations"][PAUSE] == "true"
    assert PAUSE not in (get_cr(api_client, "BrokerCluster", namespace, "bc")["metadata"].get("annotations")
                         or {})


def test_status_shows_groups_members_roles_conditions_and_events(operator, kubeconfig, api_client, namespace):
    create_cr(api_client, "BrokerCluster", namespace, small_cluster(namespace))
    wait_ready(api_client, "BrokerCluster", namespace, "bc")
    done = kubectl_rocketmq(kubeconfig, "status", "bc", "-n", namespace)
    print(done.stdout)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "Ready:         True (AllBrokersReady) 4/4 brokers ready" in lines
    assert "Groups:        2/2 ready" in lines
    rows = [line.split() for line in lines if line.startswith(("0 ", "1 "))]
    assert [(r[1], r[2], r[3], r[4], r[5]) for r in rows] == [
        ("bc-0-0", "broker-0", "0", "SYNC_MASTER", "yes"), ("bc-0-1", "broker-0", "1", "SLAVE", "yes"),
        ("bc-1-0", "broker-1", "0", "SYNC_MASTER", "yes"), ("bc-1-1", "broker-1", "1", "SLAVE", "yes")]
    events = lines[lines.index(next(line for line in lines if line.startswith("Events"))):]
    assert any("Created" in line and "StatefulSet bc-0" in line for line in events)
    again = kubectl_rocketmq(kubeconfig, "status", "brokercluster/bc", "-n", namespace)
    assert again.returncode == 0 and again.stdout.splitlines()[:9] == lines[:9]


def test_a_name_nothing_has_is_one_clear_error(operator, kubeconfig, namespace):
    done = kubectl_rocketmq(kubeconfig, "status", "nothing", "-n", namespace)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == f"error: no BrokerCluster or Broker named 'nothing' in namespace '{namespace}'\n"


def test_pause_and_resume_set_and_clear_the_operators_annotation_writing_only_when_it_changes(
        operator, kubeconfig, api_client, namespace):
    create_cr(api_client, "BrokerCluster", namespace, small_cluster(namespace, groupReplica=1))
    wait_ready(api_client, "BrokerCluster", namespace, "bc")
    done = kubectl_rocketmq(kubeconfig, "pause", "bc", "-n", namespace)
    assert done.returncode == 0 and done.stdout.startswith("brokercluster.rocketmq.huanwei.io/bc paused")
    wait_condition(api_client, "BrokerCluster", namespace, "bc", "Paused", "True")
    version = get_cr(api_client, "BrokerCluster", namespace, "bc")["metadata"]["resourceVersion"]
    again = kubectl_rocketmq(kubeconfig, "pause", "bc", "-n", namespace)
    assert again.stdout == "brokercluster.rocketmq.huanwei.io/bc is already paused\n"
    assert get_cr(api_client, "BrokerCluster", namespace, "bc")["metadata"]["resourceVersion"] == version
    assert "Paused:" in kubectl_rocketmq(kubeconfig, "status", "bc", "-n", namespace).stdout
    done = kubectl_rocketmq(kubeconfig, "resume", "bc", "-n", namespace)
    assert done.stdout == "brokercluster.rocketmq.huanwei.io/bc resumed\n"
    # Ready stayed True while paused (nothing changed), so Ready alone does not say the resume was synced:
    # the Paused condition going away does.
    bc = eventually(lambda: (o := get_cr(api_client, "BrokerCluster", namespace, "bc")) and "Paused" not in [
        c["type"] for c in o["status"]["conditions"]] and o, timeout=30, what="the Paused condition to go")
    assert PAUSE not in (bc["metadata"].get("annotations") or {})
    assert condition(bc, "Ready")["status"] == "True"
    assert kubectl_rocketmq(kubeconfig, "resume", "bc", "-n", namespace).stdout == (
        "brokercluster.rocketmq.huanwei.io/bc is not paused\n")


class TemplateWatch:
    """Every distinct pod template each StatefulSet of the namespace had, in order, from a watch."""

    def __init__(self, api_client, namespace: str) -> None:
        self.seen: dict[str, list[str]] = {}
        self._api = client.AppsV1Api(api_client)
        self._serialize = api_client.sanitize_for_serialization
        self._namespace, self._stop = namespace, threading.Event()
        listed = self._api.list_namespaced_stateful_set(namespace)
        for sts in listed.items:
            self._record(sts)
        self._rv = listed.metadata.resource_version
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _record(self, sts) -> None:
        template = json.dumps(self._serialize(sts.spec.template), sort_keys=True)
        history = self.seen.setdefault(sts.metadata.name, [])
        if not history or history[-1] != template:
            history.append(template)

    def _run(self) -> None:
        while not self._stop.is_set():
            for event in watch.Watch().stream(self._api.list_namespaced_stateful_set, self._namespace,
                                              resource_version=self._rv, timeout_seconds=2):
                self._rv = event["object"].metadata.resource_version
                self._record(event["object"])

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def test_restart_rolls_every_broker_once_one_at_a_time_through_one_template_change(
        operator, kubeconfig, api_client, namespace):
    from tests.e2e.clusters import CLAIMS, RestartRecorder

    create_cr(api_client, "BrokerCluster", namespace, small_cluster(namespace, **CLAIMS))
    wait_ready(api_client, "BrokerCluster", namespace, "bc")
    templates, restarts = TemplateWatch(api_client, namespace), RestartRecorder(api_client, namespace)
    done = kubectl_rocketmq(kubeconfig, "restart", "bc", "-n", namespace)
    assert done.returncode == 0, done.stderr
    value = get_cr(api_client, "BrokerCluster", namespace, "bc")["metadata"]["annotations"][RESTART]
    assert value in done.stdout
    eventually(lambda: len(restarts.order()) >= 4, timeout=120, what="four broker restarts")
    wait_ready(api_client, "BrokerCluster", namespace, "bc", timeout=120)
    templates.stop()
    restarts.stop()
    assert sorted(restarts.order()[:2]) == ["bc-0-1", "bc-1-1"]  # the slaves of every group, then the masters
    _assert_rolled_slaves_first(restarts, {"0": ["bc-0-0", "bc-0-1"], "1": ["bc-1-0", "bc-1-1"]})
    for name in ("bc-0", "bc-1"):
        history = [json.loads(t) for t in templates.seen[name]]
        assert len(history) == 2, f"{name}'s template changed {len(history) - 1} times"
        assert history[1]["metadata"]["annotations"][RESTART] == value
    if operator is None:
        return
    reconciler = next(c for c in operator.controllers if c.kind == "brokercluster").reconciler
    before = operator.counter.writes()
    for _ in range(3):  # the same restart value on every later pass: nothing to write
        reconciler.sync(Key(namespace, "bc"))
    assert operator.counter.writes() == before


def test_a_restart_of_a_paused_cluster_waits_and_says_so(operator, kubeconfig, api_client, namespace):
    create_cr(api_client, "BrokerCluster", namespace, small_cluster(namespace, groupReplica=1))
    wait_ready(api_client, "BrokerCluster", namespace, "bc")
    assert kubectl_rocketmq(kubeconfig, "pause", "bc", "-n", namespace).returncode == 0
    wait_condition(api_client, "BrokerCluster", namespace, "bc", "Paused", "True")
    done = kubectl_rocketmq(kubeconfig, "restart", "bc", "-n", namespace)
    assert ("warning: brokercluster.rocketmq.huanwei.io/bc is paused: the restart begins when it is resumed"
            in done.stderr)
    template = client.AppsV1Api(api_client).read_namespaced_stateful_set("bc-0", namespace).spec.template
    assert RESTART not in (template.metadata.annotations or {})


def test_status_of_an_apache_broker_and_the_name_server_error_of_topics(
        operator, kubeconfig, api_client, namespace):
    import yaml

    docs = [d for d in yaml.safe_load_all((SAMPLES / "rocketmq-cluster.yaml").read_text()) if d]
    broker = next(d for d in docs if d["kind"] == "Broker")
    broker["metadata"]["namespace"] = namespace
    broker["spec"]["nameServers"] = "127.0.0.1:1"  # nothing listens there
    broker["spec"].pop("volumes", None)
    create_cr(api_client, "Broker", namespace, broker)
    name = broker["metadata"]["name"]
    eventually(lambda: get_cr(api_client, "Broker", namespace, name).get("status"), timeout=30,
               what="a status")
    done = kubectl_rocketmq(kubeconfig, "status", f"broker/{name}", "-n", namespace)
    assert done.returncode == 0 and "Kind:          Broker (rocketmq.apache.org/v1alpha1)" in done.stdout
    done = kubectl_rocketmq(kubeconfig, "topics", name, "-n", namespace, "--timeout", "1")
    assert done.returncode == 1
    assert done.stderr.startswith(
        "error: cannot reach the name servers 127.0.0.1:1 (configured: 127.0.0.1:1)")
