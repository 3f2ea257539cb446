"""The TopicTransfer state machine: a pure function from (spec, progress, facts, now) to the next action.

A transfer moves ``spec.topic`` from one RocketMQ cluster to another in steps, each of which changes
RocketMQ once and is then verified by reading RocketMQ back::

    Pending → CreatingTarget → Fencing → Draining → Deleting → Done
                   └──────────────┴─────────┴──→ Failed → RolledBack

- CreatingTarget: the subscription groups of the topic's consumers (copied from the source) and then the
  topic (same queue counts and perm as on the source) are created on every master of the target.
- Fencing: the topic's perm on the source brokers becomes read-only, so producers send to the target only
  while consumers keep reading what the source holds.
- Draining: every consumer group's lag on the source topic must reach 0 within ``drainTimeoutSeconds``;
  a timeout fails the transfer (it never deletes unconsumed messages).
- Deleting: the topic and its routes go from the source, then the retry topics of the groups are created
  on the target.
- Failed: what was done is undone — the source writable again, the subscription groups and the topic the
  transfer added to the target removed (the topic only while it holds no messages: producers may have
  written there once the source was fenced).

A transfer covers every master the source should have: a master the source cluster expects but that is not
registered (``Side.missing``, a broker that is down) holds Fencing, Draining, Deleting and the rollback in a
``Wait`` that names it, so a transfer never reports Done (or RolledBack) while such a master could still hold
a writable or a read-only copy of the topic.

A deleted TopicTransfer (:func:`on_delete`) rolls back as a failed one does: before Deleting it fails with
reason ``TransferDeleted`` and the rollback above runs; in Deleting it finishes (nothing is left to undo);
once Done or RolledBack, or when nothing was changed yet (Pending), its finalizer may go (``Release``).

The planner never talks to RocketMQ or Kubernetes. It reads the progress the controller keeps in
``status`` (so a restarted operator resumes) and facts read from RocketMQ in this sync, and returns one
action; the controller executes it and records its outcome. A step is recorded as done only when the
facts show it done, so each action is safe to repeat. Done and RolledBack are terminal.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PENDING, CREATING, FENCING, DRAINING, DELETING, DONE = (
    "Pending", "CreatingTarget", "Fencing", "Draining", "Deleting", "Done")
FAILED, ROLLED_BACK = "Failed", "RolledBack"
TERMINAL = (DONE, ROLLED_BACK)
ROLLBACK_FROM = (CREATING, FENCING, DRAINING)  # after Deleting starts there is nothing left to undo

TARGET_CREATED, SOURCE_FENCED, DRAINED, SOURCE_DELETED, RETRY_CREATED = (
    "TargetCreated", "SourceFenced", "Drained", "SourceDeleted", "RetryTopicsCreated")
STEPS = (TARGET_CREATED, SOURCE_FENCED, DRAINED, SOURCE_DELETED, RETRY_CREATED)

PERM_WRITE, PERM_READ = 0x2, 0x4
RETRY_PREFIX = "%RETRY%"
DEFAULT_DRAIN_TIMEOUT = 600.0
MAX_FACT_AGE = 30.0  # facts older than this are read again before anything is decided
RECHECK = 2.0  # seconds before reading back what an action changed
DRAIN_RECHECK = 5.0
IDLE_RECHECK = 30.0
MASTER_MISSING = "MasterNotRegistered"


# -- what the planner reads --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Spec:
    topic: str
    source: str
    target: str
    consumer_group: str = ""
    drain_timeout: float = DEFAULT_DRAIN_TIMEOUT

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Spec:
        spec = obj.get("spec") or {}
        return cls(topic=str(spec.get("topic") or ""), source=str(spec.get("sourceCluster") or ""),
                   target=str(spec.get("targetCluster") or ""),
                   consumer_group=str(spec.get("consumerGroup") or ""),
                   drain_timeout=float(spec.get("drainTimeoutSeconds") or DEFAULT_DRAIN_TIMEOUT))


@dataclass(frozen=True)
class Queues:
    """A topic's queues on one broker group."""

    read: int
    write: int
    perm: int

    @property
    def writable(self) -> bool:
        return bool(self.perm & PERM_WRITE)

    def to_status(self) -> dict[str, int]:
        return {"readQueueNums": self.read, "writeQueueNums": self.write, "perm": self.perm}

    @classmethod
    def from_status(cls, data: Mapping[str, Any] | None) -> Queues | None:
        if not data:
            return None
        return cls(int(data["readQueueNums"]), int(data["writeQueueNums"]), int(data["perm"]))


