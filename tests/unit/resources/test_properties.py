"""Covers broker properties: merging their sources, dropping operator-owned keys with a note, checking
values."""

from __future__ import annotations

import pytest

from rocketmq_operator.resources import properties, propvalues

EXPECTED = {"brokerClusterName": "DefaultCluster", "brokerRole": "SYNC_MASTER", "listenPort": "10911"}


def test_later_layers_win_and_each_key_remembers_where_it_came_from():
    props, origins = properties.merge_sources(
        [("configmap/cm[broker-common.conf]", {"a": "1", "b": "2"}), ("spec.properties", {"b": "3"})]
    )
    assert props == {"a": "1", "b": "3"}
    assert origins == {"a": "configmap/cm[broker-common.conf]", "b": "spec.properties"}


@pytest.mark.parametrize(
    ("key", "value", "noted"),
    [
        ("brokerClusterName", "DefaultCluster", False),  # restates the operator's value
        ("brokerClusterName", "Other", True),
        ("brokerRole", "SYNC_MASTER", False),
        ("brokerRole", "ASYNC_MASTER", True),
        ("brokerName", "mine", True),  # per broker, never the user's
        ("dLegerPeers", "n0-x:40911", True),  # DLedger key outside DLEDGER mode
        ("storePathRootDir", "/data", True),  # managed, not in EXPECTED here
        ("fileReservedTime", "72", False),  # not managed: kept
    ],
)
def test_managed_keys_are_dropped_and_only_changed_values_are_noted(key, value, noted):
    clean, notes = properties.split_managed({key: value}, expected=EXPECTED)
    assert (key in clean) == (key not in properties.MANAGED_KEYS)
    assert [k for k, _ in notes] == ([key] if noted else [])


def test_a_note_names_the_dropped_value_and_the_value_the_operator_writes():
    _, [(key, message)] = properties.split_managed({"brokerRole": "ASYNC_MASTER"}, expected=EXPECTED)
    assert key == "brokerRole"
    assert "brokerRole=ASYNC_MASTER ignored" in message and "brokerRole=SYNC_MASTER" in message


def test_without_an_expected_role_the_note_says_dledger_elects_the_master():
    _, [(_, message)] = properties.split_managed(
        {"brokerRole": "ASYNC_MASTER"}, expected={"enableDLegerCommitLog": "true"}
    )
    assert "DLEDGER" in message


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("flushDiskType", "ASYNC_FLUSH"),
        ("flushDiskType", "SYNC_FLUSH"),
        ("brokerRole", "SLAVE"),
        ("autoCreateTopicEnable", "true"),
        ("aclEnable", "FALSE"),  # Boolean.parseBoolean ignores case
        ("deleteWhen", "04"),
        ("deleteWhen", "01;04"),
        ("deleteWhen", "23"),
        ("fileReservedTime", "48"),
        ("mapedFileSizeCommitLog", "1073741824"),
        ("sendMessageThreadPoolNums", "16"),
        ("haListenPort", "10912"),
        ("brokerPermission", "6"),
        ("osPageCacheBusyTimeOutMills", "10000000000"),  # a Java long
        ("someNewKey", "anything"),  # unknown keys pass
    ],
)
def test_good_values_pass(key, value):
    assert propvalues.check_values({key: value}) == []


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("flushDiskType", "SYNC", "ASYNC_FLUSH, SYNC_FLUSH"),
        ("brokerRole", "MASTER", "ASYNC_MASTER, SYNC_MASTER, SLAVE"),
        ("autoCreateTopicEnable", "yes", "true or false"),
        ("slaveReadEnable", "1", "true or false"),
        ("deleteWhen", "4am", "hours of the day"),
        ("deleteWhen", "24", "hours of the day"),
        ("deleteWhen", "01;", "hours of the day"),
        ("fileReservedTime", "48h", "an integer"),
        ("fileReservedTime", "-1", "an integer from 0"),
        ("fileReservedTime", "48 ", "an integer"),  # parseInt does not trim
        ("mappedFileSizeCommitLog", "1g", "an integer"),
        ("mappedFileSizeCommitLog", str(2**31), "an integer"),  # beyond a Java int
        ("sendMessageThreadPoolNums", "0", "an integer from 1"),
        ("haListenPort", "70000", "an integer from 1 to 65535"),
        ("brokerPermission", "8", "an integer from 0 to 7"),
    ],
)
def test_bad_values_are_problems_naming_the_key_and_what_it_accepts(key, value, allowed):
    [(found, message)] = propvalues.check_values({key: value})
    assert found == key
    assert message.startswith(f"{key}=") and allowed in message
