"""Values of well-known broker properties, checked before they reach broker.conf.

RocketMQ reads broker.conf with ``MixAll.properties2Object``: each key is matched to a setter of
``BrokerConfig``, ``NettyServerConfig`` or ``MessageStoreConfig`` and the text is parsed by the
setter's type — ``Integer.parseInt``, ``Long.parseLong``, ``Boolean.parseBoolean`` or, for
``brokerRole`` and ``flushDiskType``, the enum's ``valueOf``. A value that does not parse is
*ignored without a word* (the exception is swallowed) and the broker runs on its default: a
``flushDiskType=SYNC`` gives an asynchronously flushing broker, ``autoCreateTopicEnable=no`` is
``false``, ``fileReservedTime=48h`` keeps the default 72 hours. The operator checks the keys users
set most often and reports a bad value as a problem naming the key and what it accepts, so the user
learns it from the custom resource's status instead of from lost messages.

The table is deliberately a few dozen keys, not all of RocketMQ's several hundred: the ones in
the RocketMQ docs' broker configuration page and the Apache operator's examples. Unknown keys pass
unchecked (newer RocketMQ versions add keys the operator need not know). Integers follow Java's
``parseInt``: an optional sign and decimal digits, nothing else — no units, no spaces.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

INT_MAX = 2**31 - 1
LONG_MAX = 2**63 - 1
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_HOUR = re.compile(r"^[0-9]{1,2}$")


@dataclass(frozen=True)
class Rule:
    """What a property accepts: a test and the words that say it in a message."""

    allowed: str
    accepts: Callable[[str], bool]


def one_of(*values: str) -> Rule:
    return Rule(f"one of {', '.join(values)}", lambda text: text in values)


def boolean() -> Rule:
    return Rule("true or false", lambda text: text.lower() in ("true", "false"))


def integer(low: int, high: int = INT_MAX) -> Rule:
    """A Java int (or long, with ``high=LONG_MAX``) in ``[low, high]``."""
    return Rule(f"an integer from {low} to {high}", lambda text: _in_range(text, low, high))


def hours() -> Rule:
    """``deleteWhen``: hours of the day, ``04`` or ``01;04`` (RocketMQ compares each with the hour)."""
    return Rule(
        "hours of the day 0-23 separated by ';', e.g. 04 or 01;04",
        lambda text: all(_HOUR.match(part) and int(part) <= 23 for part in text.split(";")),
    )


def _in_range(text: str, low: int, high: int) -> bool:
    return bool(_INTEGER.match(text)) and low <= int(text) <= high


_PORT = integer(1, 65535)
_COUNT = integer(1)
_MILLIS = integer(0, LONG_MAX)
_PERCENT = integer(0, 100)

_BOOLEAN_KEYS = (
    "aclEnable",
    "autoCreateSubscriptionGroup",
    "autoCreateTopicEnable",
    "brokerTopicEnable",
    "checkCRCOnRecover",
    "cleanFileForciblyEnable",
    "clusterTopicEnable",
    "duplicationEnable",
    "enableCalcFilterBitMap",
    "enableControllerMode",
    "enableDLegerCommitLog",
    "enablePropertyFilter",
    "enableSlaveActingMaster",
    "fastFailIfNoBufferInStorePool",
    "longPollingEnable",
    "messageIndexEnable",
    "messageIndexSafe",
    "notifyConsumerIdsChangedEnable",
    "offsetCheckInSlave",
    "rejectTransactionMessage",
    "slaveReadEnable",
    "traceOn",
    "traceTopicEnable",
    "transientStorePoolEnable",
    "warmMapedFileEnable",
)
_COUNT_KEYS = (
    "adminBrokerThreadPoolNums",
    "clientManageThreadPoolNums",
    "consumerManageThreadPoolNums",
    "defaultTopicQueueNums",
    "endTransactionThreadPoolNums",
    "heartbeatThreadPoolNums",
    "mapedFileSizeCommitLog",  # RocketMQ 4 spelling
    "mappedFileSizeCommitLog",
    "mappedFileSizeConsumeQueue",
    "maxMessageSize",
    "pullMessageThreadPoolNums",
    "queryMessageThreadPoolNums",
    "sendMessageThreadPoolNums",
    "transientStorePoolSize",
)
_MILLIS_KEYS = (
    "flushIntervalCommitLog",
    "flushIntervalConsumeQueue",
    "osPageCacheBusyTimeOutMills",
    "syncFlushTimeout",
    "transactionCheckInterval",
    "transactionTimeOut",
    "waitTimeMillsInSendQueue",
)

RULES: Mapping[str, Rule] = MappingProxyType(
    {
        "brokerRole": one_of("ASYNC_MASTER", "SYNC_MASTER", "SLAVE"),
        "flushDiskType": one_of("ASYNC_FLUSH", "SYNC_FLUSH"),
        "deleteWhen": hours(),
        "fileReservedTime": integer(0),
        "brokerPermission": integer(0, 7),
        "listenPort": _PORT,
        "haListenPort": _PORT,
        "metricsPromExporterPort": _PORT,
        "diskMaxUsedSpaceRatio": _PERCENT,
        "accessMessageInMemoryMaxRatio": _PERCENT,
        **{key: boolean() for key in _BOOLEAN_KEYS},
        **{key: _COUNT for key in _COUNT_KEYS},
        **{key: _MILLIS for key in _MILLIS_KEYS},
    }
)


def check_values(props: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(key, message)`` for each well-known property whose value RocketMQ would not take."""
    problems = []
    for key, text in props.items():
        rule = RULES.get(key)
        if rule is not None and not rule.accepts(text):
            problems.append((key, f"{key}={text!r} must be {rule.allowed}; RocketMQ would ignore it"))
    return problems
