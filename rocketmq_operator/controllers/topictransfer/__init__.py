"""The TopicTransfer kind: its reconciler (topictransfer) and the RocketMQ facts a step needs (transferfacts);
the steps themselves are planned in ``plans.transferplan``.

May import runtime, observe, plans, resources and the RocketMQ client; never another kind.
"""
