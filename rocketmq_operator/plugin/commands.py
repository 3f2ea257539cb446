"""The plugin's commands. Each takes the open client, the namespace and its parsed arguments, prints its
result on stdout and returns the exit status; failures the user can act on raise ``PluginError``.

Writes are only ever a merge patch of one annotation of the named resource, and only when it changes:
``pause`` on a paused cluster, or ``resume`` on one that is not, writes nothing.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rocketmq_operator.controllers.runtime.common import PAUSE_ANNOTATION, is_paused
from rocketmq_operator.kube import KubeClient
from rocketmq_operator.plugin import mq
from rocketmq_operator.plugin.render import render_cluster_list, render_status, render_topics
from rocketmq_operator.plugin.target import Found, PluginError, endpoints, events, find, model_of
from rocketmq_operator.resources.meta import ANNOTATION_RESTART


@dataclass(frozen=True)
class Context:
    client: KubeClient
    namespace: str


def status(ctx: Context, args: argparse.Namespace) -> int:
    found = find(ctx.client, ctx.namespace, args.name)
    if not found.obj.get("status"):
        raise PluginError(f"{found.ref} has no status yet: the operator has not reconciled it "
                          f"(is the operator running and watching namespace {found.namespace!r}?)")
    model, _ = model_of(ctx.client, found)
    text = render_status(found.obj, events(ctx.client, found), model=model, now=datetime.now(UTC),
                         max_events=args.events)
    print(text, end="")
    return 0


def pause(ctx: Context, args: argparse.Namespace) -> int:
    found = find(ctx.client, ctx.namespace, args.name)
    if is_paused(dict(found.obj)):
        print(f"{found.ref} is already paused")
        return 0
    _annotate(ctx, found, {PAUSE_ANNOTATION: "true"})
    print(f"{found.ref} paused: the operator makes no changes to it until "
          f"'kubectl rocketmq resume {found.name} -n {found.namespace}'")
    return 0


def resume(ctx: Context, args: argparse.Namespace) -> int:
    found = find(ctx.client, ctx.namespace, args.name)
    annotations = found.obj["metadata"].get("annotations") or {}
    if PAUSE_ANNOTATION not in annotations:
        print(f"{found.ref} is not paused")
        return 0
    _annotate(ctx, found, {PAUSE_ANNOTATION: None})
    print(f"{found.ref} resumed")
    return 0


def restart(ctx: Context, args: argparse.Namespace) -> int:
    found = find(ctx.client, ctx.namespace, args.name)
    value = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    _annotate(ctx, found, {ANNOTATION_RESTART: value})
    print(f"{found.ref} restart requested ({ANNOTATION_RESTART}={value})")
    print("The operator restarts one broker at a time (the slaves of every group, then the masters), each "
          f"once the cluster is Ready; follow it with "
          f"'kubectl rocketmq status {found.name} -n {found.namespace}'")
    if is_paused(dict(found.obj)):
        _warn(f"{found.ref} is paused: the restart begins when it is resumed")
    if (found.obj.get("spec") or {}).get("allowRestart") is False:
        _warn(f"{found.ref} has spec.allowRestart: false: its pods stay as they are until it is true")
    return 0


def topics(ctx: Context, args: argparse.Namespace) -> int:
    found = find(ctx.client, ctx.namespace, args.name)
    where = endpoints(ctx.client, found)
    with mq.connect(where, timeout=args.timeout) as admin:
        rows, errors = mq.topic_rows(admin, where, include_system=args.all)
    print(render_topics(rows, errors), end="")
    return 1 if errors else 0


def cluster_list(ctx: Context, args: argparse.Namespace) -> int:
    found = find(ctx.client, ctx.namespace, args.name)
    where = endpoints(ctx.client, found)
    with mq.connect(where, timeout=args.timeout) as admin:
        rows = mq.broker_rows(admin, where)
    print(render_cluster_list(rows), end="")
    return 0


def _annotate(ctx: Context, found: Found, annotations: dict[str, Any]) -> None:
    ctx.client.patch(found.kind.resource, found.name, {"metadata": {"annotations": annotations}},
                     namespace=found.namespace, patch_type="merge")


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


HANDLERS = {"status": status, "pause": pause, "resume": resume, "restart": restart, "topics": topics,
            "cluster-list": cluster_list}
