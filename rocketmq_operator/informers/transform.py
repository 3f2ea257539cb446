"""What happens to an object between the wire and the cache.

``metadata.managedFields`` is dropped (often half an object's size, never read by the operator), then
an optional caller-supplied transform runs, then the object is compacted: dictionary keys and short
string values are interned so the thousands of copies of ``"metadata"``, ``"app.kubernetes.io/name"``
or a namespace name share one string instead of one each. The JSON decoder shares keys only within a
single document, and each watch event is its own document.
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
    """A copy of a decoded JSON value with interned keys and short strings (see module docstring).

    Leaves are handled inline rather than by recursion: this runs on every cached object.
    """
    if type(value) is dict:
        return {_intern(key): (compact(item) if type(item) in _CONTAINERS else
                               _intern(item) if type(item) is str and len(item) <= _INTERN_MAX_LEN else item)
                for key, item in value.items()}
    if type(value) is list:
        return [compact(item) if type(item) in _CONTAINERS else
                _intern(item) if type(item) is str and len(item) <= _INTERN_MAX_LEN else item
                for item in value]
    return _intern(value) if type(value) is str and len(value) <= _INTERN_MAX_LEN else value


_intern = sys.intern
_CONTAINERS = (dict, list)


def cache_transform(user: Transform | None = None, *, intern: bool = True) -> Transform:
    """The full wire-to-cache transform: strip managed fields, apply ``user``, compact."""

    def transform(obj: Obj) -> Obj:
        obj = strip_managed_fields(obj)
        if user is not None:
            obj = user(obj)
        return compact(obj) if intern else obj

    return transform
