"""The operator's own install: the kustomize base and overlays, the bundle, RBAC as the API server
enforces it, and the image's pinned dependencies.

Rendering needs only kubectl (its built-in kustomize); the dry-run and RBAC tests need the cluster under
test. The RBAC tests really apply the ServiceAccount and roles (never the Deployment: its image does not
run here) in the namespace ``rocketmq`` and remove afterwards only what they created, so an operator
already installed there (``make e2e`` on kind) is left as it was.
"""

from __future__ import annotations

import ast
import configparser
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.e2e.conftest import kubectl
from tests.e2e.waiting import eventually
from tests.rbac_derived import required

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
NS = "rocketmq"
NAME = "rocketmq-operator"
SA = f"system:serviceaccount:{NS}:{NAME}"
LEASE = "rocketmq-operator-lock"
RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")

CRDS = {
    "brokerclusters.rocketmq.huanwei.io",
    "brokers.rocketmq.apache.org",
    "nameservices.rocketmq.apache.org",
    "consoles.rocketmq.apache.org",
    "controllers.rocketmq.apache.org",
    "proxies.rocketmq.apache.org",
    "topictransfers.rocketmq.apache.org",
}
CUSTOM = sorted(CRDS)

# (verb, resource, subresource): what the code calls, derived from it as the RBAC unit test derives it.
NEEDED = sorted(
    (verb, f"{plural}.{group}" if group else plural, sub)
    for group, name, verb in required()
    for plural, _, sub in [name.partition("/")])
DENIED = [
    ("delete", "nodes", ""), ("get", "nodes", ""), ("get", "secrets", ""), ("list", "secrets", ""),
    ("create", "pods", ""), ("update", "pods", ""), ("delete", "pods", ""), ("get", "configmaps", ""),
    ("patch", "statefulsets.apps", ""), ("patch", "brokers.rocketmq.apache.org", "status"),
    ("delete", "persistentvolumeclaims", ""), ("create", "pods", "exec"),
    ("create", "brokerclusters.rocketmq.huanwei.io", ""), ("delete", "brokers.rocketmq.apache.org", ""),
    ("update", "nameservices.rocketmq.apache.org", ""),
    ("delete", "customresourcedefinitions.apiextensions.k8s.io", ""),
    ("create", "clusterroles.rbac.authorization.k8s.io", ""),
    ("bind", "clusterroles.rbac.authorization.k8s.io", ""),
    ("escalate", "roles.rbac.authorization.k8s.io", ""), ("impersonate", "serviceaccounts", ""),
    ("create", "serviceaccounts", "token"), ("delete", "namespaces", ""), ("*", "*", ""),
]


# -- helpers ---------------------------------------------------------------------------------------------

def render(path: str) -> list[dict]:
    """``kubectl kustomize manifests/<path>`` (kubectl's built-in kustomize, as ``make bundle`` runs it)."""
    proc = subprocess.run(["kubectl", "kustomize", str(MANIFESTS / path)], capture_output=True, text=True,
                          check=False, timeout=60)
    assert proc.returncode == 0, f"kubectl kustomize manifests/{path} failed: {proc.stderr}"
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def one(docs: list[dict], kind: str, name: str) -> dict:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def container(docs: list[dict]) -> dict:
    spec = one(docs, "Deployment", NAME)["spec"]["template"]["spec"]
    return next(c for c in spec["containers"] if c["name"] == NAME)


def env_of(c: dict) -> dict[str, dict]:
    return {e["name"]: e for e in c.get("env", [])}


def can_i(kubeconfig: str, verb: str, resource: str, subresource: str = "", *,
          namespace: str | None = None) -> bool:
    args = ["auth", "can-i", verb, resource, f"--as={SA}"]
    args += [f"--subresource={subresource}"] if subresource else []
    args += ["-n", namespace] if namespace else ["--all-namespaces"]
    proc = kubectl(kubeconfig, *args, check=False)
    answer = proc.stdout.strip().splitlines()[-1:] or [""]
    assert answer[0] in ("yes", "no"), f"kubectl {' '.join(args)}: {proc.stdout} {proc.stderr}"
    return answer[0] == "yes"


