"""The generic client over a real ApiClient with a scripted urllib3 pool: URLs, verbs, retries, watch."""

from __future__ import annotations

import json
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest
import urllib3

from rocketmq_operator.kube import (
    BROKERS,
    CONFIG_MAPS,
    NODES,
    STATEFUL_SETS,
    AlreadyExists,
    FencedOff,
    Gone,
    NotFound,
    ServerError,
    TooManyRequests,
    TransportError,
)

from .fakes import ChunkedResponse, fake_client, response, status_body

REFUSED = urllib3.exceptions.NewConnectionError(None, "[Errno 111] Connection refused")  # type: ignore[arg-type]
RESET = urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))


def query(request: dict) -> dict[str, list[str]]:
    return parse_qs(urlsplit(request["url"]).query)


def test_get_builds_the_url_sends_the_bearer_token_and_returns_plain_dicts():
    client, pool, _ = fake_client()
    pool.script.append(response(body={"metadata": {"name": "cm"}}))
    assert client.get(CONFIG_MAPS, "cm", namespace="ns") == {"metadata": {"name": "cm"}}
    request = pool.requests[0]
    assert request["method"] == "GET"
    assert request["url"] == "https://127.0.0.1:6443/api/v1/namespaces/ns/configmaps/cm"
    assert request["headers"]["authorization"] == "Bearer t0ken"


@pytest.mark.parametrize(("resource", "namespace", "path"), [
    (BROKERS, "ns", "/apis/rocketmq.apache.org/v1alpha1/namespaces/ns/brokers/x"),
    (STATEFUL_SETS, "ns", "/apis/apps/v1/namespaces/ns/statefulsets/x"),
    (NODES, "ignored", "/api/v1/nodes/x"),
])
def test_paths_follow_group_version_and_scope(resource, namespace, path):
    assert resource.path(namespace=namespace, name="x") == path


def test_list_follows_continue_tokens_and_returns_the_last_pages_resource_version():
    client, pool, _ = fake_client()
    pool.script += [
        response(body={"metadata": {"continue": "tok", "resourceVersion": "5"}, "items": [{"n": 1}]}),
        response(body={"metadata": {"resourceVersion": "6"}, "items": [{"n": 2}]}),
    ]
    result = client.list(CONFIG_MAPS, namespace="ns", label_selector="app=x", limit=1)
    assert result.items == [{"n": 1}, {"n": 2}] and result.resource_version == "6"
    assert query(pool.requests[0]) == {"labelSelector": ["app=x"], "limit": ["1"]}
    assert query(pool.requests[1])["continue"] == ["tok"]


def test_a_404_raises_not_found_with_the_servers_message():
    client, pool, _ = fake_client()
    pool.script.append(response(404, status_body(404, "NotFound", 'configmaps "cm" not found')))
    with pytest.raises(NotFound, match='configmaps "cm" not found'):
        client.get(CONFIG_MAPS, "cm", namespace="ns")


def test_idempotent_calls_retry_server_errors_and_resets_with_growing_waits():
    client, pool, sleeps = fake_client()
    pool.script += [response(503, status_body(503, "ServiceUnavailable", "later")), RESET,
                    response(body={"ok": True})]
    assert client.get(CONFIG_MAPS, "cm", namespace="ns") == {"ok": True}
    assert sleeps == [0.2, 0.4]
    assert client.counter.snapshot()[("get", "configmaps", "")] == 1


def test_retries_are_bounded():
    client, pool, sleeps = fake_client(attempts=3)
    pool.script += [response(500, status_body(500, "InternalError", "no"))] * 3
    with pytest.raises(ServerError):
        client.get(CONFIG_MAPS, "cm", namespace="ns")
    assert len(pool.requests) == 3 and len(sleeps) == 2


def test_a_create_is_retried_when_the_connection_was_refused_but_not_after_a_server_error():
    client, pool, _ = fake_client()
    pool.script += [REFUSED, response(201, {"metadata": {"name": "cm"}})]
    client.create(CONFIG_MAPS, {"metadata": {"name": "cm", "namespace": "ns"}})
    assert len(pool.requests) == 2
    assert pool.requests[0]["url"].endswith("/api/v1/namespaces/ns/configmaps")
    client, pool, _ = fake_client()
    pool.script += [response(500, status_body(500, "InternalError", "maybe")), response(201, {})]
    with pytest.raises(ServerError):
        client.create(CONFIG_MAPS, {"metadata": {"name": "cm", "namespace": "ns"}})
    client, pool, _ = fake_client()
    pool.script += [RESET]
    with pytest.raises(TransportError):
        client.create(CONFIG_MAPS, {"metadata": {"name": "cm", "namespace": "ns"}})


def test_a_429_is_retried_even_for_a_create_and_waits_at_least_retry_after():
    client, pool, sleeps = fake_client()
    pool.script += [response(429, status_body(429, "TooManyRequests", "slow"), headers={"Retry-After": "2"}),
                    response(201, {})]
    client.create(CONFIG_MAPS, {"metadata": {"name": "cm", "namespace": "ns"}})
    assert sleeps == [2.0]


def test_already_exists_is_not_retried():
    client, pool, _ = fake_client()
    pool.script.append(response(409, status_body(409, "AlreadyExists", 'configmaps "cm" already exists')))
    with pytest.raises(AlreadyExists):
        client.create(CONFIG_MAPS, {"metadata": {"name": "cm", "namespace": "ns"}})
    assert len(pool.requests) == 1