@dataclass(frozen=True)
class Side:
    """One cluster as RocketMQ reports it: its masters, and what of the transfer is there."""

    cluster: str
    masters: tuple[str, ...]  # broker names with a master, sorted
    topic: Mapping[str, Queues] = field(default_factory=dict)  # broker name → the topic's queues
    groups: frozenset[str] = frozenset()  # subscription groups present on every master
    retry_topics: frozenset[str] = frozenset()  # %RETRY% topics present on every master
    messages: int = 0  # messages the topic holds on this cluster (read only when rolling back)
    missing: tuple[str, ...] = ()  # broker names the cluster should have a master for that is not registered

    def has_topic(self, queues: Queues | None = None) -> bool:
        """The topic is on every master (with ``queues``' counts when given)."""
        if not self.masters or any(b not in self.topic for b in self.masters):
            return False
        return queues is None or all((q.read, q.write) == (queues.read, queues.write)
                                     for b, q in self.topic.items() if b in self.masters)

    @property
    def any_topic(self) -> bool:
        return any(b in self.topic for b in self.masters)

    @property
    def writable(self) -> bool:
        return any(q.writable for b, q in self.topic.items() if b in self.masters)


@dataclass(frozen=True)
class Facts:
    read_at: float
    source: Side
    target: Side
    consumers: frozenset[str] = frozenset()  # groups consuming the topic on the source
    lag: Mapping[str, int] | None = None  # per group, on the source topic (read while draining)


@dataclass(frozen=True)
class Progress:
    """What ``status`` records of a transfer."""

    phase: str = PENDING
    steps: tuple[str, ...] = ()
    queues: Queues | None = None  # the source's topic config, recorded when the transfer starts
    groups: tuple[str, ...] = ()  # the consumer groups moved with the topic
    owns_topic: bool = False  # the transfer created the target topic (rollback may remove it)
    owned_groups: tuple[str, ...] = ()  # subscription groups the transfer created on the target
    failed_in: str = ""  # the phase a failure happened in
    drain_started: float | None = None  # wall seconds
    generation: int = 0  # the spec generation the transfer started with

    @classmethod
    def from_status(cls, status: Mapping[str, Any] | None) -> Progress:
        status = status or {}
        owned = status.get("owned") or {}
        started = status.get("drainStartedAt")
        return cls(phase=status.get("phase") or PENDING,
                   steps=tuple(s["name"] for s in status.get("steps") or ()),
                   queues=Queues.from_status(status.get("topicConfig")),
                   groups=tuple(status.get("consumerGroups") or ()),
                   owns_topic=bool(owned.get("topic")),
                   owned_groups=tuple(owned.get("subscriptionGroups") or ()),
                   failed_in=status.get("failedIn") or "",
                   drain_started=parse_time(started) if started else None,
                   generation=int(status.get("transferGeneration") or 0))


def parse_time(text: str) -> float:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()


# -- what the planner returns ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Advance:
    """Record ``step`` as done (verified) and move to ``phase``; ``updates`` go into status too."""

    phase: str
    step: str | None
    message: str
    updates: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CreateTopics:
    side: str  # "source" or "target"
    topics: tuple[str, ...]
    queues: Queues
    message: str


@dataclass(frozen=True)
class CreateGroups:
    side: str
    groups: tuple[str, ...]
    message: str


@dataclass(frozen=True)
class SetPerm:
    side: str
    queues: Queues  # the topic's config with the perm to set
    message: str


@dataclass(frozen=True)
class DeleteTopic:
    side: str
    message: str


@dataclass(frozen=True)
class DeleteGroups:
    side: str
    groups: tuple[str, ...]
    message: str


