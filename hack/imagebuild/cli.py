"""Command line of hack/images.py."""

from __future__ import annotations

import argparse
import sys
import time

from imagebuild import recipes


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="hack/images.py", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build or reuse images; prints '<archive-path> <image-ref>' lines")
    build.add_argument("names", nargs="*", metavar="NAME", help="pause, rocketmq, operator (default: all)")
    selftest = sub.add_parser("selftest", help="build, unpack and run each image's check (root, Linux)")
    selftest.add_argument("names", nargs="*", metavar="NAME", help="pause, rocketmq, operator (default: all)")
    sub.add_parser("list", help="the images: NAME REF")
    args = parser.parse_args(argv)

    if args.command == "list":
        for name, image in recipes.images().items():
            print(name, image.ref)
        return 0
    if args.command == "build":
        started = time.monotonic()
        for built in recipes.build_images(args.names):
            print(built.archive, built.ref, flush=True)
        print(f"images: done in {time.monotonic() - started:.1f}s", file=sys.stderr)
        return 0
    from imagebuild import selftest as checks

    return checks.run(args.names)
