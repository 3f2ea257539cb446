"""The JVM heap of broker and name-server pods, from the user's knobs or the pod's memory limit.

RocketMQ's launchers (``runbroker.sh``, ``runserver.sh``) size the heap for a whole machine: the
official ``apache/rocketmq`` image starts a broker with several GiB of heap whatever the pod's
limit, so a pod with a 512 Mi limit is OOM-killed at start. That image reads two variables:
``HEAP_OPTS`` replaces its heap flags and ``JAVA_OPT_EXT`` is appended to the JVM options (so its
``-Xmx`` wins over the image's). The Apache operator's images read ``BROKER_MEM`` instead of the
heap flags; their name-server image has no such knob, ``NAMESRV_MEM`` is this operator's twin of
``BROKER_MEM`` for name servers.

The operator adds ``HEAP_OPTS`` after the user's env, by the first rule that applies:

1. the user sets ``HEAP_OPTS``, or ``JAVA_OPT_EXT`` with a heap flag (``-Xmx``/``-Xms``/``-Xmn``)
   or from a reference it cannot read: nothing is added, the user's setting wins as given;
2. the user sets ``BROKER_MEM`` (brokers) or ``NAMESRV_MEM`` (name servers):
   ``HEAP_OPTS=$(BROKER_MEM)`` — Kubernetes expands ``$(VAR)`` from earlier entries, so a
   ``valueFrom`` knob works too (the Apache operator's example reads it from a ConfigMap);
3. the container has a memory limit: heap = 50 % of it, at most 8 GiB for a broker and 2 GiB for
   a name server, at least 64 MiB; ``-Xms`` = ``-Xmx`` (no resizing pauses, the memory is the
   pod's anyway) and ``-Xmn`` = half the heap. The other half of the limit is for what a broker
   needs outside the heap: direct buffers, the page cache of the commit log (counted against the
   pod's memory cgroup), metaspace and thread stacks;
4. otherwise a small default: ``-Xms512m -Xmx512m -Xmn256m`` for a broker,
   ``-Xms256m -Xmx256m -Xmn128m`` for a name server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

HEAP_OPTS = "HEAP_OPTS"
JAVA_OPT_EXT = "JAVA_OPT_EXT"
MIB = 1024 * 1024
MIN_HEAP_MIB = 64
HEAP_FRACTION = Decimal("0.5")

_SUFFIXES = {
    "": 1,
    "m": Decimal("0.001"),
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}
_QUANTITY = re.compile(
    r"^(?P<number>[+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)(?P<suffix>[a-zA-Z]*)$"
)
_HEAP_FLAG = re.compile(r"(^|\s)-Xm[sxn]")


@dataclass(frozen=True)
class HeapProfile:
    """How one kind of RocketMQ server gets its heap."""

    mem_env: str  # the knob of the Apache operator's images
    cap_mib: int
    default: str


BROKER = HeapProfile(mem_env="BROKER_MEM", cap_mib=8192, default="-Xms512m -Xmx512m -Xmn256m")
NAME_SERVER = HeapProfile(mem_env="NAMESRV_MEM", cap_mib=2048, default="-Xms256m -Xmx256m -Xmn128m")
CONTROLLER = NAME_SERVER  # a controller is as small as a name server (it keeps only the replica tables)
PROXY = HeapProfile(mem_env="PROXY_MEM", cap_mib=4096, default="-Xms512m -Xmx512m -Xmn256m")


def parse_quantity(text: str | float) -> int | None:
    """Bytes of a Kubernetes quantity (``2Gi``, ``1.5Gi``, ``12288Mi``, ``500M``, ``1e9``), rounded
    down; ``None`` when it is not one."""
    match = _QUANTITY.match(str(text).strip())
    if not match or match["suffix"] not in _SUFFIXES:
        return None
    try:
        return int(Decimal(match["number"]) * _SUFFIXES[match["suffix"]])
    except InvalidOperation:
        return None


def heap_env(
    env: Sequence[Mapping[str, Any]], *, resources: Mapping[str, Any], profile: HeapProfile
) -> list[dict[str, Any]]:
    """The env entries to append after the user's ``env`` (none, or one ``HEAP_OPTS``)."""
    by_name = {var.get("name"): var for var in env}
    if HEAP_OPTS in by_name or _sets_heap(by_name.get(JAVA_OPT_EXT)):
        return []
    if profile.mem_env in by_name:
        return [{"name": HEAP_OPTS, "value": f"$({profile.mem_env})"}]
    return [{"name": HEAP_OPTS, "value": heap_options(resources, profile=profile)}]


def heap_options(resources: Mapping[str, Any], *, profile: HeapProfile) -> str:
    """Heap flags from the memory limit (rule 3), else the profile's default (rule 4)."""
    limit = parse_quantity(((resources or {}).get("limits") or {}).get("memory", ""))
    if not limit:
        return profile.default
    heap = int(Decimal(limit) * HEAP_FRACTION) // MIB
    heap = max(MIN_HEAP_MIB, min(profile.cap_mib, heap))
    return f"-Xms{heap}m -Xmx{heap}m -Xmn{heap // 2}m"


def _sets_heap(var: Mapping[str, Any] | None) -> bool:
    if var is None:
        return False
    if "valueFrom" in var:
        return True
    return bool(_HEAP_FLAG.search(str(var.get("value", ""))))
