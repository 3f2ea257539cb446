"""``kubectl-rocketmq``: the plugin's entry point, its arguments and its kubectl-style help.

The connection options (``-n/--namespace``, ``--kubeconfig``, ``--context``) go before or after the command,
as with kubectl. The namespace defaults to the kubeconfig context's, like kubectl's. Exit status: 0 done,
1 a failure that is printed as one ``error:`` line (not found, no status yet, API server or name servers
unreachable, refused), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import NoReturn

from rocketmq_operator.kube import ApiError, KubeConfigError, connect, default_namespace
from rocketmq_operator.plugin.commands import HANDLERS, Context
from rocketmq_operator.plugin.render import DEFAULT_EVENTS
from rocketmq_operator.plugin.target import PluginError

PROG = "kubectl rocketmq"
NAME_HELP = "NAME, or KIND/NAME (brokercluster/NAME, bc/NAME, broker/NAME)"
COMMANDS = {
    "status": ("Show a broker cluster: groups, members, roles, registration, lag, conditions, last events",
               ("# The brokers of the 2018 talk's cluster, as the operator last saw them\n"
                "kubectl rocketmq status mybrokercluster -n rocketmq-operator\n\n"
                "# An Apache Broker of the same name as a BrokerCluster\n"
                "kubectl rocketmq status broker/broker")),
    "pause": ("Stop the operator from changing a broker cluster (the pause-reconcile annotation)",
              "kubectl rocketmq pause mybrokercluster"),
    "resume": ("Let the operator change a paused broker cluster again",
               "kubectl rocketmq resume mybrokercluster"),
    "restart": ("Restart every broker safely: one at a time, slaves first, each once the cluster is Ready",
                ("kubectl rocketmq restart mybrokercluster\n"
                 "kubectl rocketmq status mybrokercluster    # follow the roll")),
    "topics": ("List the topics the cluster's masters hold (asks RocketMQ through the name servers)",
               ("kubectl rocketmq topics mybrokercluster\n\n"
                "# RocketMQ's own topics too\n"
                "kubectl rocketmq topics mybrokercluster --all")),
    "cluster-list": (("List the cluster's brokers as the name servers register them "
                      "(like mqadmin clusterList)"),
                     "kubectl rocketmq cluster-list mybrokercluster --timeout 2"),
}
DESCRIPTION = ("Inspect and operate the RocketMQ broker clusters rocketmq-operator runs: BrokerCluster "
               "(rocketmq.huanwei.io) and Broker (rocketmq.apache.org).")


class KubectlParser(argparse.ArgumentParser):
    """An ArgumentParser whose help reads like kubectl's: description, Examples, Available Commands,
    Options, Usage."""

    def __init__(self, *args, examples: str = "", usage_line: str = "", **kwargs) -> None:
        super().__init__(*args, add_help=False, **kwargs)
        self.examples = examples
        self.usage_line = usage_line
        self.commands: dict[str, str] = {}
        self.add_argument("-h", "--help", action="help", help="Show this help")

    def format_help(self) -> str:
        parts = [textwrap.fill(self.description or "", 100), ""]
        if self.examples:
            parts += ["Examples:", textwrap.indent(self.examples, "  "), ""]
        if self.commands:
            width = max(map(len, self.commands)) + 3
            parts += ["Available Commands:", *(f"  {n:<{width}}{h}" for n, h in self.commands.items()), ""]
        parts += ["Options:", *self._options(), "", "Usage:", f"  {self.usage_line}", ""]
        if self.commands:
            parts += [f'Use "{PROG} <command> --help" for more information about a given command.', ""]
        return "\n".join(parts)

    def _options(self) -> list[str]:
        lines = []
        for action in self._actions:
            if not action.option_strings:
                continue
            value = "" if action.nargs == 0 else f" {action.metavar or action.dest.upper()}"
            lines += [f"  {', '.join(action.option_strings)}{value}:", f"      {action.help}"]
        return lines

    def error(self, message: str) -> NoReturn:
        if message.startswith("argument COMMAND: invalid choice"):
            message = f"unknown command {message.split(chr(39))[1]!r} for {PROG!r}"
        self.exit(2, f"error: {message}\nSee '{self.prog} --help' for usage.\n")


def _connection_options(parser: argparse.ArgumentParser, *, default: object) -> None:
    parser.add_argument("-n", "--namespace", default=default,
                        help="Namespace of the resource (default: the kubeconfig context's, else 'default')")
    parser.add_argument("--kubeconfig", default=default, metavar="PATH",
                        help="Path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
    parser.add_argument("--context", default=default, help="The kubeconfig context to use")


def _rocketmq_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                        help="Connect and request timeout of each RocketMQ call (default 5)")


def build_parser() -> KubectlParser:
    parser = KubectlParser(prog=PROG, description=DESCRIPTION,
                           examples="kubectl rocketmq status mybrokercluster -n rocketmq-operator",
                           usage_line=f"{PROG} COMMAND NAME [options]")
    _connection_options(parser, default=None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=KubectlParser)
    for name, (summary, examples) in COMMANDS.items():
        command = sub.add_parser(name, prog=f"{PROG} {name}", description=summary, examples=examples,
                                 usage_line=f"{PROG} {name} NAME [options]")
        parser.commands[name] = summary
        command.add_argument("name", metavar="NAME", help=NAME_HELP)
        _connection_options(command, default=argparse.SUPPRESS)
        if name == "status":
            command.add_argument("--events", type=int, default=DEFAULT_EVENTS, metavar="N",
                                 help=f"How many of the last events to show (default {DEFAULT_EVENTS})")
        if name == "topics":
            command.add_argument("--all", action="store_true", help="Also list RocketMQ's own system topics")
        if name in ("topics", "cluster-list"):
            _rocketmq_options(command)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    if not args.command:
        print(parser.format_help(), end="")
        return 0
    try:
        client = connect(args.kubeconfig, context=args.context)
        namespace = args.namespace or default_namespace(args.kubeconfig, context=args.context)
        return HANDLERS[args.command](Context(client, namespace), args)
    except (PluginError, KubeConfigError) as e:
        return _fail(str(e))
    except ApiError as e:
        return _fail(f"the API server refused or failed: {e}")


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
