"""RocketMQ admin client over the remoting protocol (name servers and brokers).

    from rocketmq_operator.rocketmq import AdminClient, TopicConfig

    with AdminClient("ns-0:9876;ns-1:9876") as admin:
        info = admin.cluster_info()
        admin.create_topic(TopicConfig("orders", read_queue_nums=4, write_queue_nums=4), cluster="c1")

Layers, each importing only the ones below it: ``admin`` (operations) → ``transport`` (sockets,
pool, deadlines) → ``protocol`` (frames, codes); ``fastjson`` parses bodies, ``types`` holds the
frozen results, ``errors`` the exception tree. ``cli`` is the ``admin`` sub-command.
"""

from .admin import AdminClient, WritePermResult, parse_namesrv_addrs
from .errors import (
    ConnectError,
    ConnectionLost,
    ProtocolError,
    RemotingError,
    RemotingTimeout,
    ResponseError,
    TopicNotFound,
)
from .types import (
    PERM_READ,
    PERM_WRITE,
    BrokerData,
    BrokerRuntimeInfo,
    ClusterInfo,
    ConsumeStats,
    HAConnection,
    HAStatus,
    MessageQueue,
    QueueData,
    QueueOffsets,
    TopicConfig,
    TopicRoute,
)

__all__ = [
    "PERM_READ",
    "PERM_WRITE",
    "AdminClient",
    "BrokerData",
    "BrokerRuntimeInfo",
    "ClusterInfo",
    "ConnectError",
    "ConnectionLost",
    "ConsumeStats",
    "HAConnection",
    "HAStatus",
    "MessageQueue",
    "ProtocolError",
    "QueueData",
    "QueueOffsets",
    "RemotingError",
    "RemotingTimeout",
    "ResponseError",
    "TopicConfig",
    "TopicNotFound",
    "TopicRoute",
    "WritePermResult",
    "parse_namesrv_addrs",
]
