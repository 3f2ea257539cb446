"""json_copy: deep copies of JSON data, and of anything else through copy.deepcopy."""

from __future__ import annotations

from rocketmq_operator.resources.jsoncopy import json_copy


def test_the_copy_is_equal_and_shares_no_container_with_the_original():
    original = {"env": [{"name": "A", "value": "1"}], "resources": {"limits": {"cpu": "2"}}, "n": 3,
                "on": True, "none": None, "ratio": 0.5}
    copied = json_copy(original)
    assert copied == original
    copied["env"][0]["value"] = "2"
    copied["resources"]["limits"]["cpu"] = "4"
    assert original["env"][0]["value"] == "1" and original["resources"]["limits"]["cpu"] == "2"


def test_tuples_come_back_as_lists_as_json_holds_them():
    assert json_copy({"args": ("a", "b")}) == {"args": ["a", "b"]}


def test_what_is_not_json_data_is_copied_by_deepcopy():
    original = {"groups": {1, 2}, 3: "int key"}
    copied = json_copy(original)
    assert copied == original and copied["groups"] is not original["groups"]
