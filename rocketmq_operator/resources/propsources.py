"""Where a broker cluster's user properties come from, and where each key came from.

Three sources, later ones winning: a properties ConfigMap (a BrokerCluster's ``spec.config``, or
the ConfigMap behind an Apache Broker's ``spec.volumes[0]``, whose ``broker-common.conf`` the
Apache operator mounted into its brokers), then ``spec.properties``. Each key keeps its origin —
``spec.properties``, ``configmap/<name>`` or ``configmap/<name>[<key>]`` — so that a problem or a
note names the place the user should edit. Values are normalised and the well-known ones checked
(:mod:`.propvalues`) here, before the model drops the keys the operator owns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rocketmq_operator.resources import properties
from rocketmq_operator.resources.modelparts import Problem
from rocketmq_operator.resources.propvalues import check_values

BROKER_COMMON_CONF = "broker-common.conf"  # the file the Apache operator mounted from spec.volumes[0]
SPEC_PROPERTIES = "spec.properties"


@dataclass(frozen=True)
class UserProperties:
    """The user's properties, merged from their sources, and where each key came from."""

    props: Mapping[str, str]
    origins: Mapping[str, str]

    def located(self, key: str) -> str:
        return f"{self.origins.get(key, SPEC_PROPERTIES)}.{key}"


def user_properties(
    layers: Sequence[tuple[str, Mapping[str, Any]]], problems: list[Problem]
) -> UserProperties:
    """Layers normalised and merged (later wins); unusable entries and bad values go to ``problems``."""
    normalized = []
    for origin, raw in layers:
        props, bad = properties.normalize(raw)
        problems += [Problem(f"{origin}.{key}", msg) for key, msg in bad]
        normalized.append((origin, props))
    user = UserProperties(*properties.merge_sources(normalized))
    problems += [Problem(user.located(key), msg) for key, msg in check_values(user.props)]
    return user


def broker_common_config_map_name(spec: Mapping[str, Any]) -> str | None:
    """The ConfigMap behind a Broker's ``spec.volumes[0]``, where the Apache operator read
    ``broker-common.conf`` from; ``None`` when the first volume is not a ConfigMap."""
    volumes = spec.get("volumes") or []
    source = (volumes[0].get("configMap") if volumes and isinstance(volumes[0], Mapping) else None) or {}
    return source.get("name") or None


def config_map_layer(config_map: Mapping[str, Any] | None) -> tuple[str, dict[str, str]]:
    """The properties of a BrokerCluster's ``spec.config`` ConfigMap, as a layer."""
    name = ((config_map or {}).get("metadata") or {}).get("name", "")
    return f"configmap/{name}", properties.config_map_properties(config_map)


def broker_common_layers(
    spec: Mapping[str, Any], config_map: Mapping[str, Any] | None, problems: list[Problem]
) -> list[tuple[str, dict[str, str]]]:
    """``broker-common.conf`` of the ConfigMap behind ``spec.volumes[0]``, as a property layer.

    The file is the item whose ``path`` is ``broker-common.conf`` (the Apache operator mounted
    that path), else the key of that name. A missing ConfigMap is a problem unless the volume is
    ``optional``: the Apache operator's pods could not start without it either.
    """
    name = broker_common_config_map_name(spec)
    if name is None:
        return []
    source = spec["volumes"][0]["configMap"]
    if config_map is None:
        if not source.get("optional"):
            problems.append(Problem("spec.volumes[0].configMap", f"ConfigMap {name!r} not found"))
        return []
    key = _broker_common_key(source.get("items") or [])
    text = ((config_map.get("data") or {}).get(key)) or ""
    return [(f"configmap/{name}[{key}]", properties.parse_properties_text(text))]


def _broker_common_key(items: Sequence[Mapping[str, Any]]) -> str:
    for item in items:
        if item.get("path") == BROKER_COMMON_CONF and item.get("key"):
            return str(item["key"])
    return BROKER_COMMON_CONF
