"""Covers the roll planner: one broker at a time across the cluster (slaves of every group, then masters
group by group), partitions that hold everyone else, health before each step, and a master's sync check,
fence, drain and restore — each step a table row."""

from __future__ import annotations

import pytest

from rocketmq_operator.controllers.plans.rollplan import GroupState, PodState, RollParams, plan

PARAMS = RollParams(max_lag_bytes=100, drain_seconds=10.0)


def groups(*, pending: bool = True, settled: bool = True,
           updated: set[str] = frozenset()) -> list[GroupState]:
    """The groups as the planner left them: each partition at the first updated pod (2: all held)."""
    def partition(g: int) -> int:
        return min([m for m in (0, 1) if f"c-{g}-{m}" in updated], default=2)
    return [GroupState(g, f"broker-{g}", 2, pending=pending, settled=settled, partition=partition(g))
            for g in (0, 1)]


def pods(updated: set[str] = frozenset(), **overrides: dict) -> list[PodState]:
    out = []
    for g in (0, 1):
        for m in (0, 1):
            name = f"c-{g}-{m}"
            fields = {"updated": name in updated, "ready": True, "registered": True,
                      "broker_name": f"broker-{g}", "lag_bytes": 0 if m else None,
                      "put_tps": 50.0 if m == 0 else 0.0}
            fields.update(overrides.get(name.replace("-", "_"), {}))
            out.append(PodState(name, g, m, **fields))
    return out


ALL_SLAVES = {"c-0-1", "c-1-1"}


def test_nothing_to_roll_is_done_with_every_partition_open():
    result = plan(groups(pending=False), pods(), {}, now=0, params=PARAMS)
    assert result.done and result.partitions == {0: 0, 1: 0} and result.roll == {}


@pytest.mark.parametrize("updated, next_pod, partitions", [
    (set(), "c-0-1", {0: 1, 1: 2}),
    ({"c-0-1"}, "c-1-1", {0: 1, 1: 1}),
])
def test_slaves_of_every_group_go_first_one_at_a_time(updated, next_pod, partitions):
    result = plan(groups(updated=updated), pods(updated), {}, now=0, params=PARAMS)
    assert (result.next_pod, dict(result.partitions)) == (next_pod, partitions)


def test_a_pod_that_is_not_ready_holds_the_roll_and_every_partition():
    result = plan(groups(updated={"c-0-1"}), pods({"c-0-1"}, c_0_1={"ready": False}), {},
                  now=0, params=PARAMS)
    assert result.next_pod is None and result.partitions == {0: 1, 1: 2}
    assert result.waiting == "waiting for c-0-1 to be Ready"


def test_an_unregistered_broker_holds_the_roll():
    result = plan(groups(), pods(set(), c_1_0={"registered": False}), {}, now=0, params=PARAMS)
    assert result.next_pod is None and "c-1-0 to be registered" in result.waiting


def test_a_missing_pod_holds_the_roll():
    result = plan(groups(), pods()[:3], {}, now=0, params=PARAMS)
    assert result.next_pod is None and result.waiting == "waiting for 1 broker pod(s) to exist"


def test_the_statefulset_controller_must_have_seen_the_spec_first():
    result = plan(groups(settled=False), pods(), {}, now=0, params=PARAMS)
    assert result.next_pod is None and result.waiting == "waiting for the StatefulSet controller"


def test_a_master_waits_for_its_slave_to_catch_up():
    result = plan(groups(updated=ALL_SLAVES), pods(ALL_SLAVES, c_0_1={"lag_bytes": 5000}), {},
                  now=0, params=PARAMS)
    assert result.next_pod is None and result.wipe is None
    assert "c-0-1 to catch up with c-0-0" in result.waiting


def test_a_master_in_sync_is_first_fenced_in_status_then_wiped_then_drained_then_released():
    fence = plan(groups(updated=ALL_SLAVES), pods(ALL_SLAVES), {}, now=100, params=PARAMS)
    assert fence.roll == {"fenced": "broker-0"} and fence.wipe is None and fence.next_pod is None
    wipe = plan(groups(updated=ALL_SLAVES), pods(ALL_SLAVES), fence.roll, now=101, params=PARAMS)
    assert wipe.wipe == "broker-0" and wipe.next_pod is None
    draining = plan(groups(updated=ALL_SLAVES), pods(ALL_SLAVES), {**fence.roll, "wipedAt": 101},
                    now=105, params=PARAMS)
    assert draining.next_pod is None and "producers to leave broker-0 (4/10 s)" in draining.waiting
    released = plan(groups(updated=ALL_SLAVES), pods(ALL_SLAVES), {**fence.roll, "wipedAt": 101},
                    now=112, params=PARAMS)
    assert released.next_pod == "c-0-0" and released.partitions == {0: 0, 1: 1}


