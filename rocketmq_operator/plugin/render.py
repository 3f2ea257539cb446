"""The plugin's output: pure functions from what it read (a custom resource, its Events, admin-client rows) to
text a person reads at a glance.

Tables are laid out like kubectl's (upper-case headers, columns three spaces apart); times are ages
("12s", "5m", "3h", "2d") relative to the ``now`` the caller passes, so the output is reproducible.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from rocketmq_operator.controllers.runtime.addresses import name_server_list
from rocketmq_operator.controllers.runtime.common import PAUSE_ANNOTATION
from rocketmq_operator.plugin.mq import BrokerRow, TopicRow
from rocketmq_operator.resources.meta import ANNOTATION_RESTART
from rocketmq_operator.resources.model import BrokerClusterModel

DEFAULT_EVENTS = 10
_KEY_WIDTH = 15  # "Name servers:" and two spaces
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Left-aligned columns, three spaces apart, no trailing spaces."""
    cells = [[str(h) for h in headers], *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in cells)


def age(then: datetime | None, now: datetime) -> str:
    """kubectl's short duration: 45s, 7m, 5h, 3d, 2y; ``<unknown>`` without a time."""
    if then is None:
        return "<unknown>"
    seconds = max(0, int((now - then).total_seconds()))
    for limit, unit, size in ((120, "s", 1), (120 * 60, "m", 60), (48 * 3600, "h", 3600),
                              (730 * 86400, "d", 86400)):
        if seconds < limit:
            return f"{seconds // size}{unit}"
    return f"{seconds // (365 * 86400)}y"


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def human_bytes(n: int) -> str:
    value, unit = float(n), 0
    while value >= 1024 and unit < len(_UNITS) - 1:
        value, unit = value / 1024, unit + 1
    return f"{int(value)} B" if unit == 0 else f"{value:.1f} {_UNITS[unit]}"


# -- status -------------------------------------------------------------------------------------------------

def render_status(obj: Mapping[str, Any], events: Sequence[Mapping[str, Any]], *, model: BrokerClusterModel,
                  now: datetime, max_events: int = DEFAULT_EVENTS) -> str:
    """``kubectl rocketmq status``: summary, brokers, conditions, the last Events."""
    status = obj.get("status") or {}
    name_servers = len(name_server_list(status.get("nameServers") or model.name_server_address))
    parts = [_summary(obj, model, now=now), "",
             (_brokers(status.get("brokers") or [], name_servers) if status.get("brokers")
              else "Brokers: <none>"), "",
             _conditions(status.get("conditions") or [], now), "", _events(events, now, max_events)]
    return "\n".join(parts) + "\n"


def _summary(obj: Mapping[str, Any], model: BrokerClusterModel, *, now: datetime) -> str:
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    annotations = meta.get("annotations") or {}
    total = model.groups * model.members_per_group
    ready = _condition(status, "Ready")
    lines = [
        ("Name", meta.get("name", "")),
        ("Namespace", meta.get("namespace", "")),
        ("Kind", f"{obj.get('kind', model.parent.kind)} ({obj.get('apiVersion', model.parent.api_version)})"),
        ("Cluster", f"{model.cluster_name}, {_topology(model)}"),
        ("Name servers", status.get("nameServers") or model.name_server_address or "<none>"),
        ("Ready", f"{ready.get('status', 'Unknown')} ({ready.get('reason', 'no condition yet')})"
                  + (f" {ready['message']}" if ready.get("message") else "")),
        ("Groups", f"{status.get('readyGroups', 0)}/{model.groups} ready"),
        ("Members", f"{status.get('readyMembers', 0)}/{total} ready, " + _registered(status, total)),
    ]
    if (annotations.get(PAUSE_ANNOTATION) or "").lower() == "true":
        lines.append(("Paused", f"yes: the operator makes no changes until resumed ({PAUSE_ANNOTATION})"))
    if annotations.get(ANNOTATION_RESTART):
        lines.append(("Restart", f"requested {annotations[ANNOTATION_RESTART]} ({ANNOTATION_RESTART})"))
    lines += _roll_lines(status, now)
    observed, generation = status.get("observedGeneration"), meta.get("generation")
    if observed is not None and generation is not None and observed < generation:
        lines.append(("Observed",
                      f"generation {observed} of {generation}: the operator has not caught up yet"))
    return "\n".join(f"{key + ':':<{_KEY_WIDTH}}{value}" for key, value in lines)


def _topology(model: BrokerClusterModel) -> str:
    if model.all_master:
        mode = "all masters"
    elif model.dledger:
        mode = "DLedger groups"
    else:
        mode = f"{model.replication_mode} replication"
    return f"{mode}, {model.groups} group(s) x {model.members_per_group} member(s)"


