"""Covers the field docs: every CRD field has a description, docs/reference.md is what hack/crd_docs.py
renders from the CRDs, and the migration page names only fields the CRDs have (or marks them not served) and
every field the Apache operator's examples use. Generic over every CRD file, so new kinds are covered."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
CRD_FILES = sorted((ROOT / "manifests" / "crds").glob("*.yaml"))
MIGRATION = ROOT / "docs" / "migrating-from-apache-operator.md"
APACHE_EXAMPLES = sorted((ROOT / "tests" / "e2e" / "apache-examples").glob("*.yaml"))
NOT_SERVED = "**Not served**"


def _generator():
    spec = importlib.util.spec_from_file_location("crd_docs", ROOT / "hack" / "crd_docs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # hack/ is not a package; its dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


crd_docs = _generator()


def _schemas():
    for path in CRD_FILES:
        crd = yaml.safe_load(path.read_text())
        for version in crd["spec"]["versions"]:
            yield crd["spec"]["names"]["kind"], version["schema"]["openAPIV3Schema"]


def _fields_by_kind() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for kind, schema in _schemas():
        out.setdefault(kind, set()).update(f.path for f in crd_docs.walk(schema))
    return out


def test_the_reference_page_is_what_the_generator_renders_from_the_crds():
    assert (ROOT / "docs" / "reference.md").read_text() == crd_docs.render(), (
        "docs/reference.md is stale: run python3 hack/crd_docs.py")


@pytest.mark.parametrize("path", CRD_FILES, ids=lambda p: p.name)
def test_every_field_has_a_description(path):
    # The walk enters every declared property, array item and map value; an object the schema leaves open
    # (x-kubernetes-preserve-unknown-fields: an embedded Kubernetes type such as resources or affinity) has
    # no declared fields inside, so its inner fields are the Kubernetes API's and not checked. The root
    # metadata cannot have a description: the API server refuses one.
    crd = yaml.safe_load(path.read_text())
    for version in crd["spec"]["versions"]:
        schema = version["schema"]["openAPIV3Schema"]
        assert (schema.get("description") or "").strip(), "the kind itself needs a description"
        missing = [f.path for f in crd_docs.walk(schema)
                   if f.path != "metadata" and not (f.schema.get("description") or "").strip()]
        assert missing == [], f"fields without a description in {path.name}: {missing}"


def test_the_walk_enters_array_items_and_map_values_and_stops_at_open_objects():
    schema = {"properties": {
        "a": {"type": "array", "items": {"type": "object", "properties": {"b": {"type": "string"}}}},
        "m": {"type": "object",
              "additionalProperties": {"type": "object", "properties": {"c": {"type": "string"}}}},
        "o": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}
    assert [f.path for f in crd_docs.walk(schema)] == ["a", "a[].b", "m", "m.<key>.c", "o"]


def _migration_rows() -> list[tuple[str, str, str]]:
    """``(kind, field, what it does here)`` of every table row on the migration page."""
    rows, kind = [], None
    for line in MIGRATION.read_text().splitlines():
        heading = re.match(r"^## (\w+)$", line)
        if heading:
            kind = heading.group(1)
            continue
        cell = re.match(r"^\| `([^`]+)` \| (.*) \|$", line)
        if cell and kind:
            rows.append((kind, cell.group(1), cell.group(2)))
    return rows


def test_the_migration_page_names_only_fields_our_crds_have_or_marks_them_not_served():
    fields = _fields_by_kind()
    rows = _migration_rows()
    assert {kind for kind, _, _ in rows} == {"Broker", "NameService", "Console", "TopicTransfer",
                                             "Controller"}
    for kind, field, here in rows:
        assert kind in fields, f"the migration page has a section for {kind}, which has no CRD"
        assert field in fields[kind] or here.startswith(NOT_SERVED), f"{kind} {field} is not in our CRD"
        assert here.strip(), f"{kind} {field} says nothing"


def test_the_migration_page_lists_every_field_the_apache_operators_examples_use():
    listed = {(kind, field) for kind, field, _ in _migration_rows()}
    for path in APACHE_EXAMPLES:
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or not doc.get("apiVersion", "").startswith("rocketmq.apache.org/"):
                continue
            for key in doc.get("spec") or {}:
                assert (doc["kind"], f"spec.{key}") in listed, f"{path.name}: {doc['kind']} spec.{key}"
