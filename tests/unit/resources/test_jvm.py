"""Covers the JVM heap of broker and name-server pods: quantities, and which setting wins."""

from __future__ import annotations

import pytest

from rocketmq_operator.resources import brokers, jvm, model, nameservers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2Gi", 2 * 2**30),
        ("1.5Gi", 3 * 2**29),
        ("12288Mi", 12 * 2**30),
        ("512Ki", 512 * 1024),
        ("1Ti", 2**40),
        ("500M", 500 * 10**6),
        ("2G", 2 * 10**9),
        ("128k", 128_000),
        ("1048576", 2**20),
        (1048576, 2**20),
        ("1e9", 10**9),
        ("512m", 0),  # milli-bytes: a common slip for 512Mi
        ("", None),
        ("2 Gi", None),
        ("2GB", None),
        ("lots", None),
    ],
)
def test_kubernetes_quantities_parse_to_bytes(text, expected):
    assert jvm.parse_quantity(text) == expected


def _heap(env=(), limit=None, profile=jvm.BROKER):
    resources = {"limits": {"memory": limit}} if limit else {}
    return jvm.heap_env(list(env), resources=resources, profile=profile)


@pytest.mark.parametrize(
    ("env", "limit", "expected"),
    [
        # 1. the user's own heap settings win as given
        ([{"name": "HEAP_OPTS", "value": "-Xmx1g"}], "4Gi", []),
        ([{"name": "JAVA_OPT_EXT", "value": "-Xms2g -Xmx2g -Xmn1g"}], "4Gi", []),
        ([{"name": "JAVA_OPT_EXT", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}], "4Gi", []),
        # 2. the Apache images' knob becomes HEAP_OPTS, expanded by Kubernetes
        ([{"name": "BROKER_MEM", "value": " -Xms2g -Xmx2g -Xmn1g "}], "4Gi", ["$(BROKER_MEM)"]),
        (
            [{"name": "BROKER_MEM", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}],
            None,
            ["$(BROKER_MEM)"],
        ),
        # 3. half the memory limit, capped at 8 GiB, at least 64 MiB
        ([], "4Gi", ["-Xms2048m -Xmx2048m -Xmn1024m"]),
        ([], "12288Mi", ["-Xms6144m -Xmx6144m -Xmn3072m"]),
        ([], "1.5Gi", ["-Xms768m -Xmx768m -Xmn384m"]),
        ([], "64Gi", ["-Xms8192m -Xmx8192m -Xmn4096m"]),
        ([], "100Mi", ["-Xms64m -Xmx64m -Xmn32m"]),
        # a JAVA_OPT_EXT without heap flags leaves the heap to the rules below
        ([{"name": "JAVA_OPT_EXT", "value": "-Duser.home=/opt"}], "1Gi", ["-Xms512m -Xmx512m -Xmn256m"]),
        # 4. no limit (or an unreadable one): the small default, never the image's multi-GiB heap
        ([], None, ["-Xms512m -Xmx512m -Xmn256m"]),
        ([], "512m", ["-Xms512m -Xmx512m -Xmn256m"]),
    ],
)
def test_broker_heap_precedence(env, limit, expected):
    assert _heap(env, limit) == [{"name": "HEAP_OPTS", "value": value} for value in expected]


@pytest.mark.parametrize(
    ("env", "limit", "expected"),
    [
        ([{"name": "NAMESRV_MEM", "value": "-Xmx300m"}], "1Gi", "$(NAMESRV_MEM)"),
        ([{"name": "BROKER_MEM", "value": "-Xmx300m"}], None, "-Xms256m -Xmx256m -Xmn128m"),  # not its knob
        ([], "1024Mi", "-Xms512m -Xmx512m -Xmn256m"),
        ([], "16Gi", "-Xms2048m -Xmx2048m -Xmn1024m"),  # capped at 2 GiB
    ],
)
def test_name_server_heap_precedence(env, limit, expected):
    assert _heap(env, limit, profile=jvm.NAME_SERVER) == [{"name": "HEAP_OPTS", "value": expected}]


def _env(container):
    return [var["name"] for var in container["env"]]


def test_heap_opts_follows_the_users_env_in_the_broker_container(apache_broker, with_spec):
    env = [
        {
            "name": "BROKER_MEM",
            "valueFrom": {"configMapKeyRef": {"name": "broker-config", "key": "BROKER_MEM"}},
        }
    ]
    m = model.from_broker(with_spec(apache_broker, env=env))
    container = brokers.broker_statefulset(m, 0, config_hash="h")["spec"]["template"]["spec"]["containers"][0]
    names = _env(container)
    assert names.index("BROKER_MEM") < names.index("HEAP_OPTS") == len(names) - 1
    assert container["env"][-1]["value"] == "$(BROKER_MEM)"


def test_seed_000s_java_opt_ext_keeps_its_heap(apache_broker):
    container = brokers.broker_statefulset(model.from_broker(apache_broker), 0, config_hash="h")
    assert "HEAP_OPTS" not in _env(container["spec"]["template"]["spec"]["containers"][0])


def test_a_name_server_is_sized_from_its_limit(name_service, with_spec):
    m = model.from_name_service(with_spec(name_service, resources={"limits": {"memory": "1Gi"}}))
    container = nameservers.name_service_statefulset(m)["spec"]["template"]["spec"]["containers"][0]
    assert container["env"][-1] == {"name": "HEAP_OPTS", "value": "-Xms512m -Xmx512m -Xmn256m"}
