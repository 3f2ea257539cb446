"""Covers the ``rocketmq-operator run`` flags and their environment defaults: a wrong value, from a flag or
from the environment, is one line naming it and exit 2, never a traceback."""

from __future__ import annotations

import pytest

from rocketmq_operator import cli


@pytest.mark.parametrize("name, value, said", [
    ("WORKERS", "abc", "environment WORKERS='abc': 'abc' is not a whole number"),
    ("WORKERS", "0", "environment WORKERS='0': 0 must be at least 1"),
    ("RESYNC_PERIOD", "soon", "environment RESYNC_PERIOD='soon': 'soon' is not a number of seconds"),
    ("ROCKETMQ_OBSERVE_INTERVAL", "-1", "must be a finite number of seconds, 0 or more"),
    ("ROCKETMQ_OBSERVE_INTERVAL", "inf", "must be a finite number of seconds, 0 or more"),
    ("LEADER_ELECT", "maybe", "environment LEADER_ELECT='maybe' is not one of 1, true, yes, on, 0, false"),
    ("ALLOW_EXTERNAL_NAME_SERVERS", "y", "environment ALLOW_EXTERNAL_NAME_SERVERS='y' is not one of"),
    ("LOG_LEVEL", "loud", "environment LOG_LEVEL='loud': 'loud' is not one of debug, info"),
    ("LOG_FORMAT", "xml", "environment LOG_FORMAT='xml': 'xml' is not one of auto, json, console"),
    ("METRICS_BIND_ADDRESS", "8383", "environment METRICS_BIND_ADDRESS='8383': '8383' is not HOST:PORT"),
    ("HEALTH_PROBE_BIND_ADDRESS", "x:y", "environment HEALTH_PROBE_BIND_ADDRESS='x:y'"),
])
def test_a_wrong_environment_value_is_one_line_naming_it_and_exit_2(monkeypatch, capsys, name, value, said):
    monkeypatch.setenv(name, value)
    assert cli.main(["run", "--help"]) == 2
    err = capsys.readouterr().err
    assert said in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("flag, value, said", [
    ("--workers", "x", "argument --workers: 'x' is not a whole number"),
    ("--resync-period", "-5", "argument --resync-period: '-5' must be a finite number of seconds"),
    ("--rocketmq-observe-interval", "nan", "must be a finite number of seconds"),
])
def test_a_wrong_flag_value_is_named_by_its_flag(capsys, flag, value, said):
    assert cli.main(["run", flag, value]) == 2
    assert said in capsys.readouterr().err


def test_environment_values_become_the_flags_defaults(monkeypatch):
    for name, value in {"WORKERS": "3", "RESYNC_PERIOD": "0", "ROCKETMQ_OBSERVE_INTERVAL": "7.5",
                        "LEADER_ELECT": "TRUE", "LOG_FORMAT": "json",
                        "METRICS_BIND_ADDRESS": "127.0.0.1:1"}.items():
        monkeypatch.setenv(name, value)
    args = cli.build_parser().parse_args(["run"])
    assert (args.workers, args.resync_period, args.rocketmq_observe_interval, args.leader_elect,
            args.log_format, args.metrics_bind_address) == (3, 0.0, 7.5, True, "json", "127.0.0.1:1")


def test_an_empty_environment_value_keeps_the_default(monkeypatch):
    monkeypatch.setenv("WORKERS", "")
    monkeypatch.setenv("LEADER_ELECT", "")
    args = cli.build_parser().parse_args(["run"])
    assert args.workers == 8 and args.leader_elect is False
