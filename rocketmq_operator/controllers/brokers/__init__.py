"""The broker kinds: BrokerCluster (rocketmq.huanwei.io) and the Apache Broker (rocketmq.apache.org), one
reconciler behind two front doors (doors). Around it: the roll (rolling), the drain of removed groups (drain,
holdings), the topic and group copy to new masters (metadata), registration checks, the write gate for
name servers it may write to (writegate), config map writes, broker-name claims and status.

May import runtime, observe, plans, resources and the RocketMQ client; never another kind.
"""
