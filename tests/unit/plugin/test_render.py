"""Covers the plugin's rendering: the status of a broker cluster (summary, brokers, conditions, events) and
RocketMQ's rows, as pure functions of what was read and a given time."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from rocketmq_operator.plugin.mq import BrokerRow, TopicRow
from rocketmq_operator.plugin.render import (
    age,
    human_bytes,
    render_cluster_list,
    render_status,
    render_topics,
    table,
)
from rocketmq_operator.resources.model import from_broker, from_broker_cluster

SAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "samples"
NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)


def ago(**delta) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def broker(name, group, member, role, *, lag=None, registered=2):
    entry = {"name": name, "group": group, "brokerName": f"broker-{group}", "brokerId": member, "role": role,
             "ready": True, "address": f"10.244.0.{group * 2 + member + 5}:10911", "version": "V5_3_3",
             "registeredOn": registered, "nameServersSynced": True}
    if lag is not None:
        entry["lagBytes"] = lag
    return entry


@pytest.fixture
def talk_cluster() -> dict:
    """The talk's 2 masters + 2 slaves as the operator reports them with RocketMQ observed."""
    obj = yaml.safe_load((SAMPLES / "04-cluster-2m-2s.yaml").read_text())
    obj["metadata"].update(uid="uid-1", generation=1)
    obj["status"] = {
        "observedGeneration": 1, "groups": 2, "readyGroups": 2, "members": 4, "readyMembers": 4,
        "registeredMembers": 4, "nameServers": obj["spec"]["nameServers"],
        "brokers": [broker("mybrokercluster-0-0", 0, 0, "SYNC_MASTER"),
                    broker("mybrokercluster-0-1", 0, 1, "SLAVE", lag=1572864),
                    broker("mybrokercluster-1-0", 1, 0, "SYNC_MASTER"),
                    broker("mybrokercluster-1-1", 1, 1, "SLAVE", lag=0, registered=1)],
        "conditions": [
            {"type": "BrokersRegistered", "status": "True", "reason": "AllRegistered",
             "lastTransitionTime": ago(minutes=4),
             "message": "4/4 brokers registered on 2 name server(s)"},
            {"type": "Ready", "status": "True", "reason": "AllBrokersReady",
             "lastTransitionTime": ago(minutes=3),
             "message": "4/4 brokers ready"},
        ],
    }
    return obj


def event(reason, message, *, seconds, type_="Normal", count=1):
    return {"type": type_, "reason": reason, "message": message, "count": count,
            "lastTimestamp": ago(seconds=seconds), "involvedObject": {"name": "mybrokercluster"}}


