"""Covers the table of endpoints that did not answer in time: what is remembered (timeouts, not refusals),
when the one probe starts (after the backoff, never twice at once), how a failed probe doubles the backoff
up to its bound, and that an answer, or a target that no longer names the endpoint, forgets it."""

from __future__ import annotations

from rocketmq_operator.controllers.observe.silence import BROKER, Silence
from rocketmq_operator.rocketmq import ConnectError, ConnectionLost, RemotingTimeout
from tests.fakeclock import FakeClock

ADDR = "10.0.0.2:10911"
TIMEOUT = RemotingTimeout("no response within the request timeout", addr=ADDR)


def silence(clock: FakeClock, probes: list[tuple[str, str]]) -> Silence:
    return Silence(clock=clock, first_backoff=30.0, max_backoff=120.0,
                   probe=lambda a, k: probes.append((a, k)))


def connect_timeout() -> ConnectError:
    try:
        raise ConnectError("connect timed out after 2s", addr=ADDR) from TimeoutError()
    except ConnectError as e:
        return e


def test_an_endpoint_never_met_is_asked():
    assert silence(FakeClock(), []).skip(ADDR, BROKER) is None


def test_a_timeout_is_remembered_and_the_endpoint_skipped_with_the_reason_without_a_probe_before_the_backoff(
):
    clock, probes = FakeClock(), []
    table = silence(clock, probes)
    table.failed(ADDR, BROKER, TIMEOUT)
    clock.step(29)
    assert table.skip(ADDR, BROKER) == "not answering for 29s, not asked until a probe answers"
    assert probes == [] and table.silent() == {ADDR: 1030.0}


def test_after_the_backoff_one_probe_starts_however_often_the_endpoint_is_met():
    clock, probes = FakeClock(), []
    table = silence(clock, probes)
    table.failed(ADDR, BROKER, TIMEOUT)
    clock.step(30)
    assert table.skip(ADDR, BROKER) and table.skip(ADDR, BROKER)
    assert probes == [(ADDR, BROKER)]


def test_a_failed_probe_doubles_the_backoff_up_to_its_bound():
    clock, probes = FakeClock(), []
    table = silence(clock, probes)
    table.failed(ADDR, BROKER, TIMEOUT)
    retries = []
    for _ in range(4):
        clock.step(table.silent()[ADDR] - clock.now())
        table.skip(ADDR, BROKER)
        table.failed(ADDR, BROKER, TIMEOUT)
        retries.append(table.silent()[ADDR] - clock.now())
    assert retries == [60.0, 120.0, 120.0, 120.0] and len(probes) == 4


def test_another_observations_timeout_while_no_probe_runs_does_not_push_the_probe_back():
    clock, probes = FakeClock(), []
    table = silence(clock, probes)
    table.failed(ADDR, BROKER, TIMEOUT)
    clock.step(5)
    table.failed(ADDR, BROKER, TIMEOUT)
    assert table.silent() == {ADDR: 1030.0}


def test_an_answer_forgets_the_endpoint():
    clock, probes = FakeClock(), []
    table = silence(clock, probes)
    table.failed(ADDR, BROKER, TIMEOUT)
    table.answered(ADDR)
    assert table.skip(ADDR, BROKER) is None and table.silent() == {}


def test_a_connect_timeout_is_remembered_but_a_refusal_or_reset_is_not_and_forgets_a_remembered_one():
    clock, probes = FakeClock(), []
    table = silence(clock, probes)
    table.failed(ADDR, BROKER, ConnectError("cannot connect: Connection refused", addr=ADDR))
    table.failed("b:1", BROKER, ConnectionLost("connection closed by peer", addr="b:1"))
    assert table.silent() == {}
    table.failed(ADDR, BROKER, connect_timeout())
    assert ADDR in table.silent()
    table.failed(ADDR, BROKER, ConnectError("cannot connect: Connection refused", addr=ADDR))
    assert table.silent() == {}


def test_endpoints_no_observation_met_for_two_bounds_are_dropped_when_another_goes_silent():
    clock, probes = FakeClock(), []
    table = silence(clock, probes)
    table.failed("old:1", BROKER, TIMEOUT)
    table.failed(ADDR, BROKER, TIMEOUT)
    clock.step(200)
    table.skip(ADDR, BROKER)
    clock.step(41)
    table.failed("new:1", BROKER, TIMEOUT)
    assert set(table.silent()) == {ADDR, "new:1"}
