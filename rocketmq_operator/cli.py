"""The ``rocketmq-operator`` command: ``run`` starts the operator, ``admin`` talks to RocketMQ directly.

Every ``run`` flag has an environment equivalent (the Deployment sets the environment). A wrong flag, a
wrong environment value or an unreachable cluster gives one clear line on stderr and a non-zero exit, never
a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from rocketmq_operator import __version__
from rocketmq_operator.logs import LEVELS


class EnvError(Exception):
    """An environment value a flag would take as its default is not one the flag accepts."""


TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    word = value.strip().lower()
    if word not in TRUE_WORDS + FALSE_WORDS:
        raise EnvError(f"environment {name}={value!r} is not one of {', '.join(TRUE_WORDS + FALSE_WORDS)}")
    return word in TRUE_WORDS


def _env(name: str, default: str, convert) -> object:
    """The default of a flag from environment ``name`` (else ``default``), converted as the flag converts."""
    value = os.environ.get(name) or default
    try:
        return convert(value)
    except (argparse.ArgumentTypeError, ValueError) as e:
        raise EnvError(f"environment {name}={value!r}: {e}") from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number of seconds, 0 or more")
    return value


def _choice(*choices: str):
    def convert(text: str) -> str:
        if text not in choices:
            raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(choices)}")
        return text
    return convert


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _bind_address(text: str) -> str:
    if text == "":
        return text
    _host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT or :PORT")
    return text


def _add_run_parser(subparsers) -> None:
    env = os.environ.get
    run = subparsers.add_parser("run", help="run the operator (controllers, metrics, health probes)")
    run.add_argument("--kubeconfig", default=env("KUBECONFIG") or None,
                     help="kubeconfig file (env KUBECONFIG); default: in-cluster, else ~/.kube/config")
    run.add_argument("--namespace", default=env("WATCH_NAMESPACE", ""),
                     help="comma-separated namespaces to watch, empty = all (env WATCH_NAMESPACE)")
    run.add_argument("--workers", type=_positive_int, default=_env("WORKERS", "8", _positive_int),
                     help="worker threads per controller (env WORKERS, default 8; a sync mostly waits on the "
                          "API server, so threads, not CPU, bound how many clusters are created at once)")
    run.add_argument("--metrics-bind-address", type=_bind_address,
                     default=_env("METRICS_BIND_ADDRESS", "127.0.0.1:8383", _bind_address),
                     help="address of /metrics (env METRICS_BIND_ADDRESS, default 127.0.0.1:8383: this "
                          "machine only; the Deployment sets :8383 so that the kubelet and Prometheus reach "
                          "it)")
    run.add_argument("--health-probe-bind-address", type=_bind_address,
                     default=_env("HEALTH_PROBE_BIND_ADDRESS", "", _bind_address),
                     help="address of /healthz and /readyz; empty = same server as metrics "
                          "(env HEALTH_PROBE_BIND_ADDRESS)")
    run.add_argument("--leader-elect", action=argparse.BooleanOptionalAction,
                     default=_env_bool("LEADER_ELECT", False),
                     help="hold a Lease so that only one replica reconciles (env LEADER_ELECT)")
    run.add_argument("--leader-election-namespace", default=env("LEADER_ELECTION_NAMESPACE") or None,
                     help="namespace of the Lease (default: the pod's namespace, else 'default')")
    run.add_argument("--log-level", choices=LEVELS, default=_env("LOG_LEVEL", "info", _choice(*LEVELS)))
    formats = ("auto", "json", "console")
    run.add_argument("--log-format", choices=formats, default=_env("LOG_FORMAT", "auto", _choice(*formats)))
    run.add_argument("--resync-period", type=_seconds, default=_env("RESYNC_PERIOD", "600", _seconds),
                     help="seconds between cache replays (env RESYNC_PERIOD)")
    run.add_argument("--cache-unhealthy-after", type=_seconds,
                     default=_env("CACHE_UNHEALTHY_AFTER", "300", _seconds),
                     help="seconds an informer may go without a successful list or watch before /healthz "
                          "fails, so that the kubelet restarts the operator (env CACHE_UNHEALTHY_AFTER)")
    run.add_argument("--rocketmq-observe-interval", type=_seconds,
                     default=_env("ROCKETMQ_OBSERVE_INTERVAL", "30", _seconds),
                     help="seconds between reads of each cluster's name servers and brokers (registration, "
                          "roles, lag) and name-server pushes; 0 turns RocketMQ observation off, and then a "
                          "name-server change rolls the brokers (env ROCKETMQ_OBSERVE_INTERVAL)")
    run.add_argument("--allow-external-name-servers", action=argparse.BooleanOptionalAction,
                     default=_env_bool("ALLOW_EXTERNAL_NAME_SERVERS", False),
                     help="let broker clusters with spec.allowExternalNameServers: true be written to (write-"
                          "permission fences, drains) through name servers that are not a NameService of "
                          "their own namespace; without it such writes are refused "
                          "(env ALLOW_EXTERNAL_NAME_SERVERS)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rocketmq-operator", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_run_parser(subparsers)
    try:
        from rocketmq_operator.rocketmq.cli import add_admin_parser
    except ImportError:  # the admin client is optional at import time
        pass
    else:
        add_admin_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
    except EnvError as e:
        print(f"rocketmq-operator: {e}", file=sys.stderr)
        return 2
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    if args.command == "run":
        from rocketmq_operator.manager import run_operator

        code = run_operator(args)
        # Everything that needed an orderly stop (workers, watches, the lease) has stopped within its
        # bounds; do not let a thread still blocked in a socket read hold the process open.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    if args.command == "admin":
        from rocketmq_operator.rocketmq.cli import run_admin

        return run_admin(args)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
