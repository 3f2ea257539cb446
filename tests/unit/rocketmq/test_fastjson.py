"""The tolerant reader of fastjson output: standard JSON, bare and object keys, and hostile input."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rocketmq_operator.rocketmq.fastjson import MAX_DEPTH, JsonSyntaxError, loads
from tests.unit.rocketmq.rmq_fakes import CLUSTER_INFO, CONSUME_STATS

PRETTY_ROUTE = """
{
\t"brokerDatas":[
\t\t{
\t\t\t"brokerAddrs":{0:"127.0.0.1:20911",1:"127.0.0.1:20921"
\t\t\t},
\t\t\t"brokerName":"broker-a"
\t\t}
\t],
\t"filterServerTable":{}
}
"""

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


def test_cluster_info_with_integer_broker_ids_as_keys_parses():
    data = loads(CLUSTER_INFO)
    assert data["brokerAddrTable"]["broker-a"]["brokerAddrs"] == {0: "127.0.0.1:20911", 1: "127.0.0.1:20921"}
    assert data["clusterAddrTable"] == {"TestCluster": ["broker-a"]}


def test_objects_used_as_keys_become_tuples_of_pairs_in_document_order():
    table = loads(CONSUME_STATS)["offsetTable"]
    key = (("brokerName", "broker-a"), ("queueId", 0), ("topic", "T1"))
    assert table[key]["consumerOffset"] == 1
    assert len(table) == 2


def test_pretty_printed_output_of_mqadmin_parses():
    assert loads(PRETTY_ROUTE)["brokerDatas"][0]["brokerAddrs"] == {
        0: "127.0.0.1:20911",
        1: "127.0.0.1:20921",
    }


@pytest.mark.parametrize(
    "text, expected",
    [
        ("{-1:'x'}", {-1: "x"}),
        ("{name:1, other_2:true}", {"name": 1, "other_2": True}),
        ("{'single':'it\\'s'}", {"single": "it's"}),
        ("[1,2,]", [1, 2]),
        ('{"a":1,}', {"a": 1}),
        ("{[1,2]:3}", {(1, 2): 3}),
        ("{1.5:2}", {1.5: 2}),
        ('{"u":"\\u00e9\\ud83d\\ude00"}', {"u": "é😀"}),
        ('  {\n\t0 : "a" }  ', {0: "a"}),
    ],
)
def test_relaxed_forms_fastjson_may_write_parse(text, expected):
    assert loads(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        "{0:}",
        '{"a" 1}',
        "[1 2]",
        '"open',
        "{0:'x'} tail",
        "nul",
        "{:1}",
        "01",
        "{0:1]",
        '"\\q"',
        "'\x01'",
    ],
)
def test_malformed_text_raises_a_syntax_error(text):
    with pytest.raises(JsonSyntaxError):
        loads(text)


def test_deep_nesting_is_refused_quickly_without_exhausting_the_stack():
    started = time.monotonic()
    relaxed_but_deep = "[" * (MAX_DEPTH + 5) + "{0:1}" + "]" * (MAX_DEPTH + 5)
    for text in ("[" * 100_000, "{0:" * 100_000, relaxed_but_deep):
        with pytest.raises(JsonSyntaxError):
            loads(text)
    assert time.monotonic() - started < 2


def test_invalid_utf8_and_absurdly_long_numbers_are_syntax_errors():
    with pytest.raises(JsonSyntaxError):
        loads(b'{"a":"\xff"}')
    with pytest.raises(JsonSyntaxError):
        loads("{0:" + "9" * 10_000 + "}")


@given(json_values)
def test_standard_json_reads_as_the_standard_library_does(value):
    text = json.dumps(value)
    assert loads(text) == json.loads(text)


@given(st.dictionaries(st.integers(), st.text(), max_size=5))
def test_maps_with_bare_integer_keys_read_back(mapping):
    text = "{" + ",".join(f"{key}:{json.dumps(value)}" for key, value in mapping.items()) + "}"
    assert loads(text) == mapping


@given(st.text(max_size=200))
def test_arbitrary_text_either_parses_or_raises_a_syntax_error(text):
    try:
        loads(text)
    except JsonSyntaxError:
        pass
