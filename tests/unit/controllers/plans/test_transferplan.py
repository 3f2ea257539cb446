"""Covers the TopicTransfer planner: every phase against the facts that decide it (tables), the drain bound
on an injected clock, terminal phases that never act again, what a deleted transfer does in each phase,
masters the source expects that are not registered, and a whole transfer and a rollback played step by step
against a simulated RocketMQ."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rocketmq_operator.controllers.plans import transferplan as tp
from rocketmq_operator.controllers.plans.transferplan import (
    Advance,
    CreateGroups,
    CreateTopics,
    DeleteGroups,
    DeleteTopic,
    Facts,
    Fail,
    Idle,
    Progress,
    Queues,
    Release,
    SetPerm,
    Side,
    Spec,
    Wait,
    plan,
)
from tests.fakeclock import FakeClock

NOW = 1_700_000_000.0
SPEC = Spec(topic="orders", source="broker-0", target="broker-1", drain_timeout=600)
RW, RO = Queues(4, 4, 6), Queues(4, 4, 4)


def side(cluster: str, *, topic: Queues | None = None, groups=(), retry=(), messages=0,
         masters=("b-0", "b-1")) -> Side:
    return Side(cluster=cluster, masters=masters, topic={b: topic for b in masters} if topic else {},
                groups=frozenset(groups), retry_topics=frozenset(retry), messages=messages)


SRC = side("C1", topic=RW, groups=("g1",))
TGT = side("C2")


def facts(source: Side = SRC, target: Side = TGT, *, consumers=("g1",), lag=None, at=NOW) -> Facts:
    return Facts(read_at=at, source=source, target=target, consumers=frozenset(consumers), lag=lag)


DOWN_RO = replace(side("C1", topic=RO), missing=("b-2",))  # b-2 should be there, is not registered
DOWN_RW = replace(side("C1", topic=RW), missing=("b-2",))
STARTED = Progress(phase=tp.CREATING, queues=RW, groups=("g1",), owns_topic=True, owned_groups=("g1",),
                   generation=1)


def at(phase: str, **changes) -> Progress:
    steps = {tp.FENCING: (tp.TARGET_CREATED,), tp.DRAINING: (tp.TARGET_CREATED, tp.SOURCE_FENCED),
             tp.DELETING: (tp.TARGET_CREATED, tp.SOURCE_FENCED, tp.DRAINED)}.get(phase, ())
    return replace(STARTED, phase=phase, steps=steps, **changes)


DRAINING = at(tp.DRAINING, drain_started=NOW - 60)
TABLE = [
    # (id, progress, facts, expected action type, expected phase/reason or side, text in message)
    ("pending: starts, recording config and groups", Progress(), facts(), Advance, tp.CREATING, "g1"),
    ("pending: topic missing on source waits", Progress(), facts(side("C1")), Wait, "TopicNotFound",
     "orders"),
    ("pending: same cluster waits", Progress(), facts(SRC, side("C1")), Wait, "SameCluster", "C1"),
    ("pending: source without masters waits", Progress(), facts(side("C1", masters=())), Wait, "NoMasters",
     "broker-0"),
    ("pending: target without masters waits", Progress(), facts(target=side("C2", masters=())), Wait,
     "NoMasters", "broker-1"),
    ("pending: stale facts are read again", Progress(), facts(at=NOW - 31), Wait, "ReadingRocketMQ",
     "reading"),
    ("creating: groups missing on target are created first", STARTED, facts(), CreateGroups, "target", "g1"),
    ("creating: topic missing on target is created", STARTED, facts(target=side("C2", groups=("g1",))),
     CreateTopics, "target", "4 read / 4 write"),
    ("creating: topic on one target master only", STARTED,
     facts(target=Side("C2", ("b-0", "b-1"), {"b-0": RW}, frozenset({"g1"}))), CreateTopics, "target",
     "orders"),
    ("creating: topic with other queue counts is updated", STARTED,
     facts(target=side("C2", topic=Queues(8, 8, 6), groups=("g1",))), CreateTopics, "target", "orders"),
    ("creating: groups missing on target are created with the topic there", STARTED,
     facts(target=side("C2", topic=RW)), CreateGroups, "target", "g1"),
    ("creating: a new consumer joins the transfer", STARTED,
     facts(target=side("C2", topic=RW), consumers=("g1", "g2")), Advance, tp.CREATING, "g2"),
    ("creating: everything on target advances", STARTED, facts(target=side("C2", topic=RW, groups=("g1",))),
     Advance, tp.FENCING, "C2"),
    ("creating: a target topic the transfer does not own is left as it is",
     replace(STARTED, owns_topic=False),
     facts(target=side("C2", topic=Queues(2, 2, 6), groups=("g1",))), Advance, tp.FENCING, "orders"),
    ("fencing: writable source is fenced", at(tp.FENCING), facts(target=side("C2", topic=RW)), SetPerm,
     "source", "read-only"),
    ("fencing: partly fenced source is fenced", at(tp.FENCING),
     facts(Side("C1", ("b-0", "b-1"), {"b-0": RO, "b-1": RW})), SetPerm, "source", "read-only"),
    ("fencing: read-only source advances", at(tp.FENCING), facts(side("C1", topic=RO)), Advance, tp.DRAINING,
     "read-only"),
    ("fencing: source topic gone fails", at(tp.FENCING), facts(side("C1")), Fail, "SourceTopicGone",
     "orders"),
    ("draining: lag waits", DRAINING, facts(side("C1", topic=RO), lag={"g1": 7}), Wait, "Draining",
     "g1 is 7 messages behind"),
    ("draining: lag not read yet waits", DRAINING, facts(side("C1", topic=RO)), Wait, "Draining", "reading"),
    ("draining: zero lag advances", DRAINING, facts(side("C1", topic=RO), lag={"g1": 0}), Advance,
     tp.DELETING, "consumed"),
    ("draining: no consumer groups advances", replace(DRAINING, groups=()),
     facts(side("C1", topic=RO), lag={}), Advance, tp.DELETING, "consumed"),
    ("draining: source writable again is fenced again", DRAINING, facts(lag={"g1": 0}), SetPerm, "source",
     "again"),
    ("draining: lag past the timeout fails", replace(DRAINING, drain_started=NOW - 601),
     facts(side("C1", topic=RO), lag={"g1": 3}), Fail, "DrainTimedOut", "group g1 is 3 messages behind"),
    ("deleting: source topic is deleted", at(tp.DELETING), facts(side("C1", topic=RO)), DeleteTopic, "source",
     "C1"),
    ("deleting: source gone is recorded", at(tp.DELETING), facts(side("C1")), Advance, tp.DELETING, "gone"),
    ("deleting: retry topics are created",
     replace(at(tp.DELETING), steps=(*at(tp.DELETING).steps, tp.SOURCE_DELETED)),
     facts(side("C1")), CreateTopics, "target", "%RETRY%g1"),
    ("deleting: retry topics there finishes", replace(at(tp.DELETING),
                                                      steps=(*at(tp.DELETING).steps, tp.SOURCE_DELETED)),
     facts(side("C1"), side("C2", retry=("%RETRY%g1",))), Advance, tp.DONE, "moved"),
    ("failed: source made writable again first", at(tp.FAILED, failed_in=tp.DRAINING),
     facts(side("C1", topic=RO), side("C2", topic=RW, groups=("g1",))), SetPerm, "source", "writable again"),
    ("failed in creating: source untouched, groups deleted", at(tp.FAILED, failed_in=tp.CREATING),
     facts(side("C1", topic=RW), side("C2", topic=RW, groups=("g1",))), DeleteGroups, "target", "g1"),
    ("failed: owned groups deleted", at(tp.FAILED, failed_in=tp.FENCING),
     facts(side("C1", topic=RW), side("C2", topic=RW, groups=("g1", "other"))), DeleteGroups, "target", "g1"),
    ("failed: owned empty topic deleted", at(tp.FAILED, failed_in=tp.FENCING),
     facts(side("C1", topic=RW), side("C2", topic=RW)), DeleteTopic, "target", "rolling back"),
    ("failed: owned topic holding messages is kept", at(tp.FAILED, failed_in=tp.DRAINING),
     facts(side("C1", topic=RW), side("C2", topic=RW, messages=5)), Advance, tp.ROLLED_BACK,
     "holds 5 messages"),
    ("failed: foreign topic is kept", at(tp.FAILED, failed_in=tp.FENCING, owns_topic=False),
     facts(side("C1", topic=RW), side("C2", topic=RW)), Advance, tp.ROLLED_BACK, "as before"),
    ("failed: foreign groups are kept", at(tp.FAILED, failed_in=tp.FENCING, owned_groups=()),
     facts(side("C1", topic=RW), side("C2", groups=("g1",))), Advance, tp.ROLLED_BACK, "as before"),
    ("failed after deleting: nothing to roll back", at(tp.FAILED, failed_in=tp.DELETING), facts(side("C1")),
     Idle, tp.FAILED, "nothing to roll back"),
    ("done: idle", at(tp.DONE), None, Idle, tp.DONE, "finished"),
    ("rolled back: idle", at(tp.ROLLED_BACK), None, Idle, tp.ROLLED_BACK, "rolled back"),
    ("unknown phase fails", at("Sideways"), facts(), Fail, "UnknownPhase", "Sideways"),
    ("fencing: a master expected but not registered waits, naming it", at(tp.FENCING),
     facts(DOWN_RO), Wait, "MasterNotRegistered", "broker b-2 of C1"),
    ("fencing: the registered masters are fenced while one is down", at(tp.FENCING), facts(DOWN_RW), SetPerm,
     "source", "read-only"),
    ("draining: zero lag with a master down waits", DRAINING, facts(DOWN_RO, lag={"g1": 0}), Wait,
     "MasterNotRegistered", "so that it is drained too"),
    ("draining: a master down past the timeout fails", replace(DRAINING, drain_started=NOW - 601),
     facts(DOWN_RO, lag={"g1": 0}), Fail, "DrainTimedOut",
     "broker b-2 of C1 (expected, not registered) still"),
    ("deleting: a master down waits before the source is recorded gone", at(tp.DELETING),
     facts(replace(DOWN_RO, topic={})), Wait, "MasterNotRegistered", "deleted there too"),
    ("failed: a master down waits before rolled back", at(tp.FAILED, failed_in=tp.FENCING),
     facts(replace(DOWN_RO, topic={b: RW for b in ("b-0", "b-1")})), Wait, "MasterNotRegistered",
     "writable there"),
    ("failed in creating: a master down does not matter", at(tp.FAILED, failed_in=tp.CREATING),
     facts(replace(DOWN_RO, topic={b: RW for b in ("b-0", "b-1")})), Advance, tp.ROLLED_BACK, "as before"),
]


def _key(action) -> str:
    for name in ("phase", "reason", "side"):
        if hasattr(action, name):
            return getattr(action, name)
    raise AssertionError(action)


@pytest.mark.parametrize("progress, found, kind, key, text", [row[1:] for row in TABLE],
                         ids=[row[0] for row in TABLE])
def test_the_planner_picks_the_next_action_of_each_phase(progress, found, kind, key, text):
    action = plan(spec=SPEC, progress=progress, facts=found, now=NOW, generation=1)
    assert type(action) is kind
    assert _key(action) == key
    assert text in action.message


def test_the_target_topic_gets_the_source_queue_counts_and_perm():
    action = plan(spec=SPEC, progress=replace(STARTED, queues=Queues(3, 5, 6)),
                  facts=facts(target=side("C2", groups=("g1",))), now=NOW)
    assert action == CreateTopics("target", ("orders",), Queues(3, 5, 6), action.message)


def test_fencing_keeps_the_queue_counts_and_drops_only_write_permission():
    action = plan(spec=SPEC, progress=at(tp.FENCING, queues=Queues(3, 5, 6)), facts=facts(), now=NOW)
    assert action.queues == Queues(3, 5, 4)


def test_a_rollback_restores_the_perm_recorded_at_the_start():
    action = plan(spec=SPEC, progress=at(tp.FAILED, failed_in=tp.FENCING, queues=Queues(4, 4, 7)),
                  facts=facts(side("C1", topic=RO)), now=NOW)
    assert isinstance(action, SetPerm) and action.queues == Queues(4, 4, 7)


def test_the_start_records_config_groups_ownership_and_generation():
    spec = replace(SPEC, consumer_group="named")
    target = side("C2", groups=("g1",))
    action = plan(spec=spec, progress=Progress(), facts=facts(target=target), now=NOW, generation=3)
    assert action.updates == {"topicConfig": RW.to_status(), "consumerGroups": ["g1", "named"],
                              "owned": {"topic": True, "subscriptionGroups": ["named"]},
                              "transferGeneration": 3, "startedAt": "2023-11-14T22:13:20Z"}


def test_a_target_that_already_has_the_topic_is_not_owned():
    action = plan(spec=SPEC, progress=Progress(), facts=facts(target=side("C2", topic=RW)), now=NOW)
    assert action.updates["owned"]["topic"] is False


@pytest.mark.parametrize("phase", tp.TERMINAL)
def test_a_spec_changed_after_the_transfer_finished_is_reported_not_acted_on(phase):
    action = plan(spec=SPEC, progress=at(phase), facts=facts(), now=NOW, generation=2)
    assert isinstance(action, Idle) and action.reason == "SpecChangeIgnored"


def test_the_drain_bound_is_measured_on_the_injected_clock_from_the_recorded_start():
    clock = FakeClock(start=NOW)
    progress = at(tp.DRAINING, drain_started=NOW)
    found = facts(side("C1", topic=RO), lag={"g1": 1})
    clock.step(600)
    assert isinstance(plan(spec=SPEC, progress=progress, facts=replace(found, read_at=clock.wall()),
                           now=clock.wall()), Wait)
    clock.step(1)
    action = plan(spec=SPEC, progress=progress, facts=replace(found, read_at=clock.wall()), now=clock.wall())
    assert isinstance(action, Fail) and "601s" in action.message


def test_the_drain_waits_are_rechecks_not_sleeps():
    action = plan(spec=SPEC, progress=DRAINING, facts=facts(side("C1", topic=RO), lag={"g1": 2}), now=NOW)
    assert action.after == tp.DRAIN_RECHECK and action.updates == {"lag": {"g1": 2}}


def test_progress_round_trips_through_status():
    status = {"phase": tp.DRAINING, "steps": [{"name": tp.TARGET_CREATED}, {"name": tp.SOURCE_FENCED}],
              "topicConfig": RW.to_status(), "consumerGroups": ["g1"],
              "owned": {"topic": True, "subscriptionGroups": ["g1"]},
              "drainStartedAt": "2023-11-14T22:13:20Z", "transferGeneration": 1}
    assert Progress.from_status(status) == at(tp.DRAINING, drain_started=NOW)


@pytest.mark.parametrize("phase, expected", [(tp.CREATING, tp.FAILED), (tp.FENCING, tp.FAILED),
                                             (tp.DRAINING, tp.FAILED), (tp.DELETING, None),
                                             (tp.FAILED, None)])
def test_a_refusal_rolls_back_only_while_there_is_something_to_undo(phase, expected):
    assert tp.on_error(phase) == expected


@pytest.mark.parametrize("progress, expected, text", [
    (Progress(), Release, "changed nothing"),
    (at(tp.CREATING), Fail, "deleted in phase CreatingTarget"),
    (at(tp.FENCING), Fail, "deleted in phase Fencing"),
    (at(tp.DRAINING), Fail, "deleted in phase Draining"),
    (at(tp.DELETING), type(None), ""),
    (at(tp.FAILED, failed_in=tp.DRAINING), type(None), ""),
    (at(tp.FAILED, failed_in=tp.DELETING), Release, "nothing to roll back"),
    (at(tp.DONE), Release, "done"),
    (at(tp.ROLLED_BACK), Release, "rolled back"),
    (at("Sideways"), Release, "Sideways"),
], ids=lambda v: v.phase if isinstance(v, Progress) else None)
def test_a_deleted_transfer_rolls_back_goes_on_or_lets_its_finalizer_go_by_its_phase(
        progress, expected, text):
    action = tp.on_delete(progress)
    assert type(action) is expected
    assert action is None or text in action.message


def test_a_transfer_deleted_before_deleting_fails_into_the_rollback_with_its_own_reason():
    assert tp.on_delete(at(tp.FENCING)).reason == "TransferDeleted"


# -- a whole transfer against a simulated RocketMQ -------------------------------------------------------

class World:
    """Two clusters as the planner's actions change them, and the status the controller would keep."""

    def __init__(self) -> None:
        self.src = side("C1", topic=RW, groups=("g1",))
        self.tgt = side("C2")
        self.lag = {"g1": 5}
        self.progress = Progress()
        self.phases = [self.progress.phase]

    def facts(self, now: float) -> Facts:
        return Facts(now, self.src, self.tgt, frozenset({"g1"}), dict(self.lag))

    def run(self, action) -> None:
        target = "tgt" if getattr(action, "side", "") == "target" else "src"
        current: Side = getattr(self, target)
        if isinstance(action, CreateTopics) and action.topics[0].startswith(tp.RETRY_PREFIX):
            setattr(self, target, replace(current, retry_topics=current.retry_topics | set(action.topics)))
        elif isinstance(action, CreateTopics | SetPerm):
            setattr(self, target, replace(current, topic={b: action.queues for b in current.masters}))
        elif isinstance(action, CreateGroups):
            setattr(self, target, replace(current, groups=current.groups | set(action.groups)))
        elif isinstance(action, DeleteGroups):
            setattr(self, target, replace(current, groups=current.groups - set(action.groups)))
        elif isinstance(action, DeleteTopic):
            setattr(self, target, replace(current, topic={}))
        elif isinstance(action, Advance):
            self._record(action)
        elif isinstance(action, Fail):
            self.progress = replace(self.progress, phase=tp.FAILED, failed_in=self.progress.phase)
        if self.phases[-1] != self.progress.phase:
            self.phases.append(self.progress.phase)

    def _record(self, action: Advance) -> None:
        status = {"phase": action.phase, "steps": [{"name": s} for s in self.progress.steps],
                  "topicConfig": (self.progress.queues or RW).to_status(),
                  "consumerGroups": list(self.progress.groups),
                  "owned": {"topic": self.progress.owns_topic,
                            "subscriptionGroups": list(self.progress.owned_groups)},
                  **({"drainStartedAt": tp._rfc3339(self.progress.drain_started)}
                     if self.progress.drain_started else {}), **action.updates}
        if action.step:
            status["steps"].append({"name": action.step})
        self.progress = Progress.from_status(status)


