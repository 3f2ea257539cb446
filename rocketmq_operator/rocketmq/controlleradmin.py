"""Admin calls to RocketMQ 5 controllers: who leads the Raft group, who is master of each broker group,
and handing mastership to a chosen in-sync broker.

A controller answers on its Raft peer port (the address in ``controllerDLegerPeers``, 9878 by default in
this operator), whether it runs alone or inside a name server. Only the Raft leader serves reads of the
replica tables and elections; the others answer CONTROLLER_NOT_LEADER. :func:`find_leader` asks each
member for its metadata (a cheap, local answer every member gives) and returns the leader's address, so
the other calls go straight to it. Every call goes through ``AdminClient.invoke`` and so is bounded by
the client's connect and request timeouts (a caller may pass a shorter ``timeout``).

Broker ids here are the controller's: in controller mode each broker gets a small id (1, 2, ...) from the
controller the first time it registers and keeps it in its store; the master's id is the one of the broker
currently elected, never a fixed "0".
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from . import fastjson
from .admin import AdminClient
from .errors import ProtocolError, RemotingError, ResponseError

__all__ = [
    "CONTROLLER_ELECT_MASTER",
    "CONTROLLER_GET_METADATA_INFO",
    "CONTROLLER_GET_SYNC_STATE_DATA",
    "CONTROLLER_MASTER_STILL_EXIST",
    "CONTROLLER_NOT_LEADER",
    "ControllerMetadata",
    "ElectResult",
    "Replica",
    "ReplicaGroup",
    "controller_metadata",
    "elect_master",
    "find_leader",
    "sync_state_data",
]

CONTROLLER_ELECT_MASTER = 1002
CONTROLLER_GET_METADATA_INFO = 1005
CONTROLLER_GET_SYNC_STATE_DATA = 1006
CONTROLLER_NOT_LEADER = 2007
CONTROLLER_MASTER_STILL_EXIST = 2011


@dataclass(frozen=True)
class ControllerMetadata:
    """One controller's view of its Raft group."""

    addr: str  # the address asked
    group: str
    leader_id: str | None
    leader_addr: str | None
    is_leader: bool
    peers: tuple[str, ...] = ()  # "n0:host:port" entries as the controller lists them


@dataclass(frozen=True)
class Replica:
    broker_id: int
    addr: str
    alive: bool
    in_sync: bool


@dataclass(frozen=True)
class ReplicaGroup:
    """A broker group as the controller holds it: the elected master and every replica it knows."""

    broker_name: str
    master_id: int | None
    master_addr: str | None
    master_epoch: int
    sync_state_set_epoch: int
    replicas: tuple[Replica, ...] = field(default=())

    def replica(self, broker_id: int) -> Replica | None:
        return next((r for r in self.replicas if r.broker_id == broker_id), None)

    @property
    def in_sync_slaves(self) -> tuple[Replica, ...]:
        """Alive replicas in the sync-state set other than the master: the ones an election may pick."""
        return tuple(r for r in self.replicas if r.in_sync and r.alive and r.broker_id != self.master_id)


@dataclass(frozen=True)
class ElectResult:
    master_id: int | None
    master_addr: str | None
    master_epoch: int
    changed: bool  # False: the requested broker (or the old master) already was master


def controller_metadata(admin: AdminClient, addr: str, *, timeout: float | None = None) -> ControllerMetadata:
    response = admin.invoke(addr, CONTROLLER_GET_METADATA_INFO, timeout=timeout)
    fields = response.ext_fields
    peers = tuple(p for p in (fields.get("peers") or "").split(";") if p)
    return ControllerMetadata(addr=addr, group=fields.get("group") or "",
                              leader_id=fields.get("controllerLeaderId") or None,
                              leader_addr=fields.get("controllerLeaderAddress") or None,
                              is_leader=str(fields.get("isLeader", "false")).lower() == "true", peers=peers)


