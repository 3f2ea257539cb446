"""AdminClient and the admin CLI against fake name servers and brokers: requests sent, results, errors."""

from __future__ import annotations

import argparse
import json

import pytest

from rocketmq_operator.rocketmq import (
    AdminClient,
    ConnectError,
    MessageQueue,
    ProtocolError,
    ResponseError,
    TopicConfig,
    TopicNotFound,
)
from rocketmq_operator.rocketmq.admin import _encode_properties
from rocketmq_operator.rocketmq.cli import add_admin_parser, run_admin
from rocketmq_operator.rocketmq.protocol import RequestCode
from tests.unit.rocketmq.rmq_fakes import CLUSTER_INFO, CONSUME_STATS, FakeServer, respond, serve_forever

pytestmark = pytest.mark.timeout(30)


class Recorder:
    """Answers each request from a table keyed by request code and records what it received."""

    def __init__(self, answers: dict[int, dict]) -> None:
        self.answers = answers
        self.requests = []

    def __call__(self, req):
        self.requests.append(req)
        return respond(req, **self.answers.get(req.code, {}))


@pytest.fixture
def fake():
    servers = []

    def start(answers: dict[int, dict]) -> tuple[str, Recorder]:
        recorder = Recorder(answers)
        server = FakeServer(serve_forever(recorder)).__enter__()
        servers.append(server)
        return server.addr, recorder

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def test_cluster_info_is_parsed_from_fastjson_with_integer_keys(fake):
    addr, _ = fake({RequestCode.GET_BROKER_CLUSTER_INFO: {"body": CLUSTER_INFO}})
    with AdminClient(addr) as admin:
        info = admin.cluster_info()
    assert dict(info.brokers["broker-a"].addrs) == {0: "127.0.0.1:20911", 1: "127.0.0.1:20921"}
    assert [b.name for b in info.brokers_in("TestCluster")] == ["broker-a"]
    assert info.brokers_in("Unknown") == ()


def test_reads_fail_over_past_unreachable_name_servers_but_not_past_an_answer(fake):
    refusing, _ = "127.0.0.1:1", None
    failing, _ = fake({RequestCode.GET_BROKER_CLUSTER_INFO: {"code": 1, "remark": "boom"}})
    healthy, healthy_log = fake({RequestCode.GET_BROKER_CLUSTER_INFO: {"body": CLUSTER_INFO}})
    with AdminClient([refusing, healthy]) as admin:
        assert "broker-a" in admin.cluster_info().brokers
    with AdminClient([failing, healthy]) as admin, pytest.raises(ResponseError, match="boom") as caught:
        admin.cluster_info()
    assert caught.value.code == 1 and caught.value.addr == failing and not healthy_log.requests[1:]


def test_when_every_name_server_is_unreachable_the_last_error_is_raised():
    with (
        AdminClient("127.0.0.1:1;127.0.0.1:2", connect_timeout=1) as admin,
        pytest.raises(ConnectError) as caught,
    ):
        admin.cluster_info()
    assert caught.value.addr == "127.0.0.1:2"


def test_topic_not_exist_is_a_topic_not_found_error(fake):
    addr, recorder = fake({RequestCode.GET_ROUTEINFO_BY_TOPIC: {"code": 17, "remark": "No topic route info"}})
    with AdminClient(addr) as admin, pytest.raises(TopicNotFound):
        admin.topic_route("missing")
    assert dict(recorder.requests[0].ext_fields) == {"topic": "missing", "acceptStandardJsonOnly": "true"}


def test_a_malformed_body_is_a_protocol_error(fake):
    addr, _ = fake({RequestCode.GET_BROKER_CLUSTER_INFO: {"body": b'{"brokerAddrTable":[1,2]}'}})
    with AdminClient(addr) as admin, pytest.raises(ProtocolError, match="malformed cluster info"):
        admin.cluster_info()


def test_write_perm_goes_to_every_name_server_and_reports_each_outcome(fake):
    first, first_log = fake({RequestCode.WIPE_WRITE_PERM_OF_BROKER: {"fields": {"wipeTopicCount": "7"}}})
    second, _ = fake({RequestCode.WIPE_WRITE_PERM_OF_BROKER: {"code": 1, "remark": "nope"}})
    with AdminClient([first, second]) as admin:
        result = admin.wipe_write_perm("broker-a")
    assert dict(result.counts) == {first: 7} and not result.ok
    assert isinstance(result.errors[second], ResponseError)
    assert dict(first_log.requests[0].ext_fields) == {"brokerName": "broker-a"}


def test_create_topic_in_a_cluster_goes_to_each_master_with_the_topic_header(fake):
    broker, broker_log = fake({})
    body = CLUSTER_INFO.replace(b"127.0.0.1:20911", broker.encode())
    namesrv, _ = fake({RequestCode.GET_BROKER_CLUSTER_INFO: {"body": body}})
    config = TopicConfig("orders", read_queue_nums=4, write_queue_nums=2, attributes={"message.type": "FIFO"})
    with AdminClient(namesrv) as admin:
        assert admin.create_topic(config, cluster="TestCluster") == (broker,)
        with pytest.raises(ValueError, match="not registered"):
            admin.create_topic(config, cluster="Other")
        with pytest.raises(ValueError, match="exactly one"):
            admin.create_topic(config)
    [req] = broker_log.requests
    assert req.code == RequestCode.UPDATE_AND_CREATE_TOPIC
    assert dict(req.ext_fields) == {
        "topic": "orders",
        "defaultTopic": "TBW102",
        "readQueueNums": "4",
        "writeQueueNums": "2",
        "perm": "6",
        "topicFilterType": "SINGLE_TAG",
        "topicSysFlag": "0",
        "order": "false",
        "attributes": "+message.type=FIFO",
    }


