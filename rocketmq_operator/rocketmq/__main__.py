"""``python -m rocketmq_operator.rocketmq admin ...``: the admin commands without the operator's CLI."""

from __future__ import annotations

import argparse
import sys

from .cli import add_admin_parser, run_admin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rocketmq_operator.rocketmq")
    add_admin_parser(parser.add_subparsers(dest="command", required=True))
    return run_admin(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
