"""Build the HTTP ``ApiClient`` the operator talks through.

The search order is the usual one: an explicit kubeconfig path, then the in-cluster service account,
then ``$KUBECONFIG`` / ``~/.kube/config``. urllib3's own retries are switched off so that
:mod:`rocketmq_operator.kube.retry` is the one place that decides what is retried. By default the
server is probed once, so a wrong address fails at start-up with :class:`ClusterUnreachable` instead of
at the first list.
"""

from __future__ import annotations

import os
from pathlib import Path

import urllib3
from kubernetes import config as kube_config
from kubernetes.client import ApiClient, Configuration

from rocketmq_operator import __version__

_PROBE_TIMEOUT = (5.0, 10.0)
USER_AGENT = f"rocketmq-operator/{__version__}"


class KubeConfigError(Exception):
    """No usable configuration: no kubeconfig file, not in a cluster, or a file that does not parse."""


class ClusterUnreachable(KubeConfigError):
    """A configuration was found but the API server did not answer."""


def load_api_client(kubeconfig: str | None, *, context: str | None = None,
                    pool_maxsize: int = 64, probe: bool = True, user_agent: str = USER_AGENT) -> ApiClient:
    """Return an ApiClient for ``kubeconfig``, the in-cluster config or the default kubeconfig.

    ``pool_maxsize`` bounds kept-alive connections (each open watch holds one). ``user_agent`` names the
    caller in the API server's audit log and request metrics.
    """
    configuration = _load_configuration(kubeconfig, context=context)
    configuration.retries = False
    configuration.connection_pool_maxsize = pool_maxsize
    api_client = ApiClient(configuration)
    api_client.user_agent = user_agent
    if probe:
        _probe(api_client)
    return api_client


SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def default_namespace(kubeconfig: str | None, *, context: str | None = None) -> str:
    """The namespace kubectl would use: the kubeconfig context's, else the pod's own (in a cluster), else
    ``default``. A kubeconfig that cannot be read gives ``default`` (loading the client reports why)."""
    path = (kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
            or str(Path.home() / ".kube" / "config"))
    if kubeconfig or not os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            contexts, active = kube_config.list_kube_config_contexts(config_file=path)
        except (kube_config.ConfigException, OSError, ValueError, TypeError):
            return "default"
        chosen = next((c for c in contexts if c.get("name") == context), None) if context else active
        return ((chosen or {}).get("context") or {}).get("namespace") or "default"
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
    except OSError:
        return "default"


def _load_configuration(kubeconfig: str | None, *, context: str | None) -> Configuration:
    configuration = Configuration()
    if kubeconfig:
        _load_file(kubeconfig, context, configuration)
        return configuration
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            kube_config.load_incluster_config(client_configuration=configuration)
            return configuration
        except kube_config.ConfigException as exc:
            raise KubeConfigError(f"in-cluster configuration is incomplete: {exc}") from exc
    default = os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    if not Path(default.split(os.pathsep)[0]).exists():
        raise KubeConfigError(
            "no Kubernetes configuration: pass --kubeconfig, run in a cluster, or create ~/.kube/config")
    _load_file(default, context, configuration)
    return configuration


def _load_file(path: str, context: str | None, configuration: Configuration) -> None:
    try:
        kube_config.load_kube_config(config_file=path, context=context,
                                     client_configuration=configuration, persist_config=False)
    except (kube_config.ConfigException, OSError, ValueError, TypeError) as exc:
        raise KubeConfigError(f"cannot load kubeconfig {path}: {exc}") from exc


def _probe(api_client: ApiClient) -> None:
    host = api_client.configuration.host
    try:
        method, url, headers, _, _ = api_client.param_serialize(
            "GET", "/version", header_params={"Accept": "application/json"}, auth_settings=["BearerToken"])
        response = api_client.call_api(method, url, headers, _request_timeout=_PROBE_TIMEOUT)
        response.read()
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ClusterUnreachable(f"API server {host} is unreachable: {exc}") from exc
    if response.status >= 500:
        raise ClusterUnreachable(f"API server {host} answered /version with HTTP {response.status}")
