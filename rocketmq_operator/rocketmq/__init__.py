"""RocketMQ admin client over the remoting protocol (name servers and brokers).

    from rocketmq_operator.rocketmq import AdminClient, TopicConfig

    with AdminClient("ns-0:9876;ns-1:9876") as admin:
        info = admin.cluster_info()
        admin.create_topic(TopicConfig("orders", read_queue_nums=4, write_queue_nums=4), cluster="c1")

    with Producer("ns-0:9876") as producer:
        producer.send(Message("orders", b"...", keys=("order-42",)))
    with PullConsumer("ns-0:9876", group="audit", topic="orders") as consumer:
        messages = consumer.poll()
        consumer.commit()

Layers, each importing only the ones below it: ``load`` (a load driver) → ``producer`` and
``consumer`` (messaging) → ``routes`` (cached topic routes) → ``admin`` (operations; ``controlleradmin``
beside it: RocketMQ 5 controllers' metadata, replica tables and designated elections) → ``transport``
(sockets, pool, deadlines) → ``protocol`` (frames, codes); ``message`` is the message codec,
``fastjson`` parses bodies, ``types`` holds the frozen results, ``errors`` the exception tree.
``cli`` is the ``admin`` sub-command (``admin load`` runs the load driver).
"""

from .admin import AdminClient, WritePermResult, parse_namesrv_addrs
from .consumer import PullConsumer, PullResult, PullStatus
from .errors import (
    ConnectError,
    ConnectionLost,
    ProtocolError,
    RemotingError,
    RemotingTimeout,
    ResponseError,
    TopicNotFound,
)
from .load import ErrorWindow, LoadReport, LoadRun
from .message import Message, MessageExt, MessageFormatError
from .producer import Producer, SendFailed, SendResult, SendStatus
from .types import (
    PERM_READ,
    PERM_WRITE,
    BrokerData,
    BrokerRuntimeInfo,
    ClusterInfo,
    ConsumeStats,
    DeferredMessages,
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
    "DeferredMessages",
    "ErrorWindow",
    "HAConnection",
    "HAStatus",
    "LoadReport",
    "LoadRun",
    "Message",
    "MessageExt",
    "MessageFormatError",
    "MessageQueue",
    "Producer",
    "ProtocolError",
    "PullConsumer",
    "PullResult",
    "PullStatus",
    "QueueData",
    "QueueOffsets",
    "RemotingError",
    "RemotingTimeout",
    "ResponseError",
    "SendFailed",
    "SendResult",
    "SendStatus",
    "TopicConfig",
    "TopicNotFound",
    "TopicRoute",
    "WritePermResult",
    "parse_namesrv_addrs",
]
