"""Graceful scale-in of broker groups: a group is deleted only when RocketMQ says it holds nothing.

With ``allowGroupScaleDown: true`` and fewer groups in the spec, each group beyond the spec is drained
before its objects go (the highest first, one at a time):

1. the drain is recorded in ``status.drain`` (group, start time) before anything is done, so an operator
   restart resumes it;
2. the write permission of each of the group's brokers is wiped on every name server (repeated while
   draining: idempotent, and right before each read), so producers send elsewhere;
   ``status.drain.wipedAt`` is the first time it succeeded on every name server (a failure clears it);
3. the group is deleted only when RocketMQ positively says nothing is left on it: on the master of each
   of its brokers, every queue consumed by every consumer group of its topic (retry topics included), no
   delay, timer or transactional half message pending, and no queue holding messages that no group
   consumes (see holdings) — read at least ``PRODUCER_GRACE`` after the wipe, so that producers still
   sending on routes fetched before it have moved;
4. anything not known — a master not registered, a wipe or a read that failed or timed out — is a wait,
   never "nothing held": the Draining condition names what is held or unknown, and nothing is deleted;
5. after ``drainTimeoutSeconds`` (spec, default 600) the drain stops with condition ScaleDownRefused and
   a Warning event naming what is left, and nothing is deleted; it goes on reading, so a group drained
   late is still removed. ``drainAcceptMessageLoss: true`` deletes the group at that point instead,
   with a Warning event saying what was lost or not known.

Where the operator may not write through the cluster's name servers (see writegate) nothing is wiped: the
drain waits (condition Draining, reason NameServersForeign) and deletes nothing.

Without RocketMQ observed (``--rocketmq-observe-interval 0``) nothing can tell whether a group holds
messages: the removal is refused (ScaleDownRefused, reason NotObserved), unless ``drainAcceptMessageLoss``
is set, which deletes the groups undrained.

:func:`drain_step` reads RocketMQ with bounded calls and stops at the first failure; :func:`decide` is the
pure rule over what was read, and the reconciler only executes the :class:`DrainStep` it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from rocketmq_operator.controllers.brokers.holdings import Holdings, HoldingsAdmin, read_holdings
from rocketmq_operator.controllers.observe.observer import ClusterFacts
from rocketmq_operator.rocketmq import RemotingError, WritePermResult

DEFAULT_DRAIN_TIMEOUT = 600.0
PRODUCER_GRACE = 30.0  # clients refresh their topic routes every 30 s by default
ACCEPT_LOSS_FIELD = "drainAcceptMessageLoss"

# Draining reasons while waiting, ScaleDownRefused reasons when stopped
STARTED, PRODUCERS, HELD, UNKNOWN = "Started", "WaitingForProducers", "MessagesHeld", "StateUnknown"
TIMED_OUT, NOT_OBSERVED = "DrainTimedOut", "NotObserved"
FOREIGN = "NameServersForeign"


class DrainAdmin(HoldingsAdmin, Protocol):
    def wipe_write_perm(self, broker_name: str) -> WritePermResult: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class DrainStep:
    drain: Mapping[str, Any]  # status.drain to record ({} when none)
    delete: int | None = None  # group whose objects to delete now
    waiting: str | None = None  # the drain goes on: what it waits for (condition Draining)
    stuck: str | None = None  # nothing is deleted until something changes: why (condition ScaleDownRefused)
    reason: str = ""  # the reason of that condition
    lost: str | None = None  # deleted although RocketMQ did not say it is empty: what was held or unknown


@dataclass(frozen=True)
class Look:
    """What one sync learnt of the group being drained: its brokers' holdings, or what could not be known."""

    holdings: tuple[Holdings, ...] = ()
    unknown: str | None = None
    wiped_at: float | None = None  # since when the write fence is in place; None: not known to be

    @property
    def held(self) -> str:
        return "; ".join(h.describe() for h in self.holdings if not h.empty)


def drain_step(extra: list[int], drain: Mapping[str, Any], facts: ClusterFacts | None, *, now: float,
               timeout: float, brokers: Callable[[int], tuple[str, ...]],
               admin_factory: Callable[[tuple[str, ...]], DrainAdmin], name_servers: tuple[str, ...],
               accept_loss: bool = False) -> DrainStep:
    """The next step of draining the highest of the ``extra`` groups; ``brokers(group)`` gives the RocketMQ
    broker names of a group (one per member in allMaster mode)."""
    if not extra:
        return DrainStep(drain={})
    group = max(extra)
    if drain.get("group") != group:  # recorded first; acted on from the next sync
        return DrainStep(drain={"group": group, "startedAt": now}, reason=STARTED,
                         waiting=f"draining broker group {group} before removing it")
    look = _look(brokers(group), facts, drain, now=now, admin_factory=admin_factory,
                 name_servers=name_servers)
    return decide(group, drain, look, now=now, timeout=timeout, accept_loss=accept_loss)


