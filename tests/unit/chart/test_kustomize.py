"""Covers charts/rocketmq-operator against manifests/: one source of truth, the chart's values, helm lint.

The chart is written by hand; these tests fail when it drifts from the kustomize manifests: with default
values it renders exactly the objects of ``manifests/default`` (less the Namespace, which ``helm install
--create-namespace`` makes, and less Helm's own labels), with the ServiceMonitor those of
``overlays/prometheus``, with one watched namespace those of ``overlays/namespaced``; its CRDs and
dashboard are byte copies of the ones in manifests/.
"""

from __future__ import annotations

import configparser
import json

import pytest

from tests.chart import (
    CHART,
    MANIFESTS,
    ROOT,
    by_id,
    helm,
    render_chart,
    render_kustomize,
    without_helm_labels,
)

NAME = "rocketmq-operator"


def _chart_objects(*sets: str) -> dict:
    return by_id([without_helm_labels(d) for d in render_chart(*sets)])


def _kustomize_objects(path: str) -> dict:
    return by_id([d for d in render_kustomize(path)
                  if d["kind"] not in ("Namespace", "CustomResourceDefinition")])


def _container(docs: dict) -> dict:
    deploy = next(d for d in docs.values() if d["kind"] == "Deployment")
    return deploy["spec"]["template"]["spec"]["containers"][0]


def _env(docs: dict) -> dict[str, dict]:
    return {e["name"]: e for e in _container(docs)["env"]}


def _assert_same(chart: dict, kustomize: dict) -> None:
    assert sorted(chart) == sorted(kustomize), "the chart and kustomize render different objects"
    for key, doc in kustomize.items():
        assert chart[key] == doc, f"{key} differs between the chart and kustomize"


def test_default_values_render_the_objects_of_manifests_default():
    _assert_same(_chart_objects(), _kustomize_objects("default"))


def test_the_service_monitor_and_dashboard_values_render_the_prometheus_overlay():
    _assert_same(_chart_objects("metrics.serviceMonitor.enabled=true", "dashboard.enabled=true"),
                 _kustomize_objects("overlays/prometheus"))


def test_watching_the_release_namespace_renders_the_namespaced_overlay():
    chart = _chart_objects("watchNamespaces={rocketmq}")
    kustomize = _kustomize_objects("overlays/namespaced")
    # The overlay reads the pod's namespace through the downward API; the chart writes the list it was given.
    assert _env(chart).pop("WATCH_NAMESPACE") == {"name": "WATCH_NAMESPACE", "value": "rocketmq"}
    assert _env(kustomize)["WATCH_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    for docs in (chart, kustomize):
        c = _container(docs)
        c["env"] = [e for e in c["env"] if e["name"] != "WATCH_NAMESPACE"]
    _assert_same(chart, kustomize)


def test_several_watched_namespaces_get_a_role_each_and_no_cluster_role():
    docs = render_chart("watchNamespaces={team-a,team-b}", release="mq", namespace="ops")
    kinds = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for d in docs}
    assert not any(k in ("ClusterRole", "ClusterRoleBinding") for k, _, _ in kinds)
    for ns in ("team-a", "team-b"):
        assert ("Role", ns, "mq-rocketmq-operator") in kinds and (
            "RoleBinding", ns, "mq-rocketmq-operator") in kinds
    binding = next(d for d in docs if d["kind"] == "RoleBinding" and d["metadata"]["namespace"] == "team-a")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "mq-rocketmq-operator",
                                    "namespace": "ops"}]
    assert _env(by_id(docs))["WATCH_NAMESPACE"]["value"] == "team-a,team-b"
    cluster_rules = next(d for d in render_kustomize("rbac") if d["kind"] == "ClusterRole")["rules"]
    assert next(d for d in docs
                if d["kind"] == "Role" and d["metadata"]["namespace"] == "team-b")["rules"] == cluster_rules


