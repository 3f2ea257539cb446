#!/usr/bin/env python3
"""Renders the CRDs in manifests/crds into docs/reference.md: per kind its names, printed columns and
validation rules, and one row per field (path, type, constraints, description).

    python3 hack/crd_docs.py           # rewrite docs/reference.md
    python3 hack/crd_docs.py --check   # exit 1 when docs/reference.md is not what the CRDs give

Every CRD file is rendered, in file-name order, so a new kind appears without changing this script.
Fields inside an object the schema leaves open (``x-kubernetes-preserve-unknown-fields``: the embedded
Kubernetes types, such as ``resources`` or ``affinity``) are the Kubernetes API's and are not listed.
tests/unit/resources/test_crd_docs.py fails when the page and the CRDs disagree.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CRD_DIR = ROOT / "manifests" / "crds"
REFERENCE = ROOT / "docs" / "reference.md"
HEADER = """# Custom resource reference

Generated from `manifests/crds/` by `hack/crd_docs.py`; do not edit by hand (`python3 hack/crd_docs.py`
rewrites it, and a unit test fails when it is stale). `kubectl explain <kind>.<path>` shows the same
descriptions on a cluster where the CRDs are installed. Fields marked *open* take a Kubernetes type as
it is (their inner fields are the Kubernetes API's).
"""

# The API server refuses a description on a CRD's root metadata, so the page says it here.
METADATA = ("Standard Kubernetes object metadata; the annotations the operator reads are in the kind's "
            "description.")


@dataclass(frozen=True)
class Field:
    path: str  # spec.env[].name, spec.properties.<key>
    schema: Mapping[str, Any]
    required: bool


def crd_files(directory: Path = CRD_DIR) -> list[Path]:
    return sorted(directory.glob("*.yaml"))


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def walk(schema: Mapping[str, Any], path: str = "") -> Iterator[Field]:
    """Every declared field under ``schema``, depth first, with array items as ``[]`` and map values as
    ``.<key>``."""
    required = set(schema.get("required") or ())
    for name, sub in (schema.get("properties") or {}).items():
        here = f"{path}.{name}" if path else name
        yield Field(here, sub, name in required)
        yield from _children(sub, here)


def _children(schema: Mapping[str, Any], path: str) -> Iterator[Field]:
    yield from walk(schema, path)
    items = schema.get("items")
    if isinstance(items, Mapping):
        yield from _children(items, f"{path}[]")
    values = schema.get("additionalProperties")
    if isinstance(values, Mapping) and values.get("properties"):
        yield from _children(values, f"{path}.<key>")


def type_of(schema: Mapping[str, Any]) -> str:
    if schema.get("x-kubernetes-int-or-string"):
        return "int or string"
    kind = schema.get("type", "any")
    if kind == "array":
        return f"[]{type_of(schema.get('items') or {})}"
    values = schema.get("additionalProperties")
    if kind == "object" and isinstance(values, Mapping):
        return f"map[string]{type_of(values)}"
    return kind


def constraints(field: Field) -> str:
    s = field.schema
    parts = ["required"] if field.required else []
    if "default" in s:
        parts.append(f"default `{_literal(s['default'])}`")
    if "enum" in s:
        parts.append("one of " + ", ".join(f"`{v}`" for v in s["enum"]))
    for key, word in (("minimum", "≥"), ("maximum", "≤"), ("minLength", "length ≥"),
                      ("maxLength", "length ≤"), ("maxItems", "items ≤"), ("maxProperties", "entries ≤")):
        if key in s:
            parts.append(f"{word} {s[key]}")
    if "pattern" in s:
        parts.append(f"pattern `{s['pattern']}`")
    if any(rule.get("rule") == "self == oldSelf" for rule in s.get("x-kubernetes-validations") or ()):
        parts.append("immutable")
    if s.get("x-kubernetes-preserve-unknown-fields"):
        parts.append("open")
    return "; ".join(parts)


def _literal(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def render_crd(crd: Mapping[str, Any]) -> str:
    names, group = crd["spec"]["names"], crd["spec"]["group"]
    lines = []
    for version in crd["spec"]["versions"]:
        schema = version["schema"]["openAPIV3Schema"]
        short = ", ".join(f"`{n}`" for n in names.get("shortNames") or ()) or "none"
        served = f"`{group}/{version['name']}`, namespaced as `{names['plural']}`; short names {short}."
        lines += [f"## {names['kind']}", "", served, "", _cell(schema.get("description", "")), ""]
        lines += _columns(version) + _rules(schema)
        lines += ["| Field | Type | Constraints | Description |", "|---|---|---|---|"]
        for field in walk(schema):
            description = field.schema.get("description") or (METADATA if field.path == "metadata" else "")
            lines.append(f"| `{field.path}` | {_cell(type_of(field.schema))} | {_cell(constraints(field))} | "
                         f"{_cell(description)} |")
        lines.append("")
    return "\n".join(lines)


def _columns(version: Mapping[str, Any]) -> list[str]:
    columns = [c["name"] for c in version.get("additionalPrinterColumns") or ()]
    return [f"`kubectl get` columns: {', '.join(columns)}.", ""] if columns else []


def _rules(schema: Mapping[str, Any]) -> list[str]:
    rules = []
    for where, node in (("", schema), ("spec", (schema.get("properties") or {}).get("spec") or {})):
        for rule in node.get("x-kubernetes-validations") or ():
            if rule.get("message"):
                rules.append(f"- {where + ': ' if where else ''}{_cell(rule['message'])}")
    return (["The API server refuses:", "", *rules, ""]) if rules else []


def render(paths: list[Path] | None = None) -> str:
    crds = [load(p) for p in (paths if paths is not None else crd_files())]
    toc = [f"- [{c['spec']['names']['kind']}](#{c['spec']['names']['kind'].lower()})" for c in crds]
    return "\n".join([HEADER, *toc, "", *(render_crd(c) for c in crds)]).rstrip("\n") + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not REFERENCE.exists() or REFERENCE.read_text() != text:
            print(f"{REFERENCE.relative_to(ROOT)} is stale: run python3 hack/crd_docs.py", file=sys.stderr)
            return 1
        return 0
    REFERENCE.parent.mkdir(exist_ok=True)
    REFERENCE.write_text(text)
    print(REFERENCE.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
