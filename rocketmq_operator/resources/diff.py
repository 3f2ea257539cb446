"""Does a live object differ from the desired one, and what should be written back?

The API server adds fields to what the operator sends (``protocol: TCP``,
``terminationMessagePath``, ``imagePullPolicy``, ``resources: {}``, probe timeouts, ...), rewrites
quantities into canonical form (``cpu: 0.5`` becomes ``500m``) and drops empty values. So the
comparison is one-sided: the desired object must be *contained* in the current one.

- dicts: every key of desired must match in current; keys only in current are ignored;
- lists: same length, element by element (order matters: containers, ports, env are ordered);
  ``ownerReferences`` only need each desired reference to be present;
- a key missing from current matches an empty desired value (``{}``, ``[]``, ``""``, ``False``);
- under ``requests``/``limits``/``capacity`` values compare as quantities;
- ``apiVersion``, ``kind`` and ``status`` are not compared (list items omit the first two).

:func:`merged` builds the object to PUT: the current object's metadata (resourceVersion, foreign
labels, annotations and owners kept), and for every desired field the current value when it already
matches — so unchanged immutable fields and server defaults are sent back byte for byte — otherwise
the desired value. A changed dict is rebuilt from desired's keys only: keys that only the server
added are dropped and defaulted again, which keeps one-of fields valid (switching a probe from
``tcpSocket`` to ``exec`` must not keep both). Allocated Service fields (``clusterIP(s)``,
``ipFamilies``, ``ipFamilyPolicy``) are always carried over.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from cachetools import LRUCache
from kubernetes.utils.quantity import parse_quantity

from rocketmq_operator.resources.jsoncopy import json_copy

IGNORED_TOP_LEVEL = frozenset({"apiVersion", "kind", "status"})
QUANTITY_MAPS = frozenset({"requests", "limits", "capacity"})
KEPT_SERVICE_FIELDS = ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy")
UNION_METADATA = ("labels", "annotations")


def needs_update(desired: Mapping[str, Any], current: Mapping[str, Any], *,
                 memo: ContainsMemo | None = None) -> bool:
    """True when a field the operator sets in ``desired`` is missing or different in ``current``. With
    ``memo``, the spec of an object that has a generation is compared once per version of it."""
    for key, value in desired.items():
        if key in IGNORED_TOP_LEVEL:
            continue
        if key == "spec" and memo is not None:
            if not memo.contains(value, current, ("spec",)):
                return True
        elif not contains(value, current.get(key), path=(key,)):
            return True
    return False


class ContainsMemo:
    """Remembers what :func:`contains` found for a part of an object version that cannot change within it.

    The API server bumps ``metadata.generation`` with every change to an object's spec, so
    ``(uid, generation)`` names one spec: whether it contains a desired value (named by a digest of its JSON)
    is then known after the first comparison, and a sync that renders the same desired spec as the last one
    (most syncs: a pod turned Ready) costs a digest instead of a walk. Objects without a generation are
    compared each time. Thread-safe; bounded (least recently used entries go).
    """

    def __init__(self, size: int = 8192) -> None:
        self._seen: LRUCache[tuple[Any, ...], bool] = LRUCache(maxsize=size)
        self._lock = threading.Lock()

    def contains(self, desired: Any, current: Mapping[str, Any], path: tuple[str, ...]) -> bool:
        """Is ``desired`` contained in the part of ``current`` (a whole object) at ``path``?"""
        meta = current.get("metadata") or {}
        part: Any = current
        for name in path:
            part = part.get(name) if isinstance(part, Mapping) else None
        generation, uid = meta.get("generation"), meta.get("uid")
        if not generation or not uid:
            return contains(desired, part, path=path)
        try:
            digest = hashlib.blake2b(orjson.dumps(desired, option=orjson.OPT_SORT_KEYS),
                                     digest_size=16).digest()
        except TypeError:  # not JSON data: nothing to name it by
            return contains(desired, part, path=path)
        key = (uid, generation, path, digest)
        with self._lock:
            found = self._seen.get(key)
        if found is None:
            found = contains(desired, part, path=path)
            with self._lock:
                self._seen[key] = found
        return found


def contains(desired: Any, current: Any, *, path: tuple[str, ...] = ()) -> bool:
    """Is ``desired`` contained in ``current`` (see the module docstring for the rules)?"""
    return _contains(desired, current, path[-1] if path else "", path[-2] if len(path) >= 2 else "")


def _contains(desired: Any, current: Any, key: str, parent: str) -> bool:
    """:func:`contains` for a value found under ``parent``/``key`` (the two names its rules look at); one call
    per node of ``desired`` that differs from ``current``, on the hot path of every sync."""
    kind = type(desired)
    if kind is type(current) and desired == current and _same_json(desired, current):
        return True  # equal is contained: C-level comparisons instead of a walk of the subtree
    if current is None:
        return _is_empty(desired)
    if kind is dict or (kind is not list and isinstance(desired, Mapping)):
        if not isinstance(current, Mapping):
            return False
        for name, value in desired.items():
            if not _contains(value, current.get(name), name, key):
                return False
        return True
    if kind is list:
        return _list_contains(desired, current, key, parent)
    if parent in QUANTITY_MAPS:
        return _same_quantity(desired, current)
    return _same_scalar(desired, current)


def _list_contains(desired: list[Any], current: Any, key: str, parent: str) -> bool:
    if type(current) is not list:
        return False
    if key == "ownerReferences":
        return all(any(_contains(d, c, key, parent) for c in current) for d in desired)
    if len(desired) != len(current):
        return False
    for d, c in zip(desired, current):  # lengths checked above
        if not _contains(d, c, key, parent):
            return False
    return True


def _same_json(desired: Any, current: Any) -> bool:
    """``==`` holds for ``True`` and ``1``; their JSON does not (booleans are not numbers)."""
    kind = type(desired)
    if kind is not dict and kind is not list:
        return True  # same type and equal
    try:
        return (orjson.dumps(desired, option=orjson.OPT_SORT_KEYS)
                == orjson.dumps(current, option=orjson.OPT_SORT_KEYS))
    except TypeError:
        return False


def _is_empty(value: Any) -> bool:
    return value is None or value is False or value in ("", {}, [])


def _same_scalar(desired: Any, current: Any) -> bool:
    if isinstance(desired, bool) or isinstance(current, bool):
        return desired is current
    return desired == current


def _same_quantity(desired: Any, current: Any) -> bool:
    try:
        return _quantity(desired) == _quantity(current)
    except (ValueError, InvalidOperation, TypeError):
        return _same_scalar(desired, current)


def _quantity(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise TypeError("a boolean is not a quantity")
    return parse_quantity(value)


def merged(desired: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """The object to PUT so that ``current`` comes to contain ``desired`` (see module docstring)."""
    result = {key: json_copy(value) for key, value in current.items() if key != "status"}
    for key, value in desired.items():
        if key == "metadata":
            result[key] = _merged_metadata(value, current.get("metadata") or {})
        elif key in IGNORED_TOP_LEVEL:
            result.setdefault(key, json_copy(value))
        else:
            result[key] = _merged_value(value, current.get(key), path=(key,))
    if desired.get("kind") == "Service":
        _keep_allocated(result, current)
    return result


def _merged_value(desired: Any, current: Any, *, path: tuple[str, ...]) -> Any:
    if contains(desired, current, path=path) and current is not None:
        return json_copy(current)
    if isinstance(desired, Mapping) and isinstance(current, Mapping):
        return {
            key: _merged_value(value, current.get(key), path=(*path, key)) for key, value in desired.items()
        }
    return json_copy(desired)


def _merged_metadata(desired: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    result = json_copy(dict(current))
    for key, value in desired.items():
        if key in UNION_METADATA:
            result[key] = {**(current.get(key) or {}), **value}
        elif key == "ownerReferences":
            result[key] = _merged_owners(value, current.get(key) or [])
        else:
            result[key] = json_copy(value)
    return result


def _merged_owners(desired: list[Mapping[str, Any]], current: list[Mapping[str, Any]]) -> list[Any]:
    """Desired references first, then current references to other owners (kept as they are)."""
    uids = {ref.get("uid") for ref in desired}
    others = [json_copy(ref) for ref in current if ref.get("uid") not in uids]
    return [*json_copy(desired), *others]


def _keep_allocated(result: dict[str, Any], current: Mapping[str, Any]) -> None:
    spec = result.setdefault("spec", {})
    current_spec = current.get("spec") or {}
    for key in KEPT_SERVICE_FIELDS:
        if key not in spec and key in current_spec:
            spec[key] = json_copy(current_spec[key])
