"""Which ConfigMap holds each broker group's files: the cluster's while they fit, else one of the group's own.

One ConfigMap ``c-brokers`` for every group's broker.conf saves objects and API writes for the clusters most
people run, but it grows with groups × members × properties: 100 groups of 4 members with 40 properties are
past the API server's 1 MiB limit, and a DLEDGER cluster of 100 groups × 17 members would need 6.7 MB. So a
group's files live in one of two places, which the pods find under the same names (``broker-<m>.conf`` and
the scripts in ``BROKER_CONF_DIR``, see resources.brokers):

- the cluster's ConfigMap ``c-brokers``: ``group-<g>-broker-<m>.conf`` per member, the scripts once;
- a ConfigMap of the group's own, ``c-g-config``: ``broker-<m>.conf`` per member and the scripts — the layout
  of groups created by earlier versions, and where a group goes whose files do not fit in the cluster's. One
  group of 17 DLEDGER members with 40 properties takes about 70 KB.

A pod mounts its ConfigMap by name in its StatefulSet's pod template, so moving a group from one to the other
rolls the group. The placement starts from what each StatefulSet mounts now and moves as little as it can:

1. a group that mounts a ConfigMap of its own keeps it;
2. the groups that mount the cluster's keep it while their files fit under the API server's limit
   (:data:`LIMIT`); only a change of their broker.conf can take them past it — a change that rolls them
   anyway — and then the lowest-numbered of them stay while the ConfigMap is under :data:`JOIN` and the others
   move to their own;
3. a new group (no StatefulSet yet) joins the cluster's while it stays under :data:`JOIN`, else gets its own.

:data:`JOIN` is half the limit, so a cluster the operator filled has room for its files to grow (a longer
name-server list, more properties) before any group has to move, and every ConfigMap it writes is well under
the limit. Groups being drained (beyond the spec, still running) keep their place until they are gone.

Sizes count what the API server counts against its limit: the bytes of the values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from typing import Any

from rocketmq_operator.resources import naming
from rocketmq_operator.resources.model import BrokerClusterModel

LIMIT = 1024 * 1024  # the API server's limit on a ConfigMap's data (the values' bytes)
JOIN = LIMIT // 2  # new groups join the cluster's ConfigMap while it stays under this


@dataclass(frozen=True)
class Placement:
    shared: tuple[int, ...]  # groups whose files are in the cluster's ConfigMap, in group order
    own: frozenset[int]  # groups with a ConfigMap of their own


def data_size(data: Mapping[str, str]) -> int:
    """What the API server counts against :data:`LIMIT`."""
    return sum(len(value.encode()) for value in data.values())


def place(sizes: Mapping[int, int], *, base: int, own: AbstractSet[int], shared: AbstractSet[int],
          draining: AbstractSet[int] = frozenset()) -> Placement:
    """Where each group of ``sizes`` (its files' bytes in the cluster's ConfigMap) goes, by the module's
    rules. ``base``: the bytes of the cluster's ConfigMap without any group (the scripts); ``own``/``shared``:
    the groups whose StatefulSet mounts a ConfigMap of the group's own / the cluster's now."""
    staying = sorted(g for g in sizes if g in shared and g not in own)
    new = sorted(g for g in sizes if g not in shared and g not in own)
    if base + sum(sizes[g] for g in staying) > LIMIT:
        staying = _fill([g for g in staying if g in draining], [g for g in staying if g not in draining],
                        sizes, base=base)
    joined = _fill(staying, new, sizes, base=base)
    return Placement(shared=tuple(sorted(joined)), own=frozenset(sizes).union(own) - set(joined))


def _fill(kept: list[int], candidates: list[int], sizes: Mapping[int, int], *, base: int) -> list[int]:
    """``kept``, then the candidates in order while the total stays under :data:`JOIN` (the first that does
    not fit and every one after it stay out)."""
    total = base + sum(sizes[g] for g in kept)
    out = list(kept)
    for group in candidates:
        total += sizes[group]
        if total > JOIN:
            break
        out.append(group)
    return out


def with_mounts(model: BrokerClusterModel, current: Mapping[int, dict[str, Any]]) -> BrokerClusterModel:
    """The model naming what each running group's StatefulSet uses (``current``: by group): a headless Service
    of its own (``legacy_groups``: serviceName is immutable), a ConfigMap of its own or the cluster's."""
    legacy = frozenset(g for g, sts in current.items()
                       if sts["spec"].get("serviceName") == naming.group_name(model.name, g))
    own = frozenset(g for g, sts in current.items() if naming.config_map_name(model.name, g) in mounted(sts))
    shared = frozenset(g for g, sts in current.items()
                       if naming.cluster_service_name(model.name) in mounted(sts))
    if (legacy, own, shared) == (model.legacy_groups, model.own_config_groups, model.shared_config_groups):
        return model
    return replace(model, legacy_groups=legacy, own_config_groups=own, shared_config_groups=shared)


def mounted(sts: Mapping[str, Any]) -> set[str]:
    """The ConfigMaps a StatefulSet's pods mount (any volume name: earlier versions named theirs
    otherwise)."""
    volumes: Iterable[Mapping[str, Any]] = (
        (((sts.get("spec") or {}).get("template") or {}).get("spec") or {}).get("volumes") or ())
    return {str(v["configMap"]["name"]) for v in volumes if (v.get("configMap") or {}).get("name")}
