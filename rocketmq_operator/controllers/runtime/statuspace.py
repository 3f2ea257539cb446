"""How often a broker cluster's status is written while only its progress figures move.

A new cluster's status changes with every pod that appears or turns Ready: members 1/4, 2/4, ..., each a
status write, each the same news ("still coming up") but for a number. ``StatusPacer`` writes a status at
once when anything that means something changed — a condition's status or reason, the generation, a
roll, a drain, the name servers, any field other than the figures — and holds back a change of only the
figures (member counts, the per-broker list, a Progressing message) until ``interval`` seconds after this
cluster's last write. The sync asks to be run again then, so the figures are at most ``interval`` seconds
old and a cluster that becomes Ready is reported Ready at once (the Ready condition changes).

The time of the last write is kept in memory only: after a restart the first change is written at once.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from rocketmq_operator.clock import REAL_CLOCK, Clock

DEFAULT_INTERVAL = 10.0
FIGURES = frozenset({"members", "readyMembers", "readyGroups", "registeredMembers", "brokers"})
_FALSE_PROGRESSING = ("False", "Progressing")


def figures_only(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """True when ``new`` differs from ``old`` only in progress figures (see the module docstring)."""
    if not old or old.keys() != new.keys():
        return False
    for key, value in new.items():
        if key not in FIGURES and key != "conditions" and old[key] != value:
            return False
    return _same_conditions(old.get("conditions") or [], new.get("conditions") or [])


def _same_conditions(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> bool:
    if [c.get("type") for c in old] != [c.get("type") for c in new]:
        return False
    for before, after in zip(old, new, strict=True):
        if before == after:
            continue
        if (before.get("status"), before.get("reason")) != (after.get("status"), after.get("reason")):
            return False
        # Same status and reason: only the message (and the time it was said) moved. That is a figure only
        # while the condition says "still progressing" or the Ready count of a Ready cluster.
        ready_count = after.get("type") == "Ready" and after.get("status") == "True"
        if (after.get("status"), after.get("reason")) != _FALSE_PROGRESSING and not ready_count:
            return False
        if {k: v for k, v in before.items() if k not in ("message", "lastTransitionTime")} != \
                {k: v for k, v in after.items() if k not in ("message", "lastTransitionTime")}:
            return False
    return True


class StatusPacer:
    """Per cluster: write now, or how many seconds to hold a figures-only change back."""

    def __init__(self, *, interval: float = DEFAULT_INTERVAL, clock: Clock = REAL_CLOCK) -> None:
        self.interval = interval
        self._clock = clock
        self._written: dict[Hashable, float] = {}

    def hold(self, key: Hashable, old: dict[str, Any], new: dict[str, Any]) -> float | None:
        """Seconds to wait before writing ``new`` over ``old``, or None to write now."""
        if self.interval <= 0 or not figures_only(old, new):
            return None
        last = self._written.get(key)
        if last is None:
            return None
        left = last + self.interval - self._clock.now()
        return left if left > 0 else None

    def wrote(self, key: Hashable) -> None:
        self._written[key] = self._clock.now()

    def forget(self, key: Hashable) -> None:
        self._written.pop(key, None)
