"""Covers manifests/dashboards/rocketmq-operator.json: every panel's and variable's PromQL names only
metrics the operator exports (the names an operator, as manager.py builds it, registers in the prometheus
registry, with the sample suffixes of counters and histograms), and the panels cover both halves."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

DASHBOARD = Path(__file__).resolve().parents[3] / "manifests" / "dashboards" / "rocketmq-operator.json"
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
            "summary": ("", "_sum", "_count", "_created"), "gauge": ("",), "info": ("_info",),
            "gaugehistogram": ("_bucket", "_gsum", "_gcount"), "stateset": ("",), "unknown": ("",)}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
            "offset", "inf", "nan"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w$.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers that are not functions, keywords, label
    names in grouping clauses, or inside strings, label matchers and ranges."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _RANGE.sub("", text)
    text = _GROUPING.sub("", text)
    return {name for name, call in _IDENT.findall(text) if not call and name.lower() not in KEYWORDS}


def exported_names() -> set[str]:
    """Every sample name the operator's /metrics can carry, from the registry of a fully wired operator."""
    from rocketmq_operator.manager import Operator

    Operator(None, namespaces=[], workers=1, resync_period=60, identity="dashboard-test", observe_interval=30)
    return {family.name + suffix for family in REGISTRY.collect() for suffix in SUFFIXES[family.type]}


def queries(dashboard: dict) -> Iterator[tuple[str, str]]:
    def walk(panels: list[dict]) -> Iterator[tuple[str, str]]:
        for panel in panels:
            for target in panel.get("targets") or ():
                yield panel["title"], target["expr"]
            yield from walk(panel.get("panels") or [])
    yield from walk(dashboard["panels"])
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            found = re.fullmatch(r"label_values\((.*),\s*\w+\)", var["query"]["query"])
            assert found, f"variable {var['name']}: expected label_values(selector, label)"
            yield f"variable {var['name']}", found.group(1)


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def test_the_parser_finds_metric_names_and_nothing_else():
    expr = ('histogram_quantile(0.95, sum by (le, result) '
            '(rate(rocketmq_broker_reconcile_duration_seconds_bucket'
            '{namespace=~"$ns", le!="+Inf"}[$__rate_interval]))) / on (cluster) group_left(role) '
            'rocketmq_broker_up'
            ' > bool 0 or label_replace(process_open_fds, "x", "$1", "y", "(.*)")')
    assert metric_names(expr) == {"rocketmq_broker_reconcile_duration_seconds_bucket", "rocketmq_broker_up",
                                  "process_open_fds"}


def test_exported_names_carry_counter_and_histogram_suffixes():
    names = exported_names()
    assert {"rocketmq_brokercluster_reconcile_total",
            "rocketmq_brokercluster_reconcile_duration_seconds_bucket",
            "workqueue_depth", "rocketmq_broker_up"} <= names
    assert "rocketmq_brokercluster_reconcile" not in names


def test_every_query_names_only_metrics_the_operator_exports(dashboard):
    exported = exported_names()
    checked = 0
    for where, expr in queries(dashboard):
        names = metric_names(expr)
        assert names, f"{where}: no metric in {expr!r}"
        unknown = names - exported
        assert not unknown, f"{where}: {sorted(unknown)} not exported by the operator ({expr})"
        checked += 1
    assert checked >= 30


def test_the_dashboard_shows_operator_health_and_every_rocketmq_family(dashboard):
    from rocketmq_operator.controllers.observe.clustermetrics import FAMILIES

    used = set().union(*(metric_names(expr) for _, expr in queries(dashboard)))
    assert set(FAMILIES) <= used, f"families without a panel: {sorted(set(FAMILIES) - used)}"
    assert {"rocketmq_brokercluster_reconcile_total", "workqueue_depth"} <= used
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and dashboard["uid"] == "rocketmq-operator"
