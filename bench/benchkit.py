"""What the benchmarks in bench/ share."""

from __future__ import annotations

import time

from rocketmq_operator.kube import KubeClient, NotFound, Resource

SERVICE_ACCOUNTS = Resource("", "v1", "serviceaccounts", "ServiceAccount")


def wait_for_default_service_accounts(client: KubeClient, namespaces: list[str], *,
                                      timeout: float = 60.0) -> None:
    """Pods can be created in a namespace only once its default ServiceAccount exists."""
    deadline = time.monotonic() + timeout
    for ns in namespaces:
        while time.monotonic() < deadline:
            try:
                client.get(SERVICE_ACCOUNTS, "default", namespace=ns)
                break
            except NotFound:
                time.sleep(0.2)