@dataclass(frozen=True)
class Wait:
    """Nothing to change yet: say why in a condition and look again after ``after`` seconds."""

    reason: str
    message: str
    after: float
    updates: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Fail:
    """The transfer cannot go on: Failed, and the rollback starts."""

    reason: str
    message: str


@dataclass(frozen=True)
class Idle:
    """A terminal transfer: nothing is done again."""

    reason: str
    message: str


@dataclass(frozen=True)
class Release:
    """A deleted transfer has nothing (left) to undo in RocketMQ: its finalizer may go."""

    message: str


Action = (Advance | CreateTopics | CreateGroups | SetPerm | DeleteTopic | DeleteGroups | Wait | Fail | Idle
          | Release)
WRITES = (CreateTopics, CreateGroups, SetPerm, DeleteTopic, DeleteGroups)


# -- the planner -------------------------------------------------------------------------------------------

def plan(*, spec: Spec, progress: Progress, facts: Facts | None, now: float, generation: int = 0) -> Action:
    """The next action of the transfer; ``now`` is wall seconds, ``generation`` the object's."""
    if progress.phase in TERMINAL:
        return _terminal(progress, generation)
    if facts is None or now - facts.read_at > MAX_FACT_AGE:
        return Wait("ReadingRocketMQ", "reading the clusters' state from RocketMQ", 0.0)
    step = _PHASES.get(progress.phase)
    if step is None:
        return Fail("UnknownPhase", f"status.phase {progress.phase!r} is not a phase of a transfer")
    action = step(spec, progress, facts, now)
    if isinstance(action, Advance) and progress.phase == PENDING:  # the spec this transfer acts on
        return Advance(action.phase, action.step, action.message,
                       {**action.updates, "transferGeneration": generation, "startedAt": _rfc3339(now)})
    return action


def on_delete(progress: Progress) -> Fail | Release | None:
    """What a deleted transfer does before anything else, decided from its status alone (so it is recorded
    even while RocketMQ cannot be reached): fail into the rollback, let the finalizer go, or (None) go on —
    a rollback under way continues, and so does Deleting, which has nothing left to undo."""
    phase = progress.phase
    if phase in ROLLBACK_FROM:
        return Fail("TransferDeleted", f"the TopicTransfer was deleted in phase {phase}")
    if phase == DONE:
        return Release("the transfer was done")
    if phase == ROLLED_BACK:
        return Release("the transfer was rolled back")
    if phase == PENDING:
        return Release("the transfer had changed nothing in RocketMQ yet")
    if phase == FAILED and progress.failed_in not in ROLLBACK_FROM:
        return Release(f"the transfer failed in {progress.failed_in or 'an unknown phase'}; "
                       f"nothing to roll back")
    if phase in (FAILED, DELETING):
        return None
    return Release(f"status.phase {phase!r} is not a phase of a transfer; nothing known to roll back")


def _terminal(progress: Progress, generation: int) -> Idle:
    if progress.generation and generation > progress.generation:
        return Idle("SpecChangeIgnored", f"the transfer is {progress.phase}; spec changes after it finished "
                                         f"are not acted on (create a new TopicTransfer)")
    return Idle(progress.phase,
                "the transfer finished" if progress.phase == DONE else "the transfer was rolled back")


def _pending(spec: Spec, progress: Progress, facts: Facts, now: float) -> Action:
    src, tgt = facts.source, facts.target
    if src.cluster == tgt.cluster:
        return Wait("SameCluster", f"source and target are both RocketMQ cluster {src.cluster}", IDLE_RECHECK)
    for side, name in ((src, spec.source), (tgt, spec.target)):
        if not side.masters:
            return Wait("NoMasters", f"cluster {name} ({side.cluster}) has no registered master",
                        IDLE_RECHECK)
    if not src.any_topic:
        return Wait("TopicNotFound", f"topic {spec.topic} is not on source cluster {src.cluster}",
                    IDLE_RECHECK)
    queues = src.topic[next(b for b in src.masters if b in src.topic)]
    groups = sorted(facts.consumers | ({spec.consumer_group} if spec.consumer_group else set()))
    owned_groups = [g for g in groups if g not in tgt.groups]
    updates = {"topicConfig": queues.to_status(), "consumerGroups": groups,
               "owned": {"topic": not tgt.any_topic, "subscriptionGroups": owned_groups}}
    return Advance(CREATING, None, f"transferring topic {spec.topic} from {src.cluster} to {tgt.cluster} "
                                   f"with consumer groups {', '.join(groups) or '(none)'}", updates)


