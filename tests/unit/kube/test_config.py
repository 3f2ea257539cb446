"""Loading a client configuration: explicit kubeconfig, default locations, and unreachable servers."""

from __future__ import annotations

from pathlib import Path

import pytest

from rocketmq_operator.kube import ClusterUnreachable, KubeConfigError, load_api_client

KUBECONFIG = """
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:1"}}]
users: [{name: u, user: {token: secret-token}}]
contexts: [{name: ctx, context: {cluster: c, user: u}}]
current-context: ctx
"""


@pytest.fixture
def kubeconfig(tmp_path: Path) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    return str(path)


def test_an_explicit_kubeconfig_is_loaded_with_urllib3_retries_off(kubeconfig):
    api = load_api_client(kubeconfig, probe=False)
    assert api.configuration.host == "http://127.0.0.1:1"
    assert api.configuration.retries is False
    assert api.configuration.auth_settings()["BearerToken"]["value"] == "Bearer secret-token"
    assert api.user_agent.startswith("rocketmq-operator/")  # how audit logs and benchmarks tell it apart


def test_an_unreachable_server_raises_cluster_unreachable(kubeconfig):
    with pytest.raises(ClusterUnreachable, match="127.0.0.1:1"):
        load_api_client(kubeconfig)


def test_a_missing_kubeconfig_file_raises_a_config_error(tmp_path):
    with pytest.raises(KubeConfigError):
        load_api_client(str(tmp_path / "nope"), probe=False)


def test_no_configuration_anywhere_raises_a_config_error(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(KubeConfigError, match="no Kubernetes configuration"):
        load_api_client(None, probe=False)


def test_the_default_kubeconfig_is_found_through_the_environment(kubeconfig, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", kubeconfig)
    assert load_api_client(None, probe=False).configuration.host == "http://127.0.0.1:1"


def test_the_default_namespace_is_the_kubeconfig_contexts_like_kubectls(tmp_path, monkeypatch):
    import yaml

    from rocketmq_operator.kube import default_namespace

    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    cluster = {"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "a", "clusters": [cluster],
              "users": [{"name": "u", "user": {"token": "t"}}],
              "contexts": [{"name": "a", "context": {"cluster": "c", "user": "u", "namespace": "team-a"}},
                           {"name": "b", "context": {"cluster": "c", "user": "u"}}]}
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    assert default_namespace(str(path)) == "team-a"
    assert default_namespace(str(path), context="b") == "default"
    assert default_namespace(str(tmp_path / "missing")) == "default"
    monkeypatch.setenv("KUBECONFIG", str(path))
    assert default_namespace(None) == "team-a"