def _registered(status: Mapping[str, Any], total: int) -> str:
    if "registeredMembers" not in status:
        return "registration not observed"
    return f"{status['registeredMembers']}/{total} registered"


def _roll_lines(status: Mapping[str, Any], now: datetime) -> list[tuple[str, str]]:
    lines = []
    roll = status.get("roll") or {}
    if roll:
        text = f"restarting {roll['pod']}" if roll.get("pod") else "in progress"
        if roll.get("fenced"):
            since = f" for {age(_epoch(roll['wipedAt']), now)}" if roll.get("wipedAt") is not None else ""
            text += f"; {roll['fenced']} fenced from writes{since}"
        lines.append(("Roll", text))
    drain = status.get("drain") or {}
    if drain:
        started = f" for {age(_epoch(drain['startedAt']), now)}" if drain.get("startedAt") is not None else ""
        lines.append(("Drain", f"broker group {drain.get('group')} draining before removal{started}"))
    copied = (status.get("scaleOut") or {}).get("copiedGroups")
    if copied:
        lines.append(("Scale-out", f"topics copied to group(s) {', '.join(map(str, copied))}"))
    return lines


def _epoch(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _condition(status: Mapping[str, Any], type_: str) -> Mapping[str, Any]:
    return next((c for c in status.get("conditions") or () if c.get("type") == type_), {})


def _brokers(brokers: Sequence[Mapping[str, Any]], name_servers: int) -> str:
    rows = []
    for b in brokers:
        registered = f"{b['registeredOn']}/{name_servers}" if "registeredOn" in b else "-"
        lag = human_bytes(int(b["lagBytes"])) if b.get("lagBytes") is not None else "-"
        rows.append((b.get("group", ""), b.get("name", ""), b.get("brokerName", ""), b.get("brokerId", ""),
                     b.get("role", ""), "yes" if b.get("ready") else "no", registered, lag,
                     b.get("address") or "-", b.get("version") or "-"))
    headers = ("GROUP", "POD", "BROKER", "ID", "ROLE", "READY", "REGISTERED", "LAG", "ADDRESS", "VERSION")
    return table(headers, rows)


def _conditions(conditions: Sequence[Mapping[str, Any]], now: datetime) -> str:
    if not conditions:
        return "Conditions: <none>"
    ordered = sorted(conditions, key=lambda c: c.get("type") != "Ready")
    rows = [(c.get("type", ""), c.get("status", ""), c.get("reason", ""),
             age(parse_time(c.get("lastTransitionTime")), now), c.get("message", "")) for c in ordered]
    return "Conditions:\n" + _indent(table(("TYPE", "STATUS", "REASON", "AGE", "MESSAGE"), rows))


def _event_time(event: Mapping[str, Any]) -> datetime | None:
    return parse_time(event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")
                      or (event.get("metadata") or {}).get("creationTimestamp"))


def _events(events: Sequence[Mapping[str, Any]], now: datetime, max_events: int) -> str:
    if not events:
        return "Events: <none>"
    floor = datetime.min.replace(tzinfo=now.tzinfo)
    latest = sorted(events, key=lambda e: _event_time(e) or floor)[-max_events:]
    rows = []
    for e in latest:
        seen = age(_event_time(e), now)
        count = int(e.get("count") or 1)
        rows.append((seen + (f" (x{count})" if count > 1 else ""), e.get("type", ""), e.get("reason", ""),
                     e.get("message", "")))
    title = f"Events (last {len(latest)} of {len(events)}):" if len(events) > len(latest) else "Events:"
    return title + "\n" + _indent(table(("LAST SEEN", "TYPE", "REASON", "MESSAGE"), rows))


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


# -- RocketMQ's own view ------------------------------------------------------------------------------------

def render_cluster_list(rows: Sequence[BrokerRow]) -> str:
    """``kubectl rocketmq cluster-list``: one line per broker, like ``mqadmin clusterList``."""
    lines = [(r.cluster, r.broker_name, r.broker_id, "MASTER" if r.broker_id == 0 else "SLAVE", r.addr,
              r.version or "-", r.put_tps or "-", f"unreachable: {r.error}" if r.error else "") for r in rows]
    return table(("CLUSTER", "BROKER", "ID", "ROLE", "ADDRESS", "VERSION", "PUT TPS", ""), lines) + "\n"


def render_topics(rows: Sequence[TopicRow], errors: Sequence[str] = ()) -> str:
    """``kubectl rocketmq topics``: each topic with the broker groups that hold it and its queues."""
    lines = [(r.topic, ",".join(r.brokers), r.read_queues, r.write_queues, r.perm) for r in rows]
    text = table(("TOPIC", "BROKERS", "READ QUEUES", "WRITE QUEUES", "PERM"), lines) if rows else "No topics."
    notes = "".join(f"\nnot answered: {e}" for e in errors)
    return text + notes + "\n"