def _creating(spec: Spec, progress: Progress, facts: Facts, now: float) -> Action:
    queues, tgt = _queues(progress), facts.target
    new_groups = sorted(facts.consumers - set(progress.groups) - {""})
    if new_groups:  # a consumer that appeared since the start moves too
        owned = [*progress.owned_groups, *(g for g in new_groups if g not in tgt.groups)]
        return Advance(CREATING, None, f"consumer groups {', '.join(new_groups)} also move",
                       {"consumerGroups": sorted({*progress.groups, *new_groups}),
                        "owned": {"topic": progress.owns_topic, "subscriptionGroups": owned}})
    missing = tuple(g for g in progress.groups if g not in tgt.groups)
    if missing:  # before the topic: a consumer reaching the target first would get a default group
        return CreateGroups("target", missing,
                            f"creating subscription groups {', '.join(missing)} on {tgt.cluster}")
    if progress.owns_topic and not tgt.has_topic(queues):
        return CreateTopics("target", (spec.topic,), _writable(queues),
                            f"creating topic {spec.topic} on {tgt.cluster} ({queues.read} read / "
                            f"{queues.write} write queues per broker)")
    return Advance(FENCING, TARGET_CREATED,
                   f"topic {spec.topic} and its subscription groups are on {tgt.cluster}")


def _fencing(spec: Spec, progress: Progress, facts: Facts, now: float) -> Action:
    if not facts.source.any_topic:
        return Fail("SourceTopicGone", f"topic {spec.topic} disappeared from {facts.source.cluster} before "
                                       f"it was drained")
    if facts.source.writable:
        return SetPerm("source", _read_only(_queues(progress)),
                       f"making topic {spec.topic} read-only on {facts.source.cluster}")
    if facts.source.missing:
        return _missing(facts.source, f"so that topic {spec.topic} is made read-only there too")
    return Advance(DRAINING, SOURCE_FENCED, f"topic {spec.topic} is read-only on {facts.source.cluster}; "
                                            f"producers send to {facts.target.cluster}",
                   {"drainStartedAt": _rfc3339(now)})


def _draining(spec: Spec, progress: Progress, facts: Facts, now: float) -> Action:
    src = facts.source
    if src.writable:  # someone made it writable again: fence again, the drain clock keeps running
        return SetPerm("source", _read_only(_queues(progress)), f"topic {spec.topic} became writable on "
                                                                f"{src.cluster}; making it read-only again")
    lag = dict(facts.lag or {})
    behind = {g: n for g, n in sorted(lag.items()) if n > 0}
    if facts.lag is not None and not behind and not src.missing:
        return Advance(DELETING, DRAINED,
                       f"every consumer group consumed topic {spec.topic} on {src.cluster}", {"lag": lag})
    started = progress.drain_started if progress.drain_started is not None else now
    waited, until = now - started, _rfc3339(started + spec.drain_timeout)
    undrained = (f"{_missing_text(src)} still missing" if src.missing
                 else f"{_lag_text(behind)} on {src.cluster}")
    if waited > spec.drain_timeout:
        return Fail("DrainTimedOut", f"after {waited:.0f}s (drainTimeoutSeconds {spec.drain_timeout:.0f}) "
                                     f"{undrained}; nothing was deleted")
    if src.missing:
        return _missing(src, f"so that it is drained too (until {until})", {"lag": lag})
    message = f"waiting for {undrained} (until {until})"
    return Wait("Draining", message if facts.lag is not None else "reading consumer lag", DRAIN_RECHECK,
                {"lag": lag})