def drive(world: World, clock: FakeClock, *, limit: int = 40) -> list[str]:
    kinds = []
    for _ in range(limit):
        action = plan(spec=SPEC, progress=world.progress, facts=world.facts(clock.wall()), now=clock.wall())
        if isinstance(action, Idle):
            return kinds
        kinds.append(type(action).__name__)
        world.run(action)
        clock.step(5)
        if world.progress.phase == tp.DRAINING and kinds.count("Wait") == 2:
            world.lag = {"g1": 0}  # the consumer catches up
    raise AssertionError(f"no end after {limit} actions: {kinds}")


def test_a_whole_transfer_passes_every_phase_and_ends_with_the_topic_on_the_target_only():
    world, clock = World(), FakeClock(start=NOW)
    kinds = drive(world, clock)
    assert world.phases == [tp.PENDING, tp.CREATING, tp.FENCING, tp.DRAINING, tp.DELETING, tp.DONE]
    assert world.progress.steps == tp.STEPS
    assert (world.src.any_topic, world.tgt.has_topic(RW), world.tgt.groups) == (False, True, {"g1"})
    assert world.tgt.retry_topics == {"%RETRY%g1"}
    assert kinds.count("SetPerm") == 1 and kinds.count("DeleteTopic") == 1


def test_a_drain_that_times_out_rolls_everything_back():
    world, clock = World(), FakeClock(start=NOW)
    world.lag = {"g1": 5}
    for _ in range(400):
        action = plan(spec=SPEC, progress=world.progress, facts=world.facts(clock.wall()), now=clock.wall())
        if isinstance(action, Idle):
            break
        world.run(action)
        clock.step(5)
    assert world.phases == [tp.PENDING, tp.CREATING, tp.FENCING, tp.DRAINING, tp.FAILED, tp.ROLLED_BACK]
    assert world.src.topic == {"b-0": RW, "b-1": RW}  # writable again
    assert (world.tgt.any_topic, world.tgt.groups) == (False, frozenset())