def find_leader(
    admin: AdminClient, addrs: Iterable[str], *, timeout: float | None = None
) -> tuple[str | None, dict[str, ControllerMetadata | RemotingError]]:
    """The address of the controller that leads (None when none says it does), and what each member said.

    A member that names another as leader is believed only when that one is among ``addrs`` or answered
    itself as leader: a member that just lost contact may still name an old leader.
    """
    seen: dict[str, ControllerMetadata | RemotingError] = {}
    for addr in addrs:
        try:
            seen[addr] = controller_metadata(admin, addr, timeout=timeout)
        except RemotingError as exc:
            seen[addr] = exc
    leaders = [m.addr for m in seen.values() if isinstance(m, ControllerMetadata) and m.is_leader]
    return (leaders[0] if leaders else None), seen


def sync_state_data(admin: AdminClient, leader: str, broker_names: Sequence[str], *,
                    timeout: float | None = None) -> Mapping[str, ReplicaGroup]:
    """The controller's replica table of each named broker group (groups it never saw are left out)."""
    if not broker_names:
        return MappingProxyType({})
    body = json.dumps(list(broker_names)).encode()
    response = admin.invoke(leader, CONTROLLER_GET_SYNC_STATE_DATA, body=body, timeout=timeout)
    try:
        return MappingProxyType(_replica_groups(fastjson.loads(response.body) if response.body else {}))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ProtocolError(f"malformed sync state data: {exc}", addr=leader) from exc


def elect_master(admin: AdminClient, leader: str, *, cluster: str, broker_name: str, broker_id: int,
                 timeout: float | None = None, now_ms: int | None = None) -> ElectResult:
    """Asks the controller to make ``broker_id`` the master of ``broker_name`` (an admin-designated
    election: the broker must be alive and in the sync-state set, else the controller refuses with a
    ``ResponseError``). Idempotent: when it already is master the result says ``changed=False``."""
    fields = {"clusterName": cluster, "brokerName": broker_name, "brokerId": broker_id,
              "designateElect": True, "invokeTime": now_ms if now_ms is not None else int(time.time() * 1000)}
    response = admin.request(leader, CONTROLLER_ELECT_MASTER, fields=fields, timeout=timeout)
    if response.code not in (0, CONTROLLER_MASTER_STILL_EXIST):
        raise ResponseError(response.code, response.remark, addr=leader)
    header = response.ext_fields
    master = _int(header.get("masterBrokerId"))
    return ElectResult(master_id=master, master_addr=header.get("masterAddress") or None,
                       master_epoch=_int(header.get("masterEpoch")) or 0,
                       changed=response.code == 0)


def _replica_groups(data: Any) -> dict[str, ReplicaGroup]:
    table = (data or {}).get("replicasInfoTable") or {}
    if not isinstance(table, dict):
        raise TypeError("replicasInfoTable is not a JSON object")
    return {str(name): _replica_group(str(name), info) for name, info in table.items()}


def _replica_group(name: str, info: Mapping[str, Any]) -> ReplicaGroup:
    replicas = [_replica(r, in_sync=True) for r in info.get("inSyncReplicas") or ()]
    replicas += [_replica(r, in_sync=False) for r in info.get("notInSyncReplicas") or ()]
    return ReplicaGroup(broker_name=name, master_id=_int(info.get("masterBrokerId")),
                        master_addr=info.get("masterAddress") or None,
                        master_epoch=_int(info.get("masterEpoch")) or 0,
                        sync_state_set_epoch=_int(info.get("syncStateSetEpoch")) or 0,
                        replicas=tuple(sorted(replicas, key=lambda r: r.broker_id)))


def _replica(data: Mapping[str, Any], *, in_sync: bool) -> Replica:
    return Replica(broker_id=int(data["brokerId"]), addr=str(data.get("brokerAddress") or ""),
                   alive=bool(data.get("alive")), in_sync=in_sync)


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(value)