def _deleting(spec: Spec, progress: Progress, facts: Facts, now: float) -> Action:
    src, tgt = facts.source, facts.target
    if src.any_topic:
        return DeleteTopic("source", f"deleting topic {spec.topic} and its routes from {src.cluster}")
    if src.missing:  # a master that comes back would register the topic's route again
        return _missing(src, f"so that topic {spec.topic} is deleted there too")
    if SOURCE_DELETED not in progress.steps:
        return Advance(DELETING, SOURCE_DELETED, f"topic {spec.topic} is gone from {src.cluster}")
    retry = tuple(RETRY_PREFIX + g for g in progress.groups if RETRY_PREFIX + g not in tgt.retry_topics)
    if retry:
        return CreateTopics("target", retry, Queues(1, 1, PERM_READ | PERM_WRITE),
                            f"creating retry topics {', '.join(retry)} on {tgt.cluster}")
    return Advance(DONE, RETRY_CREATED, f"topic {spec.topic} moved from {src.cluster} to {tgt.cluster}",
                   {"completedAt": _rfc3339(now)})


def _failed(spec: Spec, progress: Progress, facts: Facts, now: float) -> Action:
    src, tgt = facts.source, facts.target
    queues = progress.queues
    if progress.failed_in not in ROLLBACK_FROM:
        return Idle(FAILED, f"the transfer failed in {progress.failed_in or 'an unknown phase'}; "
                            f"nothing to roll back")
    if queues and progress.failed_in != CREATING and src.any_topic and _perm_differs(src, queues.perm):
        return SetPerm("source", queues,
                       f"rolling back: making topic {spec.topic} writable again on {src.cluster}")
    groups = tuple(g for g in progress.owned_groups if g in tgt.groups)
    if groups:
        return DeleteGroups("target", groups,
                            f"rolling back: deleting subscription groups {', '.join(groups)} "
                            f"from {tgt.cluster}")
    if progress.owns_topic and tgt.any_topic and tgt.messages == 0:
        return DeleteTopic("target", f"rolling back: deleting topic {spec.topic} from {tgt.cluster}")
    if progress.failed_in != CREATING and src.missing:
        return _missing(src, f"to roll back: topic {spec.topic} is made writable there too")
    kept = (f"; topic {spec.topic} stays on {tgt.cluster}: it holds {tgt.messages} messages"
            if progress.owns_topic and tgt.any_topic else "")
    return Advance(ROLLED_BACK, None,
                   f"rolled back: topic {spec.topic} is served by {src.cluster} as before{kept}")


_PHASES = {PENDING: _pending, CREATING: _creating, FENCING: _fencing, DRAINING: _draining,
           DELETING: _deleting, FAILED: _failed}


# -- small helpers -----------------------------------------------------------------------------------------

def _queues(progress: Progress) -> Queues:
    return progress.queues or Queues(8, 8, PERM_READ | PERM_WRITE)


def _writable(queues: Queues) -> Queues:
    """The target gets the source's perm; a source that is read-only already must not make it so."""
    return Queues(queues.read, queues.write, queues.perm | PERM_READ | PERM_WRITE)


def _read_only(queues: Queues) -> Queues:
    return Queues(queues.read, queues.write, (queues.perm | PERM_READ) & ~PERM_WRITE)


def _perm_differs(side: Side, perm: int) -> bool:
    return any(q.perm != perm for b, q in side.topic.items() if b in side.masters)


def _missing(side: Side, why: str, updates: Mapping[str, Any] | None = None) -> Wait:
    return Wait(MASTER_MISSING, f"waiting for {_missing_text(side)} {why}", IDLE_RECHECK, updates or {})


def _missing_text(side: Side) -> str:
    brokers = f"broker {side.missing[0]}" if len(side.missing) == 1 else f"brokers {', '.join(side.missing)}"
    return f"the master of {brokers} of {side.cluster} (expected, not registered)"


def _lag_text(behind: Mapping[str, int]) -> str:
    if not behind:
        return "consumer lag"
    return ", ".join(f"group {g} is {n} messages behind" for g, n in behind.items())


def _rfc3339(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def on_error(phase: str) -> str | None:
    """The phase a RocketMQ refusal moves the transfer to: Failed (rollback) while there is something to
    undo, None (retry with backoff) once the source is being deleted or when rolling back."""
    return FAILED if phase in ROLLBACK_FROM else None