def allowed(kubeconfig: str, checks: list[tuple[str, str, str]], *,
            namespace: str | None = None) -> list[bool]:
    """``can_i`` for many (verb, resource, subresource) at once (one kubectl each, a few in parallel)."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda check: can_i(kubeconfig, *check, namespace=namespace), checks))


def _exists(kubeconfig: str, doc: dict) -> bool:
    ns = ["-n", doc["metadata"]["namespace"]] if doc["metadata"].get("namespace") else []
    proc = kubectl(kubeconfig, "get", doc["kind"].lower(), doc["metadata"]["name"], *ns, "--ignore-not-found",
                   "-o", "name")
    return bool(proc.stdout.strip())


@contextmanager
def applied(kubeconfig: str, docs: list[dict]):
    """Really apply ``docs``; on exit delete those that did not exist before."""
    created = [d for d in docs if not _exists(kubeconfig, d)]
    kubectl(kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump_all(docs))
    try:
        yield
    finally:
        if created:
            kubectl(kubeconfig, "delete", "-f", "-", "--ignore-not-found", "--wait=false",
                    stdin=yaml.safe_dump_all(created), check=False)


@pytest.fixture(scope="module")
def rocketmq_namespace(kubeconfig) -> str:
    """The namespace ``rocketmq`` (server dry runs need it to exist); deleted afterwards if created here."""
    def phase() -> str:
        return kubectl(kubeconfig, "get", "namespace", NS, "--ignore-not-found",
                       "-o", "jsonpath={.status.phase}").stdout.strip()

    eventually(lambda: phase() != "Terminating", timeout=90,
               what=f"namespace {NS} left over from an earlier run to go")
    created = not phase()
    if created:
        kubectl(kubeconfig, "create", "namespace", NS)
    yield NS
    if created:
        kubectl(kubeconfig, "delete", "namespace", NS, "--wait=false", "--ignore-not-found", check=False)


# -- rendering (kubectl only) ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["default", "overlays/namespaced", "overlays/prometheus"])
def test_every_install_variant_renders_without_duplicates(path):
    docs = render(path)
    ids = [(d["apiVersion"], d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for d in docs]
    assert len(ids) == len(set(ids))
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "CustomResourceDefinition"} == CRDS
    for d in docs:
        if d["kind"] not in ("Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"):
            assert d["metadata"].get("namespace") == NS, f"{d['kind']} {d['metadata']['name']} outside {NS}"


def test_the_crd_kustomization_lists_every_crd_file():
    listed = yaml.safe_load((MANIFESTS / "crds" / "Kustomization").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in (MANIFESTS / "crds").glob("*.yaml"))


def test_the_bundle_is_one_multi_document_yaml_with_the_crds_rbac_and_deployment():
    docs = render("default")
    kinds = [d["kind"] for d in docs]
    assert kinds[0] == "Namespace" and docs[0]["metadata"]["name"] == NS
    assert kinds.count("CustomResourceDefinition") == len(CRDS)
    # CRDs and RBAC come before the Deployment, so `kubectl apply -f` of the bundle works in one pass.
    assert max(i for i, k in enumerate(kinds) if k == "CustomResourceDefinition") < kinds.index("Deployment")
    for kind, name in [("ServiceAccount", NAME), ("ClusterRole", NAME), ("ClusterRoleBinding", NAME),
                       ("Role", f"{NAME}-leader-election"), ("RoleBinding", f"{NAME}-leader-election"),
                       ("Deployment", NAME), ("Service", f"{NAME}-metrics")]:
        one(docs, kind, name)
    assert "ServiceMonitor" not in kinds, "the base must apply on a cluster without the Prometheus Operator"
    binding = one(docs, "ClusterRoleBinding", NAME)
    assert binding["roleRef"]["name"] == NAME
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": NAME, "namespace": NS}]


def test_the_deployment_is_the_one_the_apache_operator_docs_describe_and_hardened():
    docs = render("default")
    deploy = one(docs, "Deployment", NAME)
    spec, pod = deploy["spec"], deploy["spec"]["template"]["spec"]
    assert spec["replicas"] == 1
    assert spec["selector"]["matchLabels"] == {"name": NAME}
    assert spec["template"]["metadata"]["labels"]["name"] == NAME
    assert pod["serviceAccountName"] == NAME
    c = container(docs)
    assert c["image"] == "rocketmq-operator:dev"
    env = env_of(c)
    assert env["WATCH_NAMESPACE"]["value"] == ""
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["OPERATOR_NAME"]["value"] == NAME
    assert "--leader-elect" in c["args"]
    port = next(p for p in c["ports"] if p["name"] == "metrics")
    assert port["containerPort"] == 8383
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    sc = c["securityContext"]
    assert sc["runAsNonRoot"] and sc["readOnlyRootFilesystem"] and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"] and sc["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["securityContext"]["runAsUser"] == 65532
    assert set(c["resources"]) == {"requests", "limits"}
    tmp = next(m for m in c["volumeMounts"] if m["mountPath"] == "/tmp")
    assert "emptyDir" in next(v for v in pod["volumes"] if v["name"] == tmp["name"])


def test_the_deployment_args_and_env_are_flags_the_operator_accepts(monkeypatch):
    from rocketmq_operator.cli import build_parser

    c = container(render("default"))
    for name, e in env_of(c).items():
        monkeypatch.setenv(name, e.get("value", "from-field-ref"))
    monkeypatch.setenv("WATCH_NAMESPACE", env_of(c)["WATCH_NAMESPACE"]["value"])
    args = build_parser().parse_args(["run", *c["args"]])
    assert args.leader_elect is True
    assert args.namespace == ""
    assert args.metrics_bind_address.rpartition(":")[2] == str(c["ports"][0]["containerPort"])
    assert args.log_format == "json"


def test_the_metrics_service_and_service_monitor_find_the_operator():
    docs = render("overlays/prometheus")
    pod_labels = one(docs, "Deployment", NAME)["spec"]["template"]["metadata"]["labels"]
    service = one(docs, "Service", f"{NAME}-metrics")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert [(p["name"], p["port"]) for p in service["spec"]["ports"]] == [("metrics", 8383)]
    monitor = one(docs, "ServiceMonitor", NAME)
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1" and monitor["metadata"]["namespace"] == NS
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"


@pytest.mark.parametrize("path", ["default", "overlays/namespaced"])
def test_no_role_uses_wildcards(path):
    roles = [d for d in render(path) if d["kind"] in ("ClusterRole", "Role")]
    assert roles
    for role in roles:
        for rule in role["rules"]:
            for field in ("verbs", "resources", "apiGroups", "resourceNames", "nonResourceURLs"):
                assert not any("*" in v for v in rule.get(field, [])), f"{role['metadata']['name']}: {rule}"


def test_the_namespaced_overlay_grants_the_same_rules_in_its_namespace_only():
    base, namespaced = render("default"), render("overlays/namespaced")
    assert not [d for d in namespaced if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    assert one(namespaced, "Role", NAME)["rules"] == one(base, "ClusterRole", NAME)["rules"]
    binding = one(namespaced, "RoleBinding", NAME)
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAME}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": NAME, "namespace": NS}]
    watch = env_of(container(namespaced))["WATCH_NAMESPACE"]
    assert "value" not in watch and watch["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"


# -- the image --------------------------------------------------------------------------------------------

def _lock(name: str = "requirements.lock") -> dict[str, str]:
    pins = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            dist, _, version = line.partition("==")
            assert version, f"{name}: {line!r} is not pinned with =="
            pins[canonicalize_name(dist)] = version
    return pins


def test_make_install_pins_the_test_and_lint_extras_and_the_image_the_versions_the_tests_ran():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    dev, image = _lock("requirements-dev.lock"), _lock()
    assert "rocketmq-operator" not in dev and "pip" not in dev
    different = {name: (version, dev.get(name)) for name, version in image.items()
                 if dev.get(name) != version}
    assert different == {}, "requirements.lock must take its pins from requirements-dev.lock (make lock)"
    for extra in ("test", "lint"):
        for line in cfg["options.extras_require"][extra].strip().splitlines():
            req = Requirement(line)
            name = canonicalize_name(req.name)
            assert name in dev, f"{req.name} (extra {extra}) is not in requirements-dev.lock"
            assert req.specifier.contains(dev[name]), f"{req.name} pin {dev[name]} outside {req}"
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install -q -r requirements-dev.lock" in makefile and "--no-deps -e ." in makefile


def test_the_runtime_requirements_are_what_the_package_imports():
    """install_requires names only distributions the package imports (pyyaml, for one, only tests and benches
    use; kubernetes pulls it in for itself)."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    modules = {"kubernetes": "kubernetes", "cachetools": "cachetools", "tenacity": "tenacity",
               "structlog": "structlog", "prometheus-client": "prometheus_client", "orjson": "orjson"}
    imported = set()
    for path in (ROOT / "rocketmq_operator").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
    for line in cfg["options"]["install_requires"].strip().splitlines():
        name = canonicalize_name(Requirement(line).name)
        assert modules.get(name, name) in imported, \
            f"{name} is required but rocketmq_operator never imports it"


