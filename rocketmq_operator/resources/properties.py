"""Broker properties: normalising user input and keeping the operator's keys out of it.

The operator writes some broker.conf keys itself because they define who a broker is (its cluster,
its group, its id, its role, its address) or how the members of a group find each other (DLedger).
A user property that names one of these keys is never applied: if it merely restates the value the
operator writes anyway it is dropped silently (seed 000's sample sets ``brokerClusterName`` and
``brokerRole`` this way), otherwise it is reported as a clash. Reporting is data, never an exception:
a typo in a custom resource is the user's to fix, not a crash of the operator.

This module knows nothing of custom resources; it works on plain dicts and strings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

IDENTITY_KEYS = ("brokerClusterName", "brokerName", "brokerId")
PER_MEMBER_KEYS = frozenset({"brokerName", "brokerId", "brokerIP1", "dLegerSelfId"})
DLEDGER_KEYS = ("enableDLegerCommitLog", "dLegerGroup", "dLegerPeers", "dLegerSelfId")
MANAGED_KEYS = frozenset(
    {*IDENTITY_KEYS, "brokerRole", "brokerIP1", "namesrvAddr", "listenPort", *DLEDGER_KEYS}
)

_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")
_LINE = re.compile(r"^(?P<key>[^=:\s]+)\s*[=:]\s*(?P<value>.*)$")
_SOURCES = {
    "brokerClusterName": "the cluster name",
    "brokerRole": "replicationMode/allMaster",
    "namesrvAddr": "the name-server address",
    "listenPort": "the broker port",
}


def normalize(raw: Mapping[str, Any] | None) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Property values as strings, and ``(key, message)`` for entries that cannot be used.

    Numbers become their decimal text and booleans ``true``/``false`` (what a Java properties file
    says); anything else (lists, maps, null) is reported.
    """
    props: dict[str, str] = {}
    problems: list[tuple[str, str]] = []
    for key, value in (raw or {}).items():
        text = _as_text(value)
        if not _KEY.match(str(key)):
            problems.append((str(key), "is not a valid broker property name"))
        elif text is None:
            problems.append((key, f"must be a string, number or boolean, not {type(value).__name__}"))
        else:
            props[key] = text
    return props, problems


def _as_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    return None


def parse_properties_text(text: str) -> dict[str, str]:
    """``key=value`` lines of a broker.conf-style text; ``#``/``!`` comments and blanks skipped."""
    props: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        match = _LINE.match(line)
        if match:
            props[match["key"]] = match["value"]
    return props


def config_map_properties(config_map: Mapping[str, Any] | None) -> dict[str, str]:
    """Broker properties held by a ConfigMap referenced from a custom resource.

    Each data entry is one property, except entries named ``*.conf`` or ``*.properties``, whose
    value is read as a properties file. Files are read first (in key order), single entries win.
    """
    data: Mapping[str, str] = (config_map or {}).get("data") or {}
    files = {k: v for k, v in data.items() if k.endswith((".conf", ".properties"))}
    props: dict[str, str] = {}
    for key in sorted(files):
        props.update(parse_properties_text(files[key]))
    props.update({k: v for k, v in data.items() if k not in files})
    return props


def split_managed(
    props: Mapping[str, str], *, expected: Mapping[str, str]
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The user properties the operator applies, and ``(key, message)`` for each clash.

    ``expected`` holds the values the operator writes for every member alike (cluster name, master
    role, name-server address, ...). A managed key whose value equals its expected value is dropped
    quietly; any other managed key is a clash and is not applied.
    """
    clean: dict[str, str] = {}
    clashes: list[tuple[str, str]] = []
    for key, value in props.items():
        if key not in MANAGED_KEYS:
            clean[key] = value
        elif key in PER_MEMBER_KEYS:
            clashes.append((key, f"{key} is set by the operator for each broker; remove it from properties"))
        elif key in expected and expected[key] == value:
            continue
        elif key in expected:
            source = _SOURCES.get(key, "the spec")
            clashes.append(
                (key, f"{key}={value} clashes with {expected[key]!r} set from {source}; not applied")
            )
        else:
            clashes.append((key, f"{key} is managed by the operator in this mode; remove it from properties"))
    return clean, clashes
