"""Fixtures of the controller tests: an empty in-memory cluster (real stores and listers, a recording API)."""

from __future__ import annotations

import pytest

from tests.unit.controllers.fakes import Cluster


@pytest.fixture
def cluster() -> Cluster:
    return Cluster()
