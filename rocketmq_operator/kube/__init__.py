"""The client boundary: the only package that talks HTTP to the Kubernetes API server.

Everything above it (informers, controllers) sees plain dicts, :class:`Resource` values and the
exception tree in :mod:`.errors`.
"""

from __future__ import annotations

from .client import KubeClient, ListResult, RequestCounter
from .config import USER_AGENT, ClusterUnreachable, KubeConfigError, default_namespace, load_api_client
from .errors import (
    AlreadyExists,
    ApiError,
    Conflict,
    FencedOff,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    ServerError,
    TooManyRequests,
    TransportError,
    Unauthorized,
)
from .resources import (
    BROKER_CLUSTERS,
    BROKERS,
    CONFIG_MAPS,
    CONSOLES,
    CONTROLLERS,
    DEPLOYMENTS,
    EVENTS,
    FAILED_CREATE_EVENTS,
    LEASES,
    NAME_SERVICES,
    NAMESPACES,
    NODES,
    POD_DISRUPTION_BUDGETS,
    PODS,
    PROXIES,
    PVCS,
    SERVICES,
    STATEFUL_SETS,
    TOPIC_TRANSFERS,
    Resource,
)
from .retry import RetryPolicy
from .transport import Timeout, Transport, WatchStream


def connect(kubeconfig: str | None, *, retry: RetryPolicy | None = None,
            counter: RequestCounter | None = None, probe: bool = True, context: str | None = None,
            user_agent: str = USER_AGENT, timeout: Timeout | None = None) -> KubeClient:
    """Load the configuration (see :func:`load_api_client`) and return a client over it; ``timeout``:
    (connect, read) seconds per request, the client's default when None."""
    api_client = load_api_client(kubeconfig, context=context, probe=probe, user_agent=user_agent)
    if timeout is None:
        return KubeClient(Transport(api_client), retry=retry, counter=counter)
    return KubeClient(Transport(api_client), retry=retry, counter=counter, timeout=timeout)


__all__ = [
    "BROKERS",
    "BROKER_CLUSTERS",
    "CONFIG_MAPS",
    "CONSOLES",
    "CONTROLLERS",
    "DEPLOYMENTS",
    "EVENTS",
    "FAILED_CREATE_EVENTS",
    "LEASES",
    "NAMESPACES",
    "NAME_SERVICES",
    "NODES",
    "PODS",
    "POD_DISRUPTION_BUDGETS",
    "PROXIES",
    "PVCS",
    "SERVICES",
    "STATEFUL_SETS",
    "TOPIC_TRANSFERS",
    "USER_AGENT",
    "AlreadyExists",
    "ApiError",
    "ClusterUnreachable",
    "Conflict",
    "FencedOff",
    "Forbidden",
    "Gone",
    "Invalid",
    "KubeClient",
    "KubeConfigError",
    "ListResult",
    "NotFound",
    "RequestCounter",
    "Resource",
    "RetryPolicy",
    "ServerError",
    "TooManyRequests",
    "Transport",
    "TransportError",
    "Unauthorized",
    "WatchStream",
    "connect",
    "default_namespace",
    "load_api_client",
]