def decide(group: int, drain: Mapping[str, Any], look: Look, *, now: float, timeout: float,
           accept_loss: bool) -> DrainStep:
    """The rule: delete on a positive "nothing held" read after the grace, else wait, stop or accept the
    loss."""
    drain = _with_wipe(drain, look.wiped_at)
    what = look.unknown or look.held
    if not what:
        fenced = now - float(drain.get("wipedAt", now))
        if fenced >= PRODUCER_GRACE:
            return DrainStep(drain={}, delete=group)
        return DrainStep(drain=drain, reason=PRODUCERS,
                         waiting=f"broker group {group} holds no messages; waiting for producers to leave it "
                                 f"({fenced:.0f}/{PRODUCER_GRACE:.0f} s since its writes were wiped)")
    waited = now - float(drain.get("startedAt", now))
    if waited < timeout:
        return DrainStep(drain=drain, reason=UNKNOWN if look.unknown else HELD,
                         waiting=f"draining broker group {group}: {what}; nothing is deleted until it is "
                                 f"drained")
    if accept_loss:
        return DrainStep(drain={}, delete=group,
                         lost=f"broker group {group} deleted undrained after {waited:.0f} s because "
                              f"{ACCEPT_LOSS_FIELD} is true: {what}")
    return DrainStep(drain=drain, reason=TIMED_OUT,
                     stuck=f"broker group {group} is not drained within drainTimeoutSeconds "
                           f"({timeout:.0f} s): {what}; nothing is deleted "
                           f"— consume the messages, raise drainTimeoutSeconds, or set {ACCEPT_LOSS_FIELD}: "
                           f"true to delete it with them")


def unobserved_step(extra: Sequence[int], *, accept_loss: bool) -> DrainStep:
    """Groups to remove while RocketMQ is not observed: refused, or the highest deleted undrained."""
    if accept_loss:
        return DrainStep(drain={}, delete=max(extra),
                         lost=f"broker group {max(extra)} deleted undrained: RocketMQ is not observed "
                              f"(--rocketmq-observe-interval 0) and {ACCEPT_LOSS_FIELD} is true")
    return DrainStep(drain={}, reason=NOT_OBSERVED,
                     stuck=f"refusing to remove broker groups {list(extra)}: RocketMQ is not observed (the "
                           f"operator runs with --rocketmq-observe-interval 0), so nothing can tell whether "
                           f"they still hold messages; run it with a positive interval to drain them, or set "
                           f"{ACCEPT_LOSS_FIELD}: true to delete them undrained")


def refused_step(extra: Sequence[int], drain: Mapping[str, Any], *, why: str) -> DrainStep:
    """Groups to remove while no write may go through the cluster's name servers: a wait, nothing wiped or
    deleted (``drain``: status.drain, kept as it is)."""
    return DrainStep(drain=dict(drain), reason=FOREIGN,
                     waiting=f"not draining broker group {max(extra)}: {why}; nothing is deleted until then")


def _look(names: tuple[str, ...], facts: ClusterFacts | None, drain: Mapping[str, Any], *, now: float,
          admin_factory: Callable[[tuple[str, ...]], DrainAdmin], name_servers: tuple[str, ...]) -> Look:
    masters = {name: _master(facts, name) for name in names}
    missing = sorted(name for name, addr in masters.items() if addr is None)
    if missing or not names:
        return Look(unknown=f"the master of {', '.join(missing) or 'the group'} is not registered, so what "
                            f"it holds is not known")
    admin = admin_factory(name_servers)
    wiped_at = None
    try:
        wiped_at, failed = _wipe(admin, names, drain, now=now)
        if failed:
            return Look(unknown=f"producers may still send to it: its write permission could not be wiped "
                                f"({failed})")
        return Look(holdings=tuple(read_holdings(admin, str(masters[n]), n) for n in names),
                    wiped_at=wiped_at)
    except RemotingError as e:
        return Look(unknown=f"what it holds is not known: {e}", wiped_at=wiped_at)
    finally:
        admin.close()


def _wipe(admin: DrainAdmin, names: tuple[str, ...], drain: Mapping[str, Any], *,
          now: float) -> tuple[float | None, str]:
    """Wipes each broker's writes on every name server. Returns since when the fence is in place (the first
    sync whose wipes all succeeded; None when one failed now) and the failures. A name server's count is
    of the broker's topics, changed or not, so it cannot tell a fence given back; wiping on every sync,
    right before the read, bounds that."""
    results = [admin.wipe_write_perm(name) for name in names]
    failed = "; ".join(f"{name} on {addr}: {e}" for name, r in zip(names, results, strict=True)
                       for addr, e in r.errors.items())
    if failed:
        return None, failed
    return float(drain.get("wipedAt", now)), ""


def _with_wipe(drain: Mapping[str, Any], wiped_at: float | None) -> Mapping[str, Any]:
    rest = {k: v for k, v in drain.items() if k != "wipedAt"}
    return {**rest, "wipedAt": wiped_at} if wiped_at is not None else rest


def _master(facts: ClusterFacts | None, broker: str) -> str | None:
    if facts is None:
        return None
    return next((b.addr for b in facts.brokers
                 if b.broker_name == broker and b.broker_id == 0 and b.registered_on), None)
