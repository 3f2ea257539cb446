"""Broker properties: normalising user input and keeping the operator's keys out of it.

The operator writes some broker.conf keys itself because they define who a broker is (its cluster,
its group, its id, its role, its address), how the members of a group find each other (DLedger) or
where the store lives (on the data volume). A user property that names one of these keys is never
applied: if it merely restates the value the operator writes anyway it is dropped silently (seed
000's sample sets ``brokerClusterName`` and ``brokerRole`` this way), otherwise it is dropped with a
*note* (a Warning event and a condition, never a blocked sync): the Apache operator's users put
``brokerRole=ASYNC_MASTER`` in every broker-common.conf, and adding ``replicationMode: DLEDGER``
to such a manifest must still give a working cluster. Notes and problems are data, never
exceptions: a typo in a custom resource is the user's to fix, not a crash of the operator.

User properties come from up to three places, merged by :func:`merge_sources` so that a note can
name where a dropped key came from: a properties file in a ConfigMap (the BrokerCluster's
``spec.config``, or the Apache Broker's ``broker-common.conf`` behind ``spec.volumes[0]``), then
``spec.properties``, which wins.

This module knows nothing of custom resources; it works on plain dicts and strings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

IDENTITY_KEYS = ("brokerClusterName", "brokerName", "brokerId")
PER_MEMBER_KEYS = frozenset({"brokerName", "brokerId", "brokerIP1", "dLegerSelfId"})
DLEDGER_KEYS = ("enableDLegerCommitLog", "dLegerGroup", "dLegerPeers", "dLegerSelfId")
STORE_KEYS = ("storePathRootDir",)
CONTROLLER_KEYS = ("enableControllerMode", "controllerAddr")
MANAGED_KEYS = frozenset(
    {*IDENTITY_KEYS, "brokerRole", "brokerIP1", "namesrvAddr", "listenPort", *DLEDGER_KEYS, *STORE_KEYS,
     *CONTROLLER_KEYS}
)

_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")
_LINE = re.compile(r"^(?P<key>[^=:\s]+)\s*[=:]\s*(?P<value>.*)$")
_SOURCES = {
    "brokerClusterName": "the cluster name",
    "brokerRole": "replicationMode/allMaster; slaves are SLAVE",
    "namesrvAddr": "the name-server address",
    "listenPort": "the broker port",
    "storePathRootDir": "the mount path of the data volume",
    "enableControllerMode": "clusterMode",
    "controllerAddr": "the Controller the cluster uses",
}
_ABSENT = {
    "brokerRole": "in DLEDGER mode the Raft group elects the master, so no brokerRole is written",
}
_PER_BROKER_KEYS = PER_MEMBER_KEYS | {"dLegerGroup", "dLegerPeers"}


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


def merge_sources(
    layers: Sequence[tuple[str, Mapping[str, str]]],
) -> tuple[dict[str, str], dict[str, str]]:
    """Properties of ``layers`` (``(origin, props)``, later layers win) and each key's origin.

    The origin (``spec.properties``, ``ConfigMap broker-config broker-common.conf``, ...) lets a
    note or problem say where the key the user should change lives.
    """
    props: dict[str, str] = {}
    origins: dict[str, str] = {}
    for origin, layer in layers:
        for key, value in layer.items():
            props[key] = value
            origins[key] = origin
    return props, origins


def split_managed(
    props: Mapping[str, str], *, expected: Mapping[str, str]
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The user properties the operator applies, and ``(key, note)`` for each managed key dropped.

    ``expected`` holds the values the operator writes for every member alike (cluster name, master
    role, name-server address, store directory, ...). A managed key whose value equals its expected
    value is dropped quietly; any other managed key is dropped with a note saying what the operator
    writes instead. Never a problem: the cluster still converges, on the operator's values.
    """
    clean: dict[str, str] = {}
    notes: list[tuple[str, str]] = []
    for key, value in props.items():
        if key not in MANAGED_KEYS:
            clean[key] = value
        elif key not in expected or expected[key] != value:
            notes.append((key, managed_note(key, value, expected=expected)))
    return clean, notes


def managed_note(key: str, value: str, *, expected: Mapping[str, str]) -> str:
    """Why ``key=value`` from the user is not applied, naming what the operator uses instead."""
    if key in expected:
        source = _SOURCES.get(key, "the spec")
        return f"{key}={value} ignored: the operator writes {key}={expected[key]} (from {source})"
    if key in ("brokerRole", "brokerId") and "enableControllerMode" in expected:
        return (f"{key}={value} ignored: in CONTROLLER mode the controllers elect the master and assign ids; "
                f"every broker starts as brokerId=-1, brokerRole=SLAVE")
    if key in CONTROLLER_KEYS:
        return f"{key}={value} ignored: controller keys are written only with clusterMode CONTROLLER"
    if key in DLEDGER_KEYS and "enableDLegerCommitLog" not in expected:
        return f"{key}={value} ignored: DLedger keys are written only with replicationMode DLEDGER"
    if key in _PER_BROKER_KEYS:
        return f"{key}={value} ignored: the operator sets {key} for each broker"
    return f"{key}={value} ignored: {_ABSENT.get(key, 'the operator owns this key')}"
