"""``rocketmq-operator admin ...``: a few mqadmin-like commands over the admin client.

    admin cluster-list  -n host:port[;host:port]           brokers per cluster, like mqadmin clusterList
    admin topic-list    -n host:port[;host:port]           every topic the name servers route
    admin broker-config -b host:port [--set key=value]...   read (or hot-update) a broker's config
    admin broker-config -n ... -c CLUSTER                   ... of every broker of a cluster
    admin load          -n host:port -t TOPIC [--rate N] [--duration S]
                                                            keyed producer + consumer; JSON figures at the end

``load`` runs until ``--duration`` seconds pass or SIGTERM/SIGINT arrives, then stops sending, drains
(``--drain`` seconds at most) and prints one JSON object (``LoadReport.to_json``) on stdout.

``add_admin_parser`` adds the sub-command to the program's parser; ``run_admin`` runs it and returns
the exit status: 0 on success, 1 when a server could not be reached or refused, 2 on bad arguments,
3 when ``load`` lost acknowledged messages.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from typing import Any

from .admin import AdminClient, parse_namesrv_addrs
from .errors import RemotingError
from .load import LoadRun
from .types import TopicConfig

__all__ = ["add_admin_parser", "run_admin"]

_CLUSTER_LIST_FORMAT = "{:<22}  {:<22}  {:<4}  {:<22}  {}"


def add_admin_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("admin", help="inspect and change a RocketMQ cluster (mqadmin-like)")
    commands = parser.add_subparsers(dest="admin_command", metavar="COMMAND", required=True)

    cluster_list = commands.add_parser("cluster-list", help="list brokers per cluster")
    _add_namesrv(cluster_list, required=True)

    topic_list = commands.add_parser("topic-list", help="list the topics the name servers route")
    _add_namesrv(topic_list, required=True)

    broker_config = commands.add_parser("broker-config", help="show or hot-update broker configuration")
    _add_namesrv(broker_config, required=False)
    target = broker_config.add_mutually_exclusive_group(required=True)
    target.add_argument("-b", "--broker-addr", help="one broker, host:port")
    target.add_argument("-c", "--cluster", help="every broker of this cluster (needs -n)")
    broker_config.add_argument(
        "--set", dest="updates", action="append", default=[], metavar="KEY=VALUE", help="update a property"
    )
    broker_config.add_argument("-k", "--key", dest="keys", action="append", default=[], help="show only KEY")

    for command in (cluster_list, topic_list, broker_config):
        command.add_argument("--timeout", type=float, default=5.0, help="request timeout in seconds")
    _add_load_parser(commands)
    return parser


def _add_load_parser(commands: Any) -> None:
    load = commands.add_parser("load", help="send keyed messages and consume them; print delivery figures")
    _add_namesrv(load, required=True)
    load.add_argument("-t", "--topic", required=True)
    load.add_argument("--rate", type=float, default=50.0, help="messages per second (default 50)")
    load.add_argument("--duration", type=float, help="seconds to send (default: until SIGTERM/SIGINT)")
    load.add_argument("--drain", type=float, default=30.0, help="seconds to wait for the last messages")
    load.add_argument("--body-size", type=int, default=64, help="bytes per message body")
    load.add_argument("--group", help="consumer group (default: one of the run's own)")
    load.add_argument("--from", dest="start_from", choices=("latest", "earliest"), default="latest")
    load.add_argument("--route-ttl", type=float, default=30.0, help="seconds between route reads")
    load.add_argument("--send-timeout", type=float, default=3.0, help="seconds per send, retries included")
    load.add_argument("--create-topic", metavar="CLUSTER", help="create the topic on every master first")
    load.add_argument("--queues", type=int, default=4, help="queues per master for --create-topic")
    load.add_argument(
        "--progress", type=float, metavar="SECONDS", help="a JSON line of figures on stderr this often"
    )


def _add_namesrv(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument("-n", "--namesrv-addr", required=required, help="name servers, host:port[;host:port]")


def run_admin(args: argparse.Namespace) -> int:
    try:
        namesrv = parse_namesrv_addrs(args.namesrv_addr or "")
        if args.admin_command == "load":
            return _load(namesrv, args)
        handler = _HANDLERS[args.admin_command]
        with AdminClient(
            namesrv, request_timeout=args.timeout, connect_timeout=min(args.timeout, 3.0)
        ) as client:
            return handler(client, args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RemotingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _load(namesrv: tuple[str, ...], args: argparse.Namespace) -> int:
    if args.create_topic:
        with AdminClient(namesrv) as client:
            config = TopicConfig(args.topic, read_queue_nums=args.queues, write_queue_nums=args.queues)
            client.create_topic(config, cluster=args.create_topic)
    run = LoadRun(
        namesrv,
        args.topic,
        rate=args.rate,
        body_size=args.body_size,
        group=args.group,
        start_from=args.start_from,
        drain_timeout=args.drain,
        send_timeout=args.send_timeout,
        route_ttl=args.route_ttl,
    )
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    run.start()
    _wait(run, stop, duration=args.duration, progress=args.progress)
    report = run.stop()
    print(json.dumps(report.to_json(), sort_keys=True), flush=True)
    return 3 if report.lost else 0


def _wait(run: LoadRun, stop: threading.Event, *, duration: float | None, progress: float | None) -> None:
    """Until ``duration`` passes or ``stop`` is set, printing the figures every ``progress`` seconds."""
    deadline = None if duration is None else time.monotonic() + duration
    while not stop.is_set():
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return
        step = progress if remaining is None else min(progress or remaining, remaining)
        if stop.wait(step):
            return
        if progress:
            print(json.dumps(run.report().to_json(), sort_keys=True), file=sys.stderr, flush=True)


def _cluster_list(client: AdminClient, args: argparse.Namespace) -> int:
    info = client.cluster_info()
    print(_CLUSTER_LIST_FORMAT.format("#Cluster Name", "#Broker Name", "#BID", "#Addr", "#Version"))
    for cluster in sorted(info.clusters):
        for broker in info.brokers_in(cluster):
            for broker_id, addr in sorted(broker.addrs.items()):
                print(
                    _CLUSTER_LIST_FORMAT.format(cluster, broker.name, broker_id, addr, _version(client, addr))
                )
    return 0


def _version(client: AdminClient, addr: str) -> str:
    try:
        return client.broker_runtime_info(addr).version_desc or "-"
    except RemotingError as exc:
        return f"unreachable ({type(exc).__name__})"


def _topic_list(client: AdminClient, args: argparse.Namespace) -> int:
    for topic in sorted(client.topic_list()):
        print(topic)
    return 0


def _broker_config(client: AdminClient, args: argparse.Namespace) -> int:
    updates = dict(_key_value(item) for item in args.updates)
    if args.cluster and not client.namesrv_addrs:
        raise ValueError("-c needs the name servers (-n)")
    addrs = [args.broker_addr] if args.broker_addr else _cluster_addrs(client, args.cluster)
    for addr in addrs:
        if updates:
            client.update_broker_config(addr, updates)
            print(f"updated {', '.join(sorted(updates))} on {addr}")
            continue
        config = client.broker_config(addr)
        print(f"============{addr}============")
        for key in args.keys or sorted(config):
            print(f"{key:<50}=  {config.get(key, '')}")
    return 0


def _cluster_addrs(client: AdminClient, cluster: str) -> list[str]:
    info = client.cluster_info()
    if cluster not in info.clusters:
        raise ValueError(f"cluster {cluster!r} is not registered on the name servers")
    return [addr for broker in info.brokers_in(cluster) for _, addr in sorted(broker.addrs.items())]


def _key_value(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"--set wants KEY=VALUE, got {item!r}")
    return key.strip(), value


_HANDLERS = {"cluster-list": _cluster_list, "topic-list": _topic_list, "broker-config": _broker_config}