def test_the_image_lock_pins_every_runtime_dependency_within_setup_cfg():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    pins = _lock()
    for line in cfg["options"]["install_requires"].strip().splitlines():
        req = Requirement(line)
        assert canonicalize_name(req.name) in pins, f"{req.name} is not in requirements.lock"
        assert req.specifier.contains(pins[canonicalize_name(req.name)]), f"{req.name} pin outside {req}"
    linux_311 = {"extra": "", "python_version": "3.11", "platform_system": "Linux", "sys_platform": "linux"}
    for name, version in pins.items():
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue
        if dist.version != version:
            continue  # the virtualenv moved on; only the lock's own closure can be checked here
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker and not req.marker.evaluate(linux_311):
                continue
            dep = canonicalize_name(req.name)
            assert dep in pins, f"{name} needs {req.name}, missing from requirements.lock"
            assert req.specifier.contains(pins[dep], prereleases=True), \
                f"{name} needs {req}, lock has {pins[dep]}"


def test_the_dockerfile_runs_the_console_script_as_non_root_from_the_allowed_context():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r'^ENTRYPOINT \["rocketmq-operator", "run"\]$', dockerfile, re.MULTILINE)
    assert re.search(r"^USER 65532(:65532)?$", dockerfile, re.MULTILINE)
    assert "PYTHONDONTWRITEBYTECODE=1" in dockerfile
    allowed = {line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.startswith("!")}
    for copied in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, re.MULTILINE):
        for src in copied.split():
            assert src.rstrip("/") in allowed, f"{src} is COPYed but excluded by .dockerignore"