def section(text: str, title: str) -> list[str]:
    """The lines of a section (from its title to the next blank line)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start:end]


def test_the_summary_shows_the_cluster_its_name_servers_and_the_ready_registered_counts(talk_cluster):
    text = render_status(talk_cluster, [], model=from_broker_cluster(talk_cluster), now=NOW)
    summary = section(text, "Name:")
    assert summary[0].split() == ["Name:", "mybrokercluster"]
    assert "Kind:          BrokerCluster (rocketmq.huanwei.io/v1alpha1)" in summary
    assert "Cluster:       DefaultCluster, SYNC replication, 2 group(s) x 2 member(s)" in summary
    assert "Name servers:  10.10.103.181:9876;10.10.101.98:9876" in summary
    assert "Ready:         True (AllBrokersReady) 4/4 brokers ready" in summary
    assert "Members:       4/4 ready, 4/4 registered" in summary
    assert not [line for line in summary if line.startswith(("Paused:", "Restart:", "Roll:", "Observed:"))]


def test_each_broker_is_one_row_with_role_registration_on_the_name_servers_and_lag(talk_cluster):
    text = render_status(talk_cluster, [], model=from_broker_cluster(talk_cluster), now=NOW)
    header, *rows = section(text, "GROUP")
    assert header.split() == ["GROUP", "POD", "BROKER", "ID", "ROLE", "READY", "REGISTERED", "LAG", "ADDRESS",
                              "VERSION"]
    assert [r.split() for r in rows] == [
        ["0", "mybrokercluster-0-0", "broker-0", "0", "SYNC_MASTER", "yes", "2/2", "-", "10.244.0.5:10911",
         "V5_3_3"],
        ["0", "mybrokercluster-0-1", "broker-0", "1", "SLAVE", "yes", "2/2", "1.5", "MiB", "10.244.0.6:10911",
         "V5_3_3"],
        ["1", "mybrokercluster-1-0", "broker-1", "0", "SYNC_MASTER", "yes", "2/2", "-", "10.244.0.7:10911",
         "V5_3_3"],
        ["1", "mybrokercluster-1-1", "broker-1", "1", "SLAVE", "yes", "1/2", "0", "B", "10.244.0.8:10911",
         "V5_3_3"],
    ]
    assert len({r.index("broker-") for r in rows}) == 1  # columns line up


def test_conditions_list_ready_first_with_their_age(talk_cluster):
    text = render_status(talk_cluster, [], model=from_broker_cluster(talk_cluster), now=NOW)
    _, header, ready, registered = section(text, "Conditions:")
    assert header.split() == ["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"]
    assert ready.split()[:4] == ["Ready", "True", "AllBrokersReady", "3m"]
    assert registered.split()[:4] == ["BrokersRegistered", "True", "AllRegistered", "4m"]


def test_only_the_last_events_are_shown_oldest_first_with_repeat_counts(talk_cluster):
    events = [event("Created", f"Created StatefulSet mybrokercluster-{i}", seconds=600 - i)
              for i in range(12)]
    events.append(event("FailedCreate", "quota exceeded", seconds=30, type_="Warning", count=3))
    text = render_status(talk_cluster, events, model=from_broker_cluster(talk_cluster), now=NOW, max_events=3)
    title, header, *rows = section(text, "Events")
    assert title == "Events (last 3 of 13):"
    assert header.split() == ["LAST", "SEEN", "TYPE", "REASON", "MESSAGE"]
    assert [r.split()[0] for r in rows] == ["9m", "9m", "30s"]
    assert rows[-1].split()[1:4] == ["(x3)", "Warning", "FailedCreate"]
    assert rows[0].endswith("Created StatefulSet mybrokercluster-10")


def test_a_cluster_without_observation_or_events_says_so(talk_cluster):
    obj = copy.deepcopy(talk_cluster)
    del obj["status"]["registeredMembers"]
    for b in obj["status"]["brokers"]:
        for key in ("registeredOn", "address", "version", "lagBytes"):
            b.pop(key, None)
    text = render_status(obj, [], model=from_broker_cluster(obj), now=NOW)
    assert "Members:       4/4 ready, registration not observed" in text
    assert section(text, "GROUP")[1].split()[5:] == ["yes", "-", "-", "-", "-"]
    assert text.rstrip().endswith("Events: <none>")


def test_pause_restart_a_roll_in_flight_and_a_lagging_observation_are_shown(talk_cluster):
    obj = copy.deepcopy(talk_cluster)
    obj["metadata"]["generation"] = 3
    obj["metadata"]["annotations"] = {"rocketmq.apache.org/pause-reconcile": "true",
                                      "rocketmq.apache.org/restartedAt": "2026-12-01T11:59:00.000000Z"}
    obj["status"]["roll"] = {"pod": "mybrokercluster-0-0", "fenced": "broker-0",
                             "wipedAt": (NOW - timedelta(seconds=12)).timestamp()}
    summary = section(render_status(obj, [], model=from_broker_cluster(obj), now=NOW), "Name:")
    assert any(line.startswith("Paused:") and "rocketmq.apache.org/pause-reconcile" in line
               for line in summary)
    assert "Restart:       requested 2026-12-01T11:59:00.000000Z (rocketmq.apache.org/restartedAt)" in summary
    assert "Roll:          restarting mybrokercluster-0-0; broker-0 fenced from writes for 12s" in summary
    assert "Observed:      generation 1 of 3: the operator has not caught up yet" in summary


def test_an_apache_broker_renders_through_its_own_model():
    obj = next(d for d in yaml.safe_load_all((SAMPLES / "rocketmq-cluster.yaml").read_text())
               if d and d["kind"] == "Broker")
    obj["metadata"].update(namespace="default", generation=1)
    obj["status"] = {"observedGeneration": 1, "readyGroups": 0, "readyMembers": 0, "conditions": []}
    text = render_status(obj, [], model=from_broker(obj), now=NOW)
    assert "Kind:          Broker (rocketmq.apache.org/v1alpha1)" in text
    assert "Brokers: <none>" in text and "Conditions: <none>" in text


@pytest.mark.parametrize("seconds, shown", [(0, "0s"), (119, "119s"), (120, "2m"), (7199, "119m"),
                                            (7200, "2h"), (47 * 3600, "47h"), (48 * 3600, "2d"),
                                            (800 * 86400, "2y")])
def test_ages_read_like_kubectls(seconds, shown):
    assert age(NOW - timedelta(seconds=seconds), NOW) == shown


def test_ages_of_the_future_are_zero_and_unknown_times_say_so():
    assert age(NOW + timedelta(seconds=5), NOW) == "0s" and age(None, NOW) == "<unknown>"


@pytest.mark.parametrize("n, shown", [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1572864, "1.5 MiB"),
                                      (5 * 1024**4, "5.0 TiB")])
def test_byte_counts_are_human(n, shown):
    assert human_bytes(n) == shown


def test_tables_pad_columns_three_spaces_apart_without_trailing_spaces():
    assert table(("A", "LONG"), [("xyz", ""), ("1", "2")]).splitlines() == ["A     LONG", "xyz", "1     2"]


def test_cluster_list_rows_name_role_and_an_unreachable_broker():
    rows = [BrokerRow("C", "broker-0", 0, "10.0.0.1:10911", "V5_3_3", "12.5"),
            BrokerRow("C", "broker-0", 1, "10.0.0.2:10911", error="connect timed out")]
    header, master, slave = render_cluster_list(rows).splitlines()
    assert header.split() == ["CLUSTER", "BROKER", "ID", "ROLE", "ADDRESS", "VERSION", "PUT", "TPS"]
    assert master.split() == ["C", "broker-0", "0", "MASTER", "10.0.0.1:10911", "V5_3_3", "12.5"]
    assert slave.split()[3:] == ["SLAVE", "10.0.0.2:10911", "-", "-", "unreachable:", "connect", "timed",
                                 "out"]


def test_topics_show_brokers_queues_and_permission_and_say_which_master_did_not_answer():
    rows = [TopicRow("orders", ("broker-0", "broker-1"), 16, 16, "RW"),
            TopicRow("audit", ("broker-0",), 4, 4, "R-")]
    lines = render_topics(rows, ["broker-2 (10.0.0.9:10911): timed out"]).splitlines()
    assert lines[0].split() == ["TOPIC", "BROKERS", "READ", "QUEUES", "WRITE", "QUEUES", "PERM"]
    assert lines[1].split() == ["orders", "broker-0,broker-1", "16", "16", "RW"]
    assert lines[-1] == "not answered: broker-2 (10.0.0.9:10911): timed out"
    assert render_topics([]) == "No topics.\n"