def test_a_quiet_master_is_released_before_the_drain_time():
    quiet = pods(ALL_SLAVES, c_0_0={"put_tps": 0.0})
    result = plan(groups(updated=ALL_SLAVES), quiet, {"fenced": "broker-0", "wipedAt": 100},
                  now=101, params=PARAMS)
    assert result.next_pod == "c-0-0"


def test_a_master_back_registered_and_ready_gets_its_write_permission_back_before_the_next_master():
    roll = {"fenced": "broker-0", "wipedAt": 100, "pod": "c-0-0"}
    result = plan(groups(updated={*ALL_SLAVES, "c-0-0"}), pods({*ALL_SLAVES, "c-0-0"}), roll,
                  now=130, params=PARAMS)
    assert result.restore == "broker-0" and result.next_pod is None


def test_a_master_back_but_not_registered_keeps_the_fence():
    roll = {"fenced": "broker-0", "wipedAt": 100}
    result = plan(groups(), pods({*ALL_SLAVES, "c-0-0"}, c_0_0={"registered": False}), roll,
                  now=130, params=PARAMS)
    assert result.restore is None and result.next_pod is None


def test_a_fence_left_after_the_roll_finished_is_restored():
    result = plan(groups(pending=False), pods(), {"fenced": "broker-1", "wipedAt": 1}, now=5, params=PARAMS)
    assert result.restore == "broker-1" and not result.done


def test_without_rocketmq_observed_a_master_restarts_after_its_slaves_without_a_fence():
    result = plan(groups(updated=ALL_SLAVES),
                  pods(ALL_SLAVES, c_0_0={"registered": None}, c_0_1={"registered": None},
                       c_1_0={"registered": None}, c_1_1={"registered": None}),
                  {}, now=0, params=RollParams(observed=False))
    assert result.next_pod == "c-0-0" and result.roll == {"pod": "c-0-0"}


def test_a_pod_being_recreated_above_the_partition_is_not_held_back_to_the_old_revision():
    """c-1-1 was released (partition 1) and is being recreated: raising the partition to 2 now would have
    the StatefulSet controller recreate it again at the old revision."""
    rolling = [GroupState(0, "broker-0", 2, pending=True, settled=True, partition=1),
               GroupState(1, "broker-1", 2, pending=True, settled=True, partition=1)]
    present = [p for p in pods({"c-0-1"}) if p.name != "c-1-1"]
    result = plan(rolling, present, {}, now=0, params=PARAMS)
    assert result.next_pod is None and result.partitions == {0: 1, 1: 1}


def test_a_released_pod_still_on_the_old_revision_holds_the_roll_and_keeps_its_partition():
    """c-0-1 was released (partition 1) and the StatefulSet controller has not replaced it yet: it stays
    released, and nothing else moves meanwhile."""
    rolling = [GroupState(0, "broker-0", 2, pending=True, settled=True, partition=1),
               GroupState(1, "broker-1", 2, pending=True, settled=True, partition=2)]
    result = plan(rolling, pods(), {}, now=0, params=PARAMS)
    assert result.next_pod is None and result.partitions == {0: 1, 1: 2}
    assert result.waiting == "waiting for c-0-1 to restart"


@pytest.mark.parametrize("group_0_pending, c_0_1", [
    # c-0-1 released and replaced at the new revision; c-0-0 and group 1 still on the old one, which the
    # stale update revision names: they look updated (seen in an e2e roll: partitions 0 released c-0-0,
    # a master, and c-1-0 and c-1-1 at once)
    (True, {"updated": False, "ready": False}),
    # the template was just written and nothing replaced yet: every pod looks updated, nothing pending
    (False, {"updated": True}),
], ids=["a-replacement-looks-old", "nothing-looks-pending"])
def test_groups_the_statefulset_controller_has_not_seen_keep_their_partitions_whatever_their_stale_status_says(  # noqa: E501, RUF100 - the name alone is over 110
        group_0_pending, c_0_1):
    """Right after a template change the cache shows the new generation with the status of the old one
    (observedGeneration behind, the previous update revision): which pods are updated, and whether anything is
    pending, are not known yet."""
    stale = [GroupState(0, "broker-0", 2, pending=group_0_pending, settled=False, partition=1),
             GroupState(1, "broker-1", 2, pending=False, settled=False, partition=2)]
    seen = pods({"c-0-0", "c-1-0", "c-1-1"}, c_0_1=c_0_1)
    result = plan(stale, seen, {}, now=0, params=PARAMS)
    assert result.partitions == {0: 1, 1: 2}
    assert result.next_pod is None and not result.done and result.roll == {}