def test_values_reach_the_deployment_as_flags_the_operator_accepts(monkeypatch):
    from rocketmq_operator.cli import build_parser

    docs = by_id(render_chart(
        "image.repository=registry.example/rmq-op", "image.tag=1.2.3", "replicas=2", "logLevel=debug",
        "logFormat=console", "metrics.port=9090", "rocketmqObserveInterval=10", "workers=6",
        "allowExternalNameServers=true",
        "resources.limits.memory=1Gi", "extraEnv[0].name=RESYNC_PERIOD", "nodeSelector.pool=ops",
        "tolerations[0].key=dedicated", "tolerations[0].operator=Exists", strings=("extraEnv[0].value=120",)))
    deploy = next(d for d in docs.values() if d["kind"] == "Deployment")
    pod = deploy["spec"]["template"]["spec"]
    c = _container(docs)
    assert deploy["spec"]["replicas"] == 2
    assert c["image"] == "registry.example/rmq-op:1.2.3"
    assert c["resources"]["limits"]["memory"] == "1Gi"
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux", "pool": "ops"}
    assert pod["tolerations"] == [{"key": "dedicated", "operator": "Exists"}]
    assert c["ports"][0]["containerPort"] == 9090
    service = next(d for d in docs.values() if d["kind"] == "Service")
    assert service["spec"]["ports"][0]["port"] == 9090
    for name, e in _env(docs).items():
        assert isinstance(e.get("value", ""), str), f"env {name} is not a string: the API server refuses it"
        monkeypatch.setenv(name, e.get("value", "from-field-ref"))
    args = build_parser().parse_args(["run", *c["args"]])
    assert (args.leader_elect, args.log_level, args.log_format, args.metrics_bind_address, args.workers,
            args.rocketmq_observe_interval, args.resync_period) == (
        True, "debug", "console", ":9090", 6, 10.0, 120.0)
    assert args.allow_external_name_servers is True


def test_leader_election_off_is_a_flag_and_refused_with_more_than_one_replica():
    c = _container(by_id(render_chart("leaderElection.enabled=false")))
    assert c["args"] == ["--no-leader-elect"]
    proc = helm("template", NAME, str(CHART), "--set", "leaderElection.enabled=false", "--set", "replicas=2")
    assert proc.returncode != 0 and "needs leaderElection.enabled" in proc.stderr


def test_the_metrics_service_and_dashboard_are_switched_by_values():
    kinds = {d["kind"] for d in render_chart("metrics.service.enabled=false")}
    assert "Service" not in kinds and "ConfigMap" not in kinds
    proc = helm("template", NAME, str(CHART), "--set", "metrics.service.enabled=false",
                "--set", "metrics.serviceMonitor.enabled=true")
    assert proc.returncode != 0 and "needs metrics.service.enabled" in proc.stderr
    dashboard = next(d for d in render_chart("dashboard.enabled=true", "dashboard.namespace=monitoring")
                     if d["kind"] == "ConfigMap")
    assert dashboard["metadata"]["namespace"] == "monitoring"
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads((MANIFESTS / "dashboards" / "rocketmq-operator.json").read_text())
    assert json.loads(dashboard["data"]["rocketmq-operator.json"]) == shipped


@pytest.mark.parametrize("name", sorted(p.name for p in (MANIFESTS / "crds").glob("*.yaml")))
def test_the_chart_crds_are_copies_of_manifests_crds(name):
    assert (CHART / "crds" / name).read_bytes() == (MANIFESTS / "crds" / name).read_bytes()


def test_the_chart_ships_no_crd_that_manifests_lacks_and_renders_them_with_include_crds():
    assert sorted(p.name for p in (CHART / "crds").iterdir()) == sorted(
        p.name for p in (MANIFESTS / "crds").glob("*.yaml"))
    crds = [d for d in render_chart(include_crds=True) if d["kind"] == "CustomResourceDefinition"]
    assert len(crds) == len(list((MANIFESTS / "crds").glob("*.yaml")))


def test_the_chart_dashboard_is_a_copy_of_the_manifests_dashboard():
    assert (CHART / "dashboards" / "rocketmq-operator.json").read_bytes() == \
        (MANIFESTS / "dashboards" / "rocketmq-operator.json").read_bytes()


def test_the_chart_version_is_the_operator_version():
    import yaml

    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert chart["version"] == chart["appVersion"] == cfg["metadata"]["version"]


def test_helm_lint_passes_strictly():
    proc = helm("lint", "--strict", str(CHART))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_values_schema_refuses_what_the_operator_would_refuse():
    for bad, where in (("logLevel=verbose", "/logLevel"), ("logFormat=xml", "/logFormat"),
                       ("workers=0", "/workers"), ("metrics.port=70000", "/metrics/port"),
                       ("watchNamespaces={Team_A}", "/watchNamespaces/0"),
                       ("rocketmqObserveInterval=-1", "/rocketmqObserveInterval")):
        proc = helm("template", NAME, str(CHART), "--set", bad)
        assert proc.returncode != 0 and where in proc.stderr, (bad, proc.stderr)


def test_the_schemas_choices_are_the_clis():
    import argparse

    from rocketmq_operator.cli import build_parser

    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    choices = {a.dest: list(a.choices) for a in subparsers.choices["run"]._actions if a.choices}
    schema = json.loads((CHART / "values.schema.json").read_text())["properties"]
    assert (schema["logFormat"]["enum"], schema["logLevel"]["enum"]) == (
        choices["log_format"], choices["log_level"])
