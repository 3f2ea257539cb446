"""What RocketMQ itself says about each broker cluster, read off the controller workers.

The reconciler asks for an observation of a cluster (:meth:`Observer.ensure`) with an
:class:`ObserveTarget`: the name servers to ask, the members it expects (pod, IP, brokerName, brokerId)
and the name-server list every broker should run with. A small pool of threads does the reading, so a
dead or slow name server costs one bounded timeout in a pool thread, never a stuck worker and never a
delay for other clusters. When an observation finishes, ``on_done(key)`` queues the cluster again and its
next sync turns the new :class:`ClusterFacts` into status (written only when it differs).

One observation, per cluster:

1. ask every name server for the cluster info (who is registered where);
2. ask every registered broker of the cluster for its runtime info (role, version, commit-log offsets);
   a slave's replication lag is its master's max commit-log offset minus its own;
3. bring each running broker's ``namesrvAddr`` to the target by UPDATE_BROKER_CONFIG and read it back —
   a name-server change reaches running brokers without a restart;
4. in CONTROLLER mode, ask the controllers who leads and, from the leader, each group's master and
   sync-state set (see controllerfacts).

Facts are kept per cluster with the monotonic time they were read; the reconciler acts only on facts
younger than a bound. Nothing here touches the Kubernetes API.

Dead endpoints do not hold up healthy clusters. An endpoint that let a call run into its timeout is
remembered (see silence): observations skip it, and a probe on a second, small pool asks it again after a
backoff, so a dead broker costs one timeout when it goes quiet, not one per observation. And the pool is
elastic (see elastic): an observation still running after ``SLOW_AFTER`` is waiting on the network and no
longer counts against ``workers``, so the timeouts met when many brokers go quiet at once are waited out
side by side instead of in front of everyone else.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from rocketmq_operator.clock import REAL_CLOCK, Clock
from rocketmq_operator.controllers.observe.controllerfacts import (
    ControllerFacts,
    ControllerTarget,
    observe_controllers,
)
from rocketmq_operator.controllers.observe.elastic import ElasticPool
from rocketmq_operator.controllers.observe.silence import BROKER, NAME_SERVER, Silence
from rocketmq_operator.logs import get_logger
from rocketmq_operator.rocketmq import AdminClient, RemotingError

log = get_logger(__name__)
DEFAULT_INTERVAL = 30.0
CONNECT_TIMEOUT = 2.0
REQUEST_TIMEOUT = 3.0
MAX_BACKOFF_INTERVALS = 4  # a silent endpoint is probed at least every four intervals
SLOW_AFTER = 0.25  # an observation running this long is waiting on the network (a healthy one takes ms)
MAX_WORKERS = 64  # threads the pool may grow to while observations wait


@dataclass(frozen=True)
class Member:
    """A broker the operator runs: its pod and who it should be in RocketMQ."""

    pod: str
    addr: str  # host:port the broker registers with ("" while the pod has no IP)
    broker_name: str
    broker_id: int


@dataclass(frozen=True)
class ObserveTarget:
    cluster_name: str
    name_servers: tuple[str, ...]  # dialable host:port of each name server
    namesrv_addr: str  # the namesrvAddr every broker should run with (as written in broker.conf)
    members: tuple[Member, ...]
    controllers: tuple[str, ...] = ()  # CONTROLLER mode: dialable host:port of each controller
    broker_names: tuple[str, ...] = ()  # CONTROLLER mode: the groups whose replica tables to read


@dataclass(frozen=True)
class BrokerFacts:
    """One member as RocketMQ reports it."""

    pod: str
    addr: str
    broker_name: str = ""
    broker_id: int | None = None
    role: str = ""  # MASTER | SLAVE as registered; "" when not registered
    version: str = ""
    registered_on: int = 0  # how many name servers list it
    max_offset: int | None = None
    lag_bytes: int | None = None  # slaves: master max offset - own max offset
    put_tps: float | None = None  # messages stored per second lately (the broker's putTps)
    get_tps: float | None = None  # messages sent to consumers per second lately (getTransferredTps)
    namesrv_synced: bool = False
    error: str = ""


@dataclass(frozen=True)
class ClusterFacts:
    target: ObserveTarget
    read_at: float  # monotonic seconds
    name_servers_up: int
    name_server_errors: tuple[str, ...]
    brokers: tuple[BrokerFacts, ...]
    controller: ControllerFacts | None = None  # CONTROLLER mode: who is master, who is in sync

    @property
    def registered(self) -> int:
        return sum(1 for b in self.brokers if b.registered_on > 0)

    @property
    def unreachable(self) -> bool:
        return self.name_servers_up == 0


@dataclass
class _State:
    facts: ClusterFacts | None = None
    target: ObserveTarget | None = None
    running: bool = False
    again: bool = False
    requested_at: float = -1e18


def default_admin(addrs: tuple[str, ...]) -> AdminClient:
    return AdminClient(addrs, connect_timeout=CONNECT_TIMEOUT, request_timeout=REQUEST_TIMEOUT)


class Observer:
    """Observations of many clusters on a bounded pool of threads (``workers`` at work, up to
    ``max_workers`` while some wait on the network); shared by the broker controllers."""

    def __init__(self, *, interval: float = DEFAULT_INTERVAL, workers: int = 4,
                 max_workers: int = MAX_WORKERS, probe_workers: int = 4, clock: Clock = REAL_CLOCK,
                 admin_factory: Callable[[tuple[str, ...]], Any] = default_admin, pool: Any = None) -> None:
        """``pool``: where observations run (anything with ``submit`` and ``shutdown``); by default an elastic
        pool of ``workers`` threads started on the first observation."""
        self.interval = interval
        self.clock = clock
        self.admin_factory = admin_factory
        # Endpoints that ran into a timeout (None: nothing is remembered, every observation asks everyone).
        self.silence: Silence | None = Silence(clock=clock, first_backoff=interval,
                                               max_backoff=MAX_BACKOFF_INTERVALS * interval,
                                               probe=self._submit_probe)
        self._workers, self._max_workers, self._probe_workers = workers, max_workers, probe_workers
        self._states: dict[Hashable, _State] = {}
        self._callbacks: list[Callable[[Hashable], None]] = []
        self._lock = threading.Lock()
        self._pool: Any = pool
        self._probes: ThreadPoolExecutor | None = None

    def on_done(self, callback: Callable[[Hashable], None]) -> None:
        self._callbacks.append(callback)

    def facts(self, key: Hashable) -> ClusterFacts | None:
        with self._lock:
            state = self._states.get(key)
            return state.facts if state else None

    def fresh_facts(self, key: Hashable) -> ClusterFacts | None:
        """The last facts of ``key`` unless they are older than three intervals (then nothing is known)."""
        facts = self.facts(key)
        if facts is None or self.clock.now() - facts.read_at > 3 * self.interval:
            return None
        return facts

    def ensure(self, key: Hashable, target: ObserveTarget) -> None:
        """Starts an observation of ``key`` when its facts are older than the interval or the target
        changed."""
        now = self.clock.now()
        with self._lock:
            state = self._states.setdefault(key, _State())
            changed = state.target != target
            state.target = target
            if state.running:
                state.again = state.again or changed
                return
            if not changed and now - state.requested_at < self.interval:
                return
            state.running, state.requested_at = True, now
        self._submit(key, target)

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._states.pop(key, None)

    def shutdown(self) -> None:
        for pool in (self._pool, self._probes):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)

    # -- inside -------------------------------------------------------------------------------------

    def _submit(self, key: Hashable, target: ObserveTarget) -> None:
        if self._pool is None:
            self._pool = ElasticPool(workers=self._workers, max_workers=self._max_workers,
                                     slow_after=SLOW_AFTER, name="rocketmq-observer", clock=self.clock)
        self._pool.submit(self._run, key, target)

    def _run(self, key: Hashable, target: ObserveTarget) -> None:
        try:
            observe_one = getattr(target, "observe", None)  # a target of another shape observes itself
            facts = (observe_one(admin_factory=self.admin_factory, now=self.clock.now) if observe_one
                     else observe(target, admin_factory=self.admin_factory, now=self.clock.now,
                                  silence=self.silence))
        except Exception:  # an observation must never kill the pool thread
            log.exception("observation failed", key=str(key))
            facts = None
        with self._lock:
            state = self._states.get(key)
            if state is None:
                return
            if facts is not None:
                state.facts = facts
            again, state.again, state.running = state.again, False, False
        for callback in self._callbacks:
            callback(key)
        if again and state.target is not None:
            self.ensure(key, state.target)

    def _submit_probe(self, addr: str, kind: str) -> None:
        if self._probes is None:
            self._probes = ThreadPoolExecutor(max_workers=self._probe_workers,
                                              thread_name_prefix="rocketmq-probe")
        self._probes.submit(self._probe, addr, kind)

    def _probe(self, addr: str, kind: str) -> None:
        """One bounded call to a silent endpoint; its outcome goes back to the silence table."""
        assert self.silence is not None  # only the silence table starts probes
        admin = self.admin_factory((addr,) if kind == NAME_SERVER else ())
        try:
            admin.cluster_info() if kind == NAME_SERVER else admin.broker_runtime_info(addr)
        except RemotingError as e:
            self.silence.failed(addr, kind, e)
            return
        except Exception:  # a probe must never leave the endpoint marked as probing
            log.exception("probe failed", addr=addr)
        else:
            log.info("silent endpoint answers again", addr=addr, kind=kind)
        finally:
            admin.close()
        self.silence.answered(addr)


def observe(target: ObserveTarget, *, admin_factory: Callable[[tuple[str, ...]], Any],
            now: Callable[[], float], silence: Silence | None = None) -> ClusterFacts:
    """One observation (see the module docstring); every call is bounded by the admin client's timeouts.
    With ``silence``, endpoints it remembers are not asked, and those that time out are remembered."""
    registrations, errors = _registrations(target, admin_factory, silence)
    admin = admin_factory(target.name_servers)
    try:
        by_addr = {m.addr: m for m in target.members if m.addr}
        brokers = [_broker_facts(admin, target, member, addr, registrations, silence)
                   for addr, member in sorted(by_addr.items(), key=lambda kv: kv[1].pod)]
    finally:
        admin.close()
    brokers = _with_lag(brokers)
    up = len(target.name_servers) - len(errors)
    controller = None
    if target.controllers:
        controller = observe_controllers(ControllerTarget(members=tuple(("", a) for a in target.controllers),
                                                          broker_names=target.broker_names),
                                         admin_factory=admin_factory, now=now)
    return ClusterFacts(target=target, read_at=now(), name_servers_up=up, name_server_errors=tuple(errors),
                        brokers=tuple(brokers), controller=controller)


def _registrations(target: ObserveTarget, admin_factory,
                   silence: Silence | None) -> tuple[dict[str, list[tuple[str, int]]], list[str]]:
    """``addr → [(brokerName, brokerId) per name server that lists it]`` and one error per dead name
    server."""
    found: dict[str, list[tuple[str, int]]] = {}
    errors: list[str] = []
    for ns in target.name_servers:
        if silence is not None and (reason := silence.skip(ns, NAME_SERVER)):
            errors.append(f"name server {ns}: {reason}")
            continue
        admin = admin_factory((ns,))
        try:
            info = admin.cluster_info()
        except RemotingError as e:
            _heard(silence, ns, NAME_SERVER, e)
            errors.append(f"name server {ns}: {e}")
            continue
        finally:
            admin.close()
        _heard(silence, ns, NAME_SERVER, None)
        for data in info.brokers_in(target.cluster_name):
            for broker_id, addr in data.addrs.items():
                found.setdefault(addr, []).append((data.name, broker_id))
    return found, errors


def _broker_facts(admin: Any, target: ObserveTarget, member: Member, addr: str,
                  registrations: Mapping[str, list[tuple[str, int]]], silence: Silence | None) -> BrokerFacts:
    seen = registrations.get(addr, [])
    name, broker_id = seen[0] if seen else ("", None)
    base = BrokerFacts(pod=member.pod, addr=addr, broker_name=name, broker_id=broker_id,
                       role=("MASTER" if broker_id == 0 else "SLAVE") if seen else "",
                       registered_on=len(seen))
    if silence is not None and (reason := silence.skip(addr, BROKER)):
        return replace(base, error=f"broker {addr}: {reason}")
    try:
        info = admin.broker_runtime_info(addr)
        synced = _sync_namesrv(admin, addr, target.namesrv_addr)
    except RemotingError as e:
        _heard(silence, addr, BROKER, e)
        return replace(base, error=f"broker {addr}: {e}")
    _heard(silence, addr, BROKER, None)
    return replace(base, version=info.version_desc, max_offset=info.commit_log_max_offset,
                   namesrv_synced=synced, put_tps=_first_number(info.table.get("putTps", "")),
                   # 5.x; 4.x spelled it getTransferedTps
                   get_tps=_first_number(info.table.get("getTransferredTps")
                                         or info.table.get("getTransferedTps", "")))


def _heard(silence: Silence | None, addr: str, kind: str, error: RemotingError | None) -> None:
    if silence is None:
        return
    if error is None:
        silence.answered(addr)
    else:
        silence.failed(addr, kind, error)


def _first_number(text: str) -> float | None:
    """The first of the space-separated rates RocketMQ reports (the most recent window)."""
    try:
        return float(text.split()[0])
    except (IndexError, ValueError):
        return None


def _sync_namesrv(admin: Any, addr: str, wanted: str) -> bool:
    """Brings the broker's namesrvAddr to ``wanted`` (UPDATE_BROKER_CONFIG) and reads it back."""
    if not wanted:
        return True
    if admin.broker_config(addr).get("namesrvAddr") == wanted:
        return True
    admin.update_broker_config(addr, {"namesrvAddr": wanted})
    synced = admin.broker_config(addr).get("namesrvAddr") == wanted
    log.info("pushed name servers to broker", broker=addr, namesrv_addr=wanted, verified=synced)
    return synced


def _with_lag(brokers: list[BrokerFacts]) -> list[BrokerFacts]:
    masters = {b.broker_name: b.max_offset for b in brokers if b.broker_id == 0 and b.max_offset is not None}
    out = []
    for b in brokers:
        master = masters.get(b.broker_name)
        if b.broker_id not in (None, 0) and master is not None and b.max_offset is not None:
            b = replace(b, lag_bytes=max(0, master - b.max_offset))
        out.append(b)
    return out