def test_patch_types_set_the_content_type_and_a_json_patch_is_not_retried():
    client, pool, _ = fake_client()
    pool.script.append(response(body={}))
    client.patch(CONFIG_MAPS, "cm", {"data": {"a": "1"}}, namespace="ns")
    assert pool.requests[0]["headers"]["Content-Type"] == "application/merge-patch+json"
    assert json.loads(pool.requests[0]["body"]) == {"data": {"a": "1"}}
    pool.script += [response(500, status_body(500, "InternalError", "no")), response(body={})]
    ops = [{"op": "replace", "path": "/data/a", "value": "2"}]
    with pytest.raises(ServerError):
        client.patch(CONFIG_MAPS, "cm", ops, namespace="ns", patch_type="json")
    assert pool.requests[1]["headers"]["Content-Type"] == "application/json-patch+json"
    assert json.loads(pool.requests[1]["body"]) == ops


def test_delete_sends_propagation_policy_and_preconditions():
    client, pool, _ = fake_client()
    pool.script.append(response(body={}))
    client.delete(CONFIG_MAPS, "cm", namespace="ns", propagation_policy="Foreground", uid="u1",
                  resource_version="9")
    body = json.loads(pool.requests[0]["body"])
    assert pool.requests[0]["method"] == "DELETE"
    assert body["propagationPolicy"] == "Foreground"
    assert body["preconditions"] == {"uid": "u1", "resourceVersion": "9"}


def test_update_status_puts_to_the_status_subresource_and_the_counter_sees_every_write():
    client, pool, _ = fake_client()
    pool.script += [response(body={}), response(body={}), response(body={"items": [], "metadata": {}})]
    obj = {"metadata": {"name": "b", "namespace": "ns", "resourceVersion": "3"}, "status": {}}
    client.update_status(BROKERS, obj)
    client.replace(BROKERS, obj)
    client.list(BROKERS, namespace="ns")
    assert pool.requests[0]["url"].endswith("/namespaces/ns/brokers/b/status")
    assert pool.requests[0]["method"] == "PUT"
    counts = client.counter.snapshot()
    assert counts[("update", "brokers.rocketmq.apache.org", "status")] == 1
    assert client.counter.writes() == 2
    client.counter.reset()
    assert client.counter.writes() == 0


def test_watch_asks_for_bookmarks_and_a_read_timeout_and_yields_events_split_across_chunks():
    client, pool, _ = fake_client()
    lines = b'{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n{"type":"BOOKMARK","object":{"me'
    pool.script.append(ChunkedResponse([lines, b'tadata":{"resourceVersion":"9"}}}\n']))
    stream = client.watch(CONFIG_MAPS, namespace="ns", resource_version="5", timeout_seconds=321,
                          read_timeout=30.0)
    assert [e["type"] for e in stream] == ["ADDED", "BOOKMARK"]
    params = query(pool.requests[0])
    assert params == {"watch": ["true"], "resourceVersion": ["5"], "allowWatchBookmarks": ["true"],
                      "timeoutSeconds": ["321"]}
    timeout = pool.requests[0]["timeout"]
    assert (timeout.connect_timeout, timeout.read_timeout) == (10.0, 30.0)


def test_a_410_error_event_raises_gone_and_a_silent_stream_raises_a_transport_error():
    client, pool, _ = fake_client()
    gone = json.dumps({"type": "ERROR", "object": status_body(410, "Expired", "too old resource version")})
    timeout = urllib3.exceptions.ReadTimeoutError(None, "/", "Read timed out.")  # type: ignore[arg-type]
    pool.script += [ChunkedResponse([gone.encode() + b"\n"]), ChunkedResponse([timeout])]
    with pytest.raises(Gone):
        list(client.watch(CONFIG_MAPS, namespace="ns", resource_version="1"))
    with pytest.raises(TransportError):
        list(client.watch(CONFIG_MAPS, namespace="ns", resource_version="1"))


def test_a_closed_watch_ends_quietly():
    client, pool, _ = fake_client()
    response_ = ChunkedResponse([b'{"type":"ADDED","object":{}}\n', b'{"type":"ADDED","object":{}}\n'])
    pool.script.append(response_)
    stream = client.watch(CONFIG_MAPS, namespace="ns")
    events = iter(stream)
    next(events)
    stream.close()
    assert list(events) == [] and response_.closed


def test_a_429_on_opening_a_watch_is_raised_with_retry_after_for_the_reflector():
    client, pool, _ = fake_client()
    pool.script.append(response(429, status_body(429, "TooManyRequests", "slow"),
                                headers={"Retry-After": "4"}))
    with pytest.raises(TooManyRequests) as caught:
        client.watch(CONFIG_MAPS)
    assert caught.value.retry_after == 4.0 and len(pool.requests) == 1


def test_a_fenced_client_sends_no_write_but_still_reads():
    client, pool, _ = fake_client()
    client.fence(lambda: False)
    with pytest.raises(FencedOff, match="create configmaps not sent"):
        client.create(CONFIG_MAPS, {"metadata": {"name": "cm"}}, namespace="ns")
    with pytest.raises(FencedOff):
        client.delete(CONFIG_MAPS, "cm", namespace="ns")
    assert pool.requests == []
    pool.script.append(response(body={"ok": True}))
    assert client.get(CONFIG_MAPS, "cm", namespace="ns") == {"ok": True}


def test_a_write_whose_lease_runs_out_while_it_is_retried_is_not_sent_again():
    client, pool, sleeps = fake_client()
    leading = [True]
    client.fence(lambda: leading[0])
    pool.script.append(response(503, status_body(503, "ServiceUnavailable", "later")))
    client._retry = replace(client._retry, sleep=lambda s: (sleeps.append(s), leading.__setitem__(0, False)))
    with pytest.raises(FencedOff):
        client.patch(CONFIG_MAPS, "cm", {"data": {"a": "1"}}, namespace="ns")
    assert len(pool.requests) == 1 and sleeps
