"""What happens to an object between the wire and the cache.

``metadata.managedFields`` is dropped (often half an object's size, never read by the operator), then
an optional caller-supplied transform runs, then the object is compacted: short string values are
interned so the thousands of copies of ``"rocketmq"``, an image name or a namespace name share one string
instead of one each (each watch event is a document of its own). Keys need nothing: the decoder keeps
one copy of each short key for every document.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from .store import Obj

Transform = Callable[[Obj], Obj]

_INTERN_MAX_LEN = 40


def strip_managed_fields(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return obj


def compact(value: Any) -> Any:
    """``value`` with its short string values replaced by interned ones, in place (see module docstring).

    Keys are left as they are: the decoder (orjson) already shares each short key across documents. Leaves
    are handled inline rather than by recursion, and containers are changed in place rather than rebuilt:
    this runs on every cached object.
    """
    if type(value) is dict:
        for key, item in value.items():
            kind = type(item)
            if kind is str:
                if len(item) <= _INTERN_MAX_LEN:
                    value[key] = _intern(item)  # replacing a value while iterating is allowed; keys stay
            elif kind is dict or kind is list:
                compact(item)
    elif type(value) is list:
        for index, item in enumerate(value):
            kind = type(item)
            if kind is str:
                if len(item) <= _INTERN_MAX_LEN:
                    value[index] = _intern(item)
            elif kind is dict or kind is list:
                compact(item)
    elif type(value) is str and len(value) <= _INTERN_MAX_LEN:
        return _intern(value)
    return value


_intern = sys.intern


def compact_against(new: Obj, old: Obj | None) -> Obj:
    """``new`` compacted in place, each of its sections (a top-level field, or a field of its metadata) that
    equals the section of ``old`` (the version cached before it) replaced by that one, already compacted.

    Most updates change a status and a resourceVersion: the spec, labels and owners of the version before are
    then shared rather than compacted again (comparing is several times cheaper than compacting). ``old`` is
    read-only, as every cached object: sharing parts of it changes nothing for its readers.
    """
    if old is None:
        return compact(new)
    for key, value in new.items():
        prev = old.get(key)
        kind = type(value)
        if key == "metadata" and kind is dict and type(prev) is dict:
            _share_fields(value, prev)
        elif (kind is dict or kind is list) and prev == value:
            new[key] = prev
        else:
            new[key] = compact(value)
    return new


def _share_fields(new: dict[str, Any], old: dict[str, Any]) -> None:
    for key, value in new.items():
        kind = type(value)
        if kind is dict or kind is list:
            prev = old.get(key)
            if prev == value:
                new[key] = prev
            else:
                compact(value)
        elif kind is str and len(value) <= _INTERN_MAX_LEN:
            new[key] = _intern(value)


def cache_transform(user: Transform | None = None, *, intern: bool = True) -> Transform:
    """The full wire-to-cache transform: strip managed fields, apply ``user``, compact (without ``intern``,
    the informer compacts each object against the version it replaces: :func:`compact_against`)."""

    def transform(obj: Obj) -> Obj:
        obj = strip_managed_fields(obj)
        if user is not None:
            obj = user(obj)
        return compact(obj) if intern else obj

    return transform
