"""What tests need to run pods on the real nodes of the session cluster (marker ``realnode``).

Real nodes (``hack/realnodes.py``) are labelled ``NODE_SELECTOR`` and tainted ``TOLERATION``'s key, so that
only pods that opt in land there; the KWOK-based tests never do. Images come from ``hack/images.py``,
imported into the node's containerd: use them with ``imagePullPolicy: Never`` (or IfNotPresent).
The constants are the ones ``hack/realnodes.py`` uses; that file is standard library only, loaded here
by path because ``hack/`` is not a package.
"""

from __future__ import annotations

import importlib.util
import sys
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load_hack_realnodes():
    name = "_rocketmq_operator_hack_realnodes"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "hack" / "realnodes.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_rn = _load_hack_realnodes()


def _version(key: str) -> str:
    for line in (ROOT / "hack" / "versions.env").read_text().splitlines():
        if line.startswith(f"{key}="):
            return line.split("=", 1)[1].strip()
    raise KeyError(key)


NODE_LABEL_KEY: str = _rn.NODE_LABEL_KEY
NODE_LABEL_VALUE: str = _rn.NODE_LABEL_VALUE
NODE_TAINT_KEY: str = _rn.NODE_TAINT_KEY
NODE_TAINT_VALUE: str = _rn.NODE_TAINT_VALUE
NODE_TAINT_EFFECT: str = _rn.NODE_TAINT_EFFECT
NODE_SELECTOR: dict[str, str] = {NODE_LABEL_KEY: NODE_LABEL_VALUE}
TOLERATION: dict[str, str] = {"key": NODE_TAINT_KEY, "operator": "Equal", "value": NODE_TAINT_VALUE,
                              "effect": NODE_TAINT_EFFECT}
HOST_IP: str = _rn.HOST_IP  # the node IP, CoreDNS, and the API server's address as pods see it
CLUSTER_DOMAIN: str = _rn.CLUSTER_DOMAIN
ROCKETMQ_VERSION = _version("ROCKETMQ_VERSION")
ROCKETMQ_IMAGE = f"apache/rocketmq:{ROCKETMQ_VERSION}"
OPERATOR_IMAGE = "rocketmq-operator:dev"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"


def on_real_node(pod_spec: dict) -> dict:
    """``pod_spec`` (a PodSpec dict) with the real nodes' node selector and toleration added."""
    spec = dict(pod_spec)
    spec["nodeSelector"] = {**(spec.get("nodeSelector") or {}), **NODE_SELECTOR}
    spec["tolerations"] = [*(spec.get("tolerations") or []), TOLERATION]
    return spec


def placement() -> dict:
    """``nodeSelector`` and ``tolerations`` as the RocketMQ CRDs' pod fields take them (merge into a spec)."""
    return {"nodeSelector": dict(NODE_SELECTOR), "tolerations": [dict(TOLERATION)]}


@contextmanager
def observing_operator(operator_kubeconfig: str, namespaces: list[str], *, identity: str,
                       observe_interval: float = 10):
    """An operator in this process that observes RocketMQ (its pods on real nodes run brokers), watching
    only ``namespaces`` so it does not race the session's KWOK operator."""
    from rocketmq_operator.kube import connect
    from rocketmq_operator.manager import Operator

    op = Operator(connect(operator_kubeconfig), namespaces=namespaces, workers=2, resync_period=300,
                  identity=identity, observe_interval=observe_interval)
    op.start()
    assert op.synced.is_set(), "the operator's caches did not sync"
    try:
        yield op
    finally:
        op.shutdown()


def host_pid(pod, marker: str) -> int:
    """The host PID of the process in ``pod`` (a V1Pod on this machine's real node) whose command line
    contains ``marker`` — found through the container IDs in its cgroup paths."""
    ids = {s.container_id.split("://", 1)[-1] for s in pod.status.container_statuses or () if s.container_id}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cgroups = (proc / "cgroup").read_text()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline and any(i in cgroups for i in ids):
            return int(proc.name)
    raise LookupError(f"no process with {marker!r} in the containers of {pod.metadata.name}")
