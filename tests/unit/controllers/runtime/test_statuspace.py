"""StatusPacer: figures-only status changes are held back for the interval, everything else is written at
once."""

from __future__ import annotations

import copy
from typing import Any

from rocketmq_operator.controllers.runtime.statuspace import StatusPacer, figures_only
from tests.fakeclock import FakeClock


def status(ready: int, *, total: int = 4, reason: str | None = None, **extra: Any) -> dict[str, Any]:
    is_ready = ready == total and reason is None
    return {
        "observedGeneration": 1,
        "members": total,
        "readyMembers": ready,
        "brokers": [{"name": f"bc-0-{i}", "ready": i < ready} for i in range(total)],
        "conditions": [{"type": "Ready", "status": "True" if is_ready else "False",
                        "reason": "AllBrokersReady" if is_ready else reason or "Progressing",
                        "message": f"{ready}/{total} brokers ready", "observedGeneration": 1,
                        "lastTransitionTime": "2026-12-02T00:00:00Z"}],
        **extra,
    }


def test_counts_and_a_progressing_message_are_figures():
    assert figures_only(status(1), status(2))
    assert figures_only(status(1, extra_field=1), status(3, extra_field=1))


def test_a_condition_that_changes_status_or_reason_is_not_a_figure():
    assert not figures_only(status(3), status(4))  # Ready turns True
    assert not figures_only(status(1), status(1, reason="FailedCreate"))
    # a new failure
    assert not figures_only(status(1, reason="FailedCreate"), status(2, reason="FailedCreate"))


def test_other_fields_and_new_fields_are_not_figures():
    assert not figures_only({}, status(0))
    assert not figures_only(status(1, roll={"group": 0}), status(1, roll={"group": 1}))
    assert not figures_only(status(1), status(1, drain={"group": 1}))
    newer = status(2)
    newer["observedGeneration"] = 2
    assert not figures_only(status(1), newer)


def test_a_message_change_of_another_condition_is_not_a_figure():
    old, new = status(1), status(2)
    for s, message in ((old, "waiting for broker-0"), (new, "waiting for broker-1")):
        s["conditions"].append({"type": "Rolling", "status": "True", "reason": "OneAtATime",
                                "message": message})
    assert not figures_only(old, new)


def test_figures_wait_for_the_interval_after_the_last_write_and_the_rest_does_not():
    clock = FakeClock()
    pacer = StatusPacer(interval=5.0, clock=clock)
    key = ("BrokerCluster", "ns", "bc")
    assert pacer.hold(key, status(0), status(1)) is None  # nothing written by this process yet
    pacer.wrote(key)
    clock.step(2.0)
    assert pacer.hold(key, status(1), status(2)) == 3.0
    assert pacer.hold(key, status(3), status(4)) is None  # Ready: at once
    clock.step(3.0)
    assert pacer.hold(key, status(1), status(2)) is None
    pacer.forget(key)
    pacer.wrote(("BrokerCluster", "ns", "other"))
    assert pacer.hold(key, status(1), status(2)) is None


def test_interval_zero_writes_everything_at_once():
    clock = FakeClock()
    pacer = StatusPacer(interval=0, clock=clock)
    pacer.wrote("k")
    assert pacer.hold("k", status(1), copy.deepcopy(status(2))) is None
