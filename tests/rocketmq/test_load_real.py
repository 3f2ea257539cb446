"""The load driver against real RocketMQ: figures on a healthy pair, the CLI under SIGTERM, and the
master killed with SIGKILL mid-run — every acknowledged message arrives once the master is back, send
errors fall between the kill and the master's return, and a consumer reads from the slave meanwhile."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from rocketmq_operator.rocketmq import AdminClient, MessageQueue, TopicConfig
from rocketmq_operator.rocketmq.consumer import PullConsumer
from rocketmq_operator.rocketmq.load import LoadRun
from rocketmq_operator.rocketmq.message import Message
from rocketmq_operator.rocketmq.producer import Producer
from rocketmq_operator.rocketmq.protocol import RequestCode
from tests.rocketmq.rmq_servers import BROKER, BROKER_MAIN, CLUSTER, HEAPS, JavaProcess, RocketMQ, wait_until

pytestmark = [pytest.mark.rocketmq, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[2]


def create_topic(admin: AdminClient, *, queues: int = 4) -> str:
    topic = f"load_{uuid.uuid4().hex[:8]}"
    admin.create_topic(TopicConfig(topic, read_queue_nums=queues, write_queue_nums=queues), cluster=CLUSTER)
    wait_until(lambda: admin.topic_route(topic).queues, timeout=20, what=f"a route for {topic}")
    return topic


def test_a_run_on_a_healthy_pair_receives_every_key_once_and_leaves_no_lag(rocketmq: RocketMQ, admin):
    topic = create_topic(admin)
    run = LoadRun(rocketmq.namesrv, topic, rate=100, drain_timeout=15).start()
    try:
        wait_until(lambda: run.report().sent_ok >= 100, timeout=40, what="100 acknowledged sends")
    finally:
        report = run.stop()
    print(json.dumps(report.to_json()))

    assert report.sent_ok >= 100 and report.send_errors == 0 and report.error_windows == ()
    assert report.received == report.sent_ok and report.lost == 0 and report.duplicates == 0
    assert report.drained and report.max_send_gap_s < 5.0  # no stall (bounded loosely: a shared machine)
    assert report.sent_by_broker == {BROKER: report.sent_ok}
    assert report.received_from == {f"{BROKER}/0": report.sent_ok}
    assert admin.consume_stats(f"load-consumer-{report.run_id}", topic=topic).lag == 0
    acked = run.acknowledged()
    assert len(acked) == report.sent_ok and all(k.startswith(f"{report.run_id}-") for k in acked)


def load_cli(rocketmq: RocketMQ, topic: str, *args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "rocketmq_operator.rocketmq", "admin", "load", "-n", rocketmq.namesrv]
    command += ["-t", topic, "--create-topic", CLUSTER, "--queues", "2", "--drain", "10", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)


def test_the_cli_prints_progress_and_json_figures_when_sigterm_stops_it(rocketmq: RocketMQ, admin):
    topic = f"load_{uuid.uuid4().hex[:8]}"
    proc = load_cli(rocketmq, topic, "--rate", "100", "--progress", "0.5")
    try:
        wait_until(lambda: _offsets(admin, topic) >= 100, timeout=30, what="the CLI to send 100 messages")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    figures = json.loads(out)
    assert figures["topic"] == topic and figures["sent_ok"] >= 100
    assert figures["lost"] == 0 and figures["received"] == figures["sent_ok"] and figures["send_errors"] == 0
    progress = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert progress and all(p["run_id"] == figures["run_id"] for p in progress)
    assert [p["sent_ok"] for p in progress] == sorted(p["sent_ok"] for p in progress)


def test_the_cli_stops_by_itself_after_the_duration(rocketmq: RocketMQ):
    started = time.monotonic()
    proc = load_cli(rocketmq, f"load_{uuid.uuid4().hex[:8]}", "--rate", "20", "--duration", "2")
    out, err = proc.communicate(timeout=40)
    assert proc.returncode == 0, err
    figures = json.loads(out)
    assert 1 <= figures["sent_ok"] <= 2 * 20 + 1 and figures["lost"] == 0  # never above the target rate
    assert time.monotonic() - started < 20


def _offsets(admin: AdminClient, topic: str) -> int:
    try:
        route = admin.topic_route(topic)
    except Exception:  # noqa: BLE001 - not created yet
        return 0
    master = route.brokers[0].master_addr
    return sum(
        int(
            admin.invoke(
                master, RequestCode.GET_MAX_OFFSET, fields={"topic": topic, "queueId": q}
            ).ext_fields["offset"]
        )
        for q in range(route.queues[0].write_queue_nums)
    )


def restart_broker(old: JavaProcess, rocketmq: RocketMQ, key: str) -> JavaProcess:
    """The same broker again: same home, store and broker.conf (so the same ports)."""
    new = JavaProcess(
        rocketmq.jars,
        name=old.name,
        main=BROKER_MAIN,
        heap=HEAPS["broker"],
        home=old.home,
        args=["-c", str(old.home / "broker.conf")],
    )
    rocketmq.processes[key] = new
    return new


@pytest.fixture
def slave_reads(rocketmq: RocketMQ, admin):
    """The slave serves pulls (slaveReadEnable, hot-updated) for the test, and not afterwards."""
    admin.update_broker_config(rocketmq.slave, {"slaveReadEnable": "true"})
    yield
    admin.update_broker_config(rocketmq.slave, {"slaveReadEnable": "false"})


def master_serving(admin: AdminClient, rocketmq: RocketMQ) -> bool:
    broker = admin.cluster_info().brokers.get(BROKER)
    return bool(
        broker and broker.master_addr == rocketmq.master and admin.broker_runtime_info(rocketmq.master).active
    )


def slave_serves(admin: AdminClient, rocketmq: RocketMQ, topic: str, *, count: int) -> bool:
    """The slave has replicated ``count`` messages of ``topic`` and serves reads of it."""
    with PullConsumer(rocketmq.namesrv, group="probe", topic=topic) as probe:
        result = probe.pull(MessageQueue(topic, BROKER, 0), 0, addr=rocketmq.slave, broker_id=1)
    return result.max_offset >= count


def test_sigkill_of_the_master_mid_run_loses_no_acknowledged_message(rocketmq: RocketMQ, admin, slave_reads):
    load_topic, parked_topic = create_topic(admin), create_topic(admin, queues=1)
    # A slave copies topic configs from its master once a minute; create it there too, as if it were old.
    admin.create_topic(
        TopicConfig(parked_topic, read_queue_nums=1, write_queue_nums=1), broker_addr=rocketmq.slave
    )
    with Producer(rocketmq.namesrv) as producer:
        for index in range(30):
            producer.send(Message(parked_topic, b"parked", keys=(f"parked-{index}",)))

    run = LoadRun(rocketmq.namesrv, load_topic, rate=100, drain_timeout=25, route_ttl=5).start()
    killed = False
    try:
        wait_until(
            lambda: slave_serves(admin, rocketmq, parked_topic, count=30),
            timeout=25,
            what="the slave to serve the parked topic",
        )
        wait_until(lambda: run.report().sent_ok >= 150, timeout=20, what="150 messages before the kill")
        killed_at = time.time()
        os.killpg(rocketmq.processes["master"].proc.pid, signal.SIGKILL)
        rocketmq.processes["master"].proc.wait(10)
        killed = True

        group = f"parked-{uuid.uuid4().hex[:6]}"
        with PullConsumer(rocketmq.namesrv, group=group, topic=parked_topic) as reader:
            parked: list = []
            wait_until(
                lambda: parked.extend(reader.poll()) or len(parked) >= 30, timeout=15, what="slave reads"
            )
            assert sorted(m.keys[0] for m in parked) == sorted(f"parked-{i}" for i in range(30))
            assert dict(reader.received_from) == {(BROKER, 1): 30}

        master = restart_broker(rocketmq.processes["master"], rocketmq, "master")
        killed = False
        master.wait_booted()
        wait_until(lambda: master_serving(admin, rocketmq), timeout=30, what="the master registered again")
        back_at = time.time()
        before = run.report().sent_ok
        wait_until(
            lambda: run.report().sent_ok >= before + 150, timeout=20, what="150 sends after the return"
        )
    finally:
        report = run.stop()
        print(json.dumps(report.to_json()))
        if killed:
            restart_broker(rocketmq.processes["master"], rocketmq, "master").wait_booted()

    assert report.lost == 0, report.lost_keys  # every acknowledged message, before and after the kill
    assert report.drained and report.received == report.sent_ok + report.received_unacknowledged
    assert report.sent_ok >= 300 and report.send_errors > 0
    assert len(report.error_windows) == 1, report.error_windows
    window = report.error_windows[0]
    assert killed_at - 0.1 <= window.start and window.end <= back_at + 5  # only while the master was away
    assert report.max_send_gap_s >= 1.0
