"""Deep copies of JSON data.

The builders copy the user's pod options (env, resources, volumes, affinity, ...) into every object they
make, and the diff copies cached objects into updates: all of it decoded JSON. A round trip through orjson
copies such data several times faster than ``copy.deepcopy``, which pays for generality (memo, cycles,
arbitrary classes) on every nested value; tuples come back as lists, which is what JSON holds anyway.
"""

from __future__ import annotations

import copy
from typing import TypeVar

import orjson

T = TypeVar("T")


def json_copy(value: T) -> T:
    """A deep copy of ``value``: orjson's round trip for JSON data, ``copy.deepcopy`` for anything else."""
    try:
        return orjson.loads(orjson.dumps(value))
    except TypeError:  # not JSON data (a set, a non-string key, an integer beyond 64 bits, ...)
        return copy.deepcopy(value)
