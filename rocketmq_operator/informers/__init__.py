"""Informers: list/watch caches of API objects, shared by all controllers (see ``informer.py``)."""

from __future__ import annotations

from .factory import SharedInformerFactory
from .handlers import DeletedFinalStateUnknown, EventHandler, FuncHandler, HandlerRegistration
from .informer import SharedInformer
from .lister import Lister, matches_labels
from .reflector import Backoff, ListWatchSource, Reflector, ReflectorSink
from .store import (
                    CONTROLLER_UID_INDEX,
                    NAMESPACE_INDEX,
                    Store,
                    controller_uid_index,
                    key_of,
                    namespace_index,
                    object_key,
)
from .transform import cache_transform, compact, strip_managed_fields

__all__ = [
                    "CONTROLLER_UID_INDEX",
                    "NAMESPACE_INDEX",
                    "Backoff",
                    "DeletedFinalStateUnknown",
                    "EventHandler",
                    "FuncHandler",
                    "HandlerRegistration",
                    "ListWatchSource",
                    "Lister",
                    "Reflector",
                    "ReflectorSink",
                    "SharedInformer",
                    "SharedInformerFactory",
                    "Store",
                    "cache_transform",
                    "compact",
                    "controller_uid_index",
                    "key_of",
                    "matches_labels",
                    "namespace_index",
                    "object_key",
                    "strip_managed_fields",
]
