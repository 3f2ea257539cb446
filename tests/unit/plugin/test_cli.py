"""Covers the plugin's command line (kubectl-style help, options before or after the command, exit
statuses), how it names resources, and that name servers that do not answer fail within the timeout."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
import yaml

from rocketmq_operator.plugin import cli, mq
from rocketmq_operator.plugin.target import KINDS, Endpoints, PluginError, split_ref

CRDS = Path(__file__).resolve().parents[3] / "manifests" / "crds"


def test_the_help_reads_like_kubectls(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    sections = [line for line in out.splitlines() if line and not line.startswith(" ") and line.endswith(":")]
    assert sections == ["Examples:", "Available Commands:", "Options:", "Usage:"]
    assert all(f"  {name} " in out for name in cli.COMMANDS)
    assert "  kubectl rocketmq COMMAND NAME [options]" in out
    assert 'Use "kubectl rocketmq <command> --help"' in out


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_every_command_has_kubectl_style_help_with_examples_and_its_usage(command, capsys):
    assert cli.main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Examples:\n  " in out and f"Usage:\n  kubectl rocketmq {command} NAME [options]" in out
    assert "-n, --namespace NAMESPACE:" in out and "--kubeconfig PATH:" in out and "--context CONTEXT:" in out


def test_no_command_prints_the_help(capsys):
    assert cli.main([]) == 0
    assert "Available Commands:" in capsys.readouterr().out


def test_an_unknown_command_or_a_missing_name_is_a_usage_error(capsys):
    assert cli.main(["scale", "x"]) == 2
    assert "error: unknown command 'scale' for 'kubectl rocketmq'" in capsys.readouterr().err
    assert cli.main(["status"]) == 2
    assert "See 'kubectl rocketmq status --help'" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["-n", "ns1", "--context", "c1", "--kubeconfig", "k1", "status", "bc"],
    ["status", "bc", "-n", "ns1", "--context", "c1", "--kubeconfig", "k1"],
    ["--kubeconfig", "k1", "status", "-n", "ns1", "bc", "--context", "c1"],
])
def test_connection_options_go_before_or_after_the_command(argv):
    args = cli.build_parser().parse_args(argv)
    assert (args.command, args.name, args.namespace, args.context, args.kubeconfig) == (
        "status", "bc", "ns1", "c1", "k1")


def test_an_unreadable_kubeconfig_is_one_error_line(capsys, tmp_path):
    assert cli.main(["status", "bc", "--kubeconfig", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot load kubeconfig") and err.count("\n") == 1


def test_an_unreachable_api_server_is_one_error_line(capsys, tmp_path):
    port = _free_port()
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "x",
              "clusters": [{"name": "x", "cluster": {"server": f"https://127.0.0.1:{port}"}}],
              "users": [{"name": "x", "user": {"token": "t"}}],
              "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x", "namespace": "ns"}}]}
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    assert cli.main(["pause", "bc", "--kubeconfig", str(path)]) == 1
    assert "unreachable" in capsys.readouterr().err


def test_names_with_a_kind_pick_that_kind_and_a_bare_name_means_either():
    assert split_ref("mybrokercluster") == (KINDS, "mybrokercluster")
    for ref in ("bc/x", "brokercluster/x", "brokerclusters.rocketmq.huanwei.io/x", "BrokerCluster/x"):
        assert [k.resource.kind for k in split_ref(ref)[0]] == ["BrokerCluster"]
    assert [k.resource.kind for k in split_ref("broker/x")[0]] == ["Broker"]
    for bad in ("nameservice/x", "bc/"):
        with pytest.raises(PluginError, match="NAME or KIND/NAME"):
            split_ref(bad)


def test_the_kinds_are_known_by_exactly_the_names_their_crds_give_them():
    for kind in KINDS:
        crd = yaml.safe_load((CRDS / f"{kind.resource.group}_{kind.resource.plural}_crd.yaml").read_text())
        names = crd["spec"]["names"]
        assert (names["kind"], names["plural"], crd["spec"]["group"]) == (
            kind.resource.kind, kind.resource.plural, kind.resource.group)
        assert set(kind.short_names) == set(names["shortNames"])
        assert names["singular"] in kind.names


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def silent_server():
    """A name server address that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def test_name_servers_that_never_answer_fail_within_the_timeout(silent_server):
    where = Endpoints("DefaultCluster", silent_server, (silent_server,))
    started = time.monotonic()
    with pytest.raises(PluginError, match="cannot reach the name servers 127.0.0.1"), \
            mq.connect(where, timeout=0.5) as admin:
        mq.broker_rows(admin, where)
    assert time.monotonic() - started < 3.0


def test_a_closed_name_server_port_fails_at_once_naming_the_configured_address():
    addr = f"127.0.0.1:{_free_port()}"
    where = Endpoints("DefaultCluster", "ns-0.ns.default.svc.cluster.local:9876", (addr,))
    with pytest.raises(PluginError, match=r"configured: ns-0\.ns\.default\.svc\.cluster\.local:9876"), \
            mq.connect(where, timeout=2.0) as admin:
        mq.topic_rows(admin, where)