def test_broker_config_is_read_from_properties_text_and_updated_as_escaped_properties(fake):
    config_text = b"brokerName=broker-a\nnamesrvAddr=a:9876;b:9876\nempty=\n"
    addr, recorder = fake({RequestCode.GET_BROKER_CONFIG: {"body": config_text}})
    with AdminClient() as admin:
        assert dict(admin.broker_config(addr)) == {
            "brokerName": "broker-a",
            "namesrvAddr": "a:9876;b:9876",
            "empty": "",
        }
        admin.update_broker_config(addr, {"namesrvAddr": "a:9876;b:9876", "flag": True})
        with pytest.raises(ValueError, match="needs name server"):
            admin.cluster_info()
    assert recorder.requests[-1].body == b"namesrvAddr=a\\:9876;b\\:9876\nflag=true\n"


def test_properties_are_escaped_the_way_java_properties_load_expects():
    assert _encode_properties({"a key": " lead=x:y#!\\ é😀\n"}) == (
        b"a\\ key=\\ lead\\=x\\:y\\#\\!\\\\ \\u00e9\\ud83d\\ude00\\n\n"
    )


def test_consume_stats_merge_every_master_and_compute_lag(fake):
    broker, broker_log = fake({RequestCode.GET_CONSUME_STATS: {"body": CONSUME_STATS}})
    body = CLUSTER_INFO.replace(b"127.0.0.1:20911", broker.encode())
    namesrv, _ = fake({RequestCode.GET_BROKER_CLUSTER_INFO: {"body": body}})
    with AdminClient(namesrv) as admin:
        stats = admin.consume_stats("G1")
    assert list(stats.offsets) == [MessageQueue("T1", "broker-a", 0), MessageQueue("T1", "broker-a", 1)]
    assert [o.lag for o in stats.offsets.values()] == [2, 2] and stats.lag == 4
    assert dict(broker_log.requests[0].ext_fields) == {"consumerGroup": "G1"}


def admin_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_admin_parser(parser.add_subparsers(dest="command"))
    return run_admin(parser.parse_args(["admin", *argv]))


def test_cli_cluster_list_prints_one_row_per_broker_with_its_version(fake, capsys):
    version_table = b'{"table":{"brokerVersionDesc":"V5_3_3","brokerVersion":"479"}}'
    broker, _ = fake({RequestCode.GET_BROKER_RUNTIME_INFO: {"body": version_table}})
    body = CLUSTER_INFO.replace(b"127.0.0.1:20911", broker.encode())
    namesrv, _ = fake({RequestCode.GET_BROKER_CLUSTER_INFO: {"body": body}})
    assert admin_cli("cluster-list", "-n", namesrv, "--timeout", "0.5") == 0
    header, master, slave = capsys.readouterr().out.splitlines()
    assert header.split() == ["#Cluster", "Name", "#Broker", "Name", "#BID", "#Addr", "#Version"]
    assert master.split() == ["TestCluster", "broker-a", "0", broker, "V5_3_3"]
    assert slave.split()[:4] == ["TestCluster", "broker-a", "1", "127.0.0.1:20921"]
    assert "unreachable" in slave


def test_cli_reports_unreachable_servers_with_status_1_and_bad_arguments_with_2(capsys):
    assert admin_cli("cluster-list", "-n", "127.0.0.1:1") == 1
    assert "cannot connect" in capsys.readouterr().err
    assert admin_cli("topic-list", "-n", "not-an-address") == 2
    assert admin_cli("broker-config", "-b", "127.0.0.1:1", "--set", "novalue") == 2
    assert admin_cli("broker-config", "-c", "TestCluster") == 2


def runtime_table(**table: str) -> bytes:
    return json.dumps({"table": {"brokerVersionDesc": "V5_3_3", **table}}).encode()


def test_deferred_messages_are_the_delay_levels_progress_and_the_timer_backlog_of_the_runtime_info(fake):
    body = runtime_table(scheduleMessageOffset_1="4,6", scheduleMessageOffset_18="0,0", timerOffsetBehind="2",
                         timerCongestNum="5")
    addr, recorder = fake({RequestCode.GET_BROKER_RUNTIME_INFO: {"body": body}})
    with AdminClient() as admin:
        deferred = admin.deferred_messages(addr)
    assert dict(deferred.delay_levels) == {1: (4, 6), 18: (0, 0)}
    assert (deferred.timer_unread, deferred.timer_waiting, deferred.timer) == (2, 5, 7)
    assert [r.code for r in recorder.requests] == [RequestCode.GET_BROKER_RUNTIME_INFO]


def test_a_broker_without_a_timer_wheel_reports_no_timer_messages(fake):
    addr, _ = fake({RequestCode.GET_BROKER_RUNTIME_INFO: {"body": runtime_table()}})
    with AdminClient() as admin:
        assert admin.deferred_messages(addr).timer == 0


@pytest.mark.parametrize("table", [{"timerCongestNum": "many"}, {"scheduleMessageOffset_2": "4"},
                                   {"scheduleMessageOffset_x": "1,2"}])
def test_an_unreadable_delivery_figure_is_a_protocol_error_not_zero(fake, table):
    addr, _ = fake({RequestCode.GET_BROKER_RUNTIME_INFO: {"body": runtime_table(**table)}})
    with AdminClient() as admin, pytest.raises(ProtocolError, match="delivery figures"):
        admin.deferred_messages(addr)
