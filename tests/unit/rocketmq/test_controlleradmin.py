"""The controller admin calls against fake controllers: the request each sends (codes, header fields, body),
how answers are read (leader, replica tables, an election that changed nothing), and refusals."""

from __future__ import annotations

import json

import pytest

from rocketmq_operator.rocketmq import AdminClient, ConnectError, ResponseError
from rocketmq_operator.rocketmq.controlleradmin import (
    CONTROLLER_ELECT_MASTER,
    CONTROLLER_GET_METADATA_INFO,
    CONTROLLER_GET_SYNC_STATE_DATA,
    CONTROLLER_MASTER_STILL_EXIST,
    CONTROLLER_NOT_LEADER,
    ControllerMetadata,
    elect_master,
    find_leader,
    sync_state_data,
)
from tests.unit.rocketmq.rmq_fakes import FakeServer, respond, serve_forever

pytestmark = pytest.mark.timeout(30)
# As a 5.3.3 controller writes it (fastjson, the broker ids as numbers).
SYNC_STATE = (b'{"replicasInfoTable":{"broker-a":{"inSyncReplicas":[{"alive":true,'
              b'"brokerAddress":"10.0.0.1:10911","brokerId":1,"brokerName":"broker-a"},'
              b'{"alive":true,"brokerAddress":"10.0.0.2:10911","brokerId":2,"brokerName":"broker-a"}],'
              b'"masterAddress":"10.0.0.1:10911","masterBrokerId":1,"masterEpoch":3,'
              b'"notInSyncReplicas":[{"alive":false,"brokerAddress":"10.0.0.3:10911","brokerId":3,'
              b'"brokerName":"broker-a"}],"syncStateSetEpoch":5}}}')


class Controller:
    def __init__(self, *, leader: bool, leader_addr: str = "", elect_code: int = 0) -> None:
        self.leader, self.leader_addr, self.elect_code = leader, leader_addr, elect_code
        self.requests = []

    def __call__(self, req):
        self.requests.append(req)
        if req.code == CONTROLLER_GET_METADATA_INFO:
            return respond(req, fields={"group": "g", "controllerLeaderId": "n1",
                                        "isLeader": str(self.leader).lower(),
                                        "controllerLeaderAddress": self.leader_addr,
                                        "peers": "n0:a:1;n1:b:2;"})
        if not self.leader:
            return respond(req, code=CONTROLLER_NOT_LEADER, remark="not leader")
        if req.code == CONTROLLER_GET_SYNC_STATE_DATA:
            return respond(req, body=SYNC_STATE)
        assert req.code == CONTROLLER_ELECT_MASTER
        return respond(req, code=self.elect_code, fields={"masterBrokerId": req.ext_fields["brokerId"],
                                                          "masterAddress": "10.0.0.2:10911",
                                                          "masterEpoch": "4"})


@pytest.fixture
def controllers():
    servers = []

    def start(behaviour: Controller) -> str:
        server = FakeServer(serve_forever(behaviour)).__enter__()
        servers.append(server)
        return server.addr

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def test_the_leader_is_the_member_that_says_so_and_a_dead_member_costs_one_connect_timeout(controllers):
    follower = controllers(Controller(leader=False, leader_addr="x"))
    leader = controllers(Controller(leader=True))
    with AdminClient(connect_timeout=1.0) as admin:
        found, seen = find_leader(admin, ["127.0.0.1:1", follower, leader])
    assert found == leader
    assert isinstance(seen["127.0.0.1:1"], ConnectError)
    assert isinstance(seen[follower], ControllerMetadata) and seen[follower].peers == ("n0:a:1", "n1:b:2")


def test_the_replica_table_gives_the_master_and_who_is_in_sync(controllers):
    backend = Controller(leader=True)
    leader = controllers(backend)
    with AdminClient() as admin:
        group = sync_state_data(admin, leader, ["broker-a"])["broker-a"]
    assert json.loads(backend.requests[0].body) == ["broker-a"]
    assert (group.master_id, group.master_addr, group.master_epoch, group.sync_state_set_epoch) == (
        1, "10.0.0.1:10911", 3, 5)
    assert [(r.broker_id, r.in_sync, r.alive) for r in group.replicas] == [(1, True, True), (2, True, True),
                                                                         (3, False, False)]
    assert [r.broker_id for r in group.in_sync_slaves] == [2]


def test_a_designated_election_names_the_broker_and_says_whether_anything_changed(controllers):
    backend = Controller(leader=True)
    leader = controllers(backend)
    still = controllers(Controller(leader=True, elect_code=CONTROLLER_MASTER_STILL_EXIST))
    with AdminClient() as admin:
        moved = elect_master(admin, leader, cluster="c", broker_name="broker-a", broker_id=2, now_ms=7)
        kept = elect_master(admin, still, cluster="c", broker_name="broker-a", broker_id=2)
    fields = backend.requests[0].ext_fields
    assert (fields["clusterName"], fields["brokerName"], fields["brokerId"], fields["designateElect"],
            fields["invokeTime"]) == ("c", "broker-a", "2", "true", "7")
    assert (moved.changed, moved.master_id, moved.master_addr, moved.master_epoch) == (
        True, 2, "10.0.0.2:10911", 4)
    assert (kept.changed, kept.master_id) == (False, 2)


def test_a_follower_refuses_reads_and_elections(controllers):
    follower = controllers(Controller(leader=False))
    with AdminClient() as admin:
        with pytest.raises(ResponseError) as caught:
            elect_master(admin, follower, cluster="c", broker_name="broker-a", broker_id=2)
        assert caught.value.code == CONTROLLER_NOT_LEADER
        with pytest.raises(ResponseError):
            sync_state_data(admin, follower, ["broker-a"])
