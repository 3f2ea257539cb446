"""Fixtures of the resources tests: the sample manifests as the API would return them."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

SAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "samples"


def load_sample(name: str, *, uid: str = "uid-1234", generation: int = 1) -> dict[str, Any]:
    """A sample custom resource, given the uid and generation the API server would add."""
    obj = yaml.safe_load((SAMPLES / name).read_text())
    obj["metadata"].update(uid=uid, generation=generation)
    return obj


@pytest.fixture
def sample() -> Callable[..., dict[str, Any]]:
    return load_sample


@pytest.fixture
def cluster_2m_2s() -> dict[str, Any]:
    return load_sample("04-cluster-2m-2s.yaml")


@pytest.fixture
def apache_broker() -> dict[str, Any]:
    return load_sample("rocketmq-cluster.yaml")


@pytest.fixture
def name_service() -> dict[str, Any]:
    return load_sample("nameserver.yaml", uid="uid-ns")


def _with_spec(obj: dict[str, Any], **changes: Any) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    for key, value in changes.items():
        if value is None:
            obj["spec"].pop(key, None)
        else:
            obj["spec"][key] = value
    return obj


@pytest.fixture
def with_spec() -> Callable[..., dict[str, Any]]:
    """``with_spec(obj, field=value, ...)``: a copy of ``obj`` with spec fields changed (None removes)."""
    return _with_spec
