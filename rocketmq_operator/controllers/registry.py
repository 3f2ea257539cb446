"""Which controllers the operator runs, built over one shared informer factory and event recorder."""

from __future__ import annotations

from typing import Any

from rocketmq_operator.controllers.runner import Controller


def build_controllers(client: Any, factory: Any, recorder: Any, *, workers: int) -> list[Controller]:
    """One Controller per kind; each registers its informers and event handlers on ``factory``."""
    return []
