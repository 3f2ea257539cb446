"""rocketmq-operator: create, operate and scale self-healing Apache RocketMQ clusters on Kubernetes."""

__version__ = "0.1.0"