def test_a_fence_is_not_restored_while_the_statefulset_controller_has_not_seen_the_spec():
    """A group the controller has not reported on may look as if nothing were pending (its status names an
    older revision): the fenced master's writes come back only once the controller reports on it."""
    roll = {"fenced": "broker-0", "wipedAt": 100, "pod": "c-0-0"}
    stale = [GroupState(g, f"broker-{g}", 2, pending=False, settled=g != 0, partition=0) for g in (0, 1)]
    result = plan(stale, pods({"c-0-1", "c-1-1", "c-1-0", "c-0-0"}), roll, now=130, params=PARAMS)
    assert result.restore is None and result.roll == roll and result.partitions == {0: 0, 1: 0}
    assert result.waiting == "waiting for the StatefulSet controller"


# -- CONTROLLER mode: the controller names the master; hand over before it restarts ------------------------

CTL = RollParams(controller_mode=True)


def ctl_group(updated: set[str] = frozenset()) -> list[GroupState]:
    """One group of three, partition at its first updated pod."""
    partition = min([m for m in range(3) if f"h-0-{m}" in updated], default=3)
    return [GroupState(0, "broker-0", 3, pending=True, settled=True, partition=partition)]


def ctl_pods(master: int | None, updated: set[str] = frozenset(), **overrides: dict) -> list[PodState]:
    out = []
    for m in range(3):
        name = f"h-0-{m}"
        fields = {"updated": name in updated, "ready": True, "registered": True, "broker_id": m + 1,
                  "master": None if master is None else m == master, "in_sync": True}
        fields.update(overrides.get(name.replace("-", "_"), {}))
        out.append(PodState(name, 0, m, **fields))
    return out


@pytest.mark.parametrize("master, updated, next_pod", [
    (0, set(), "h-0-2"),            # member 0 is master: the slaves go first, highest ordinal first
    (0, {"h-0-2"}, "h-0-1"),
    (2, {"h-0-2"}, "h-0-1"),        # mastership already moved to an updated pod: the old one is a slave now
])
def test_controller_mode_restarts_slaves_as_the_controller_names_them(master, updated, next_pod):
    result = plan(ctl_group(updated), ctl_pods(master, updated), {}, now=0, params=CTL)
    assert (result.next_pod, result.elect) == (next_pod, None)


def test_before_the_master_restarts_mastership_goes_to_an_updated_in_sync_slave():
    updated = {"h-0-1", "h-0-2"}
    result = plan(ctl_group(updated), ctl_pods(0, updated, h_0_1={"in_sync": False}), {}, now=0, params=CTL)
    assert result.next_pod is None and result.partitions == {0: 1}
    assert result.elect == ("broker-0", 3)
    assert result.waiting == "handing mastership of broker-0 from h-0-0 to h-0-2"


def test_a_master_at_the_top_ordinal_hands_over_to_a_slave_not_yet_updated():
    """The partition releases the highest ordinal first, so the master's turn comes before its slaves'."""
    result = plan(ctl_group(), ctl_pods(2), {}, now=0, params=CTL)
    assert (result.next_pod, result.elect, result.partitions) == (None, ("broker-0", 1), {0: 3})


@pytest.mark.parametrize("overrides, waits_for", [
    ({"h_0_1": {"in_sync": False}, "h_0_2": {"in_sync": False}}, "an in-sync slave of broker-0"),
    ({"h_0_1": {"in_sync": False}, "h_0_2": {"ready": False}}, "h-0-2 to be Ready"),
])
def test_without_an_in_sync_ready_heir_the_master_waits(overrides, waits_for):
    updated = {"h-0-1", "h-0-2"}
    result = plan(ctl_group(updated), ctl_pods(0, updated, **overrides), {}, now=0, params=CTL)
    assert result.next_pod is None and result.elect is None and waits_for in result.waiting


def test_without_the_controllers_view_nothing_in_the_group_restarts():
    result = plan(ctl_group(), ctl_pods(None), {}, now=0, params=CTL)
    assert result.next_pod is None and result.elect is None
    assert result.waiting == "waiting for the controller's view of broker-0 before restarting h-0-2"


def test_controller_mode_never_wipes_write_permission():
    updated = {"h-0-1", "h-0-2"}
    result = plan(ctl_group(updated), ctl_pods(1, updated), {}, now=0, params=CTL)
    assert (result.next_pod, result.wipe, result.roll) == ("h-0-0", None, {"pod": "h-0-0"})
