"""Rendering the Helm chart (charts/rocketmq-operator) and the kustomize manifests for the tests.

``helm_binary()`` builds helm into the tool cache when it is missing (``hack/build-helm.sh``: pinned in
hack/versions.env, from the Go module proxy), so a fresh machine needs nothing installed by hand.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "charts" / "rocketmq-operator"
MANIFESTS = ROOT / "manifests"
# Labels only the chart sets (Helm's conventions); everything else must match the kustomize output.
HELM_LABELS = ("helm.sh/chart", "app.kubernetes.io/instance", "app.kubernetes.io/managed-by",
               "app.kubernetes.io/version")


@functools.cache
def helm_binary() -> str:
    proc = subprocess.run(["bash", str(ROOT / "hack" / "build-helm.sh")], capture_output=True, text=True,
                          check=False, timeout=1800)
    assert proc.returncode == 0, f"hack/build-helm.sh failed:\n{proc.stderr[-4000:]}"
    return proc.stdout.strip().splitlines()[-1]


def helm(*args: str, kubeconfig: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if kubeconfig:
        env["KUBECONFIG"] = kubeconfig
    return subprocess.run([helm_binary(), *args], capture_output=True, text=True, check=False, env=env,
                          timeout=timeout)


def render_chart(*sets: str, strings: tuple[str, ...] = (), release: str = "rocketmq-operator",
                 namespace: str = "rocketmq", include_crds: bool = False) -> list[dict]:
    """``helm template`` of the chart with ``--set`` (and ``--set-string``) values."""
    args = ["template", release, str(CHART), "--namespace", namespace]
    args += ["--include-crds"] if include_crds else []
    for s in sets:
        args += ["--set", s]
    for s in strings:
        args += ["--set-string", s]
    proc = helm(*args)
    assert proc.returncode == 0, f"helm {' '.join(args)} failed: {proc.stderr}"
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def render_kustomize(path: str) -> list[dict]:
    proc = subprocess.run(["kubectl", "kustomize", str(MANIFESTS / path)], capture_output=True, text=True,
                          check=False, timeout=60)
    assert proc.returncode == 0, f"kubectl kustomize manifests/{path} failed: {proc.stderr}"
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def without_helm_labels(doc: dict) -> dict:
    labels = {k: v for k, v in (doc["metadata"].get("labels") or {}).items() if k not in HELM_LABELS}
    return {**doc, "metadata": {**doc["metadata"], "labels": labels}}


def by_id(docs: list[dict]) -> dict[tuple[str, str, str, str], dict]:
    return {(d["apiVersion"], d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d
            for d in docs}