# -- against the cluster ------------------------------------------------------------------------------

def test_the_base_and_the_namespaced_overlay_pass_a_server_dry_run(kubeconfig, rocketmq_namespace):
    for path in ("default", "overlays/namespaced"):
        proc = kubectl(kubeconfig, "apply", "--dry-run=server", "-k", str(MANIFESTS / path), check=False)
        assert proc.returncode == 0, f"manifests/{path}: {proc.stderr}"
        assert f"deployment.apps/{NAME}" in proc.stdout
    # The Kustomization file next to the CRDs does not disturb `kubectl apply -f manifests/crds/`.
    kubectl(kubeconfig, "apply", "--dry-run=server", "-f", str(MANIFESTS / "crds"))


def test_the_prometheus_overlay_fails_a_dry_run_only_for_a_missing_service_monitor_crd(kubeconfig,
                                                                                     rocketmq_namespace):
    served = kubectl(kubeconfig, "api-resources", "--api-group=monitoring.coreos.com", "-o", "name").stdout
    proc = kubectl(kubeconfig, "apply", "--dry-run=server", "-k", str(MANIFESTS / "overlays/prometheus"),
                   check=False)
    if "servicemonitors" in served:
        assert proc.returncode == 0, proc.stderr
        return
    errors = [line for line in proc.stderr.splitlines()
              if line.strip() and not line.startswith("Warning:") and "ensure CRDs" not in line]
    assert errors and all("ServiceMonitor" in line for line in errors), proc.stderr
    assert f"deployment.apps/{NAME}" in proc.stdout


def test_the_service_account_may_do_what_the_operator_does_and_nothing_more(kubeconfig, crds,
                                                                            rocketmq_namespace):
    rbac = [d for d in render("default") if d["kind"] in RBAC_KINDS]
    with applied(kubeconfig, rbac):
        eventually(lambda: can_i(kubeconfig, "watch", "brokerclusters.rocketmq.huanwei.io"), timeout=30,
                   what="the ClusterRoleBinding to take effect")
        missing = [n for n, yes in zip(NEEDED, allowed(kubeconfig, NEEDED)) if not yes]
        assert not missing, f"denied but needed (cluster-wide): {missing}"
        granted = [d for d, yes in zip(DENIED, allowed(kubeconfig, DENIED)) if yes]
        assert not granted, f"allowed but not needed: {granted}"
        # The Lease: only in the operator's namespace, and get/update only the operator's own.
        assert can_i(kubeconfig, "create", "leases.coordination.k8s.io", namespace=NS)
        for verb in ("get", "update"):
            assert can_i(kubeconfig, verb, f"leases.coordination.k8s.io/{LEASE}", namespace=NS)
            assert not can_i(kubeconfig, verb, "leases.coordination.k8s.io/someone-elses-lock", namespace=NS)
        assert not can_i(kubeconfig, "create", "leases.coordination.k8s.io", namespace="default")
        assert not can_i(kubeconfig, "delete", f"leases.coordination.k8s.io/{LEASE}", namespace=NS)


def test_the_namespaced_install_may_act_in_its_namespace_only(kubeconfig, crds, rocketmq_namespace):
    if _exists(kubeconfig, {"kind": "ClusterRoleBinding", "metadata": {"name": NAME}}):
        pytest.skip("a cluster-wide install of the operator is present; it would answer for every namespace")
    eventually(lambda: not can_i(kubeconfig, "list", "pods"), timeout=30,
               what="a cluster-wide grant removed by the previous test to lapse")
    rbac = [d for d in render("overlays/namespaced") if d["kind"] in RBAC_KINDS]
    with applied(kubeconfig, rbac):
        eventually(lambda: can_i(kubeconfig, "watch", "brokerclusters.rocketmq.huanwei.io", namespace=NS),
                   timeout=30, what="the RoleBinding to take effect")
        missing = [n for n, yes in zip(NEEDED, allowed(kubeconfig, NEEDED, namespace=NS)) if not yes]
        assert not missing, f"denied but needed in {NS}: {missing}"
        elsewhere = [n for n, yes in zip(NEEDED, allowed(kubeconfig, NEEDED, namespace="default")) if yes]
        assert not elsewhere, f"allowed outside {NS}: {elsewhere}"
