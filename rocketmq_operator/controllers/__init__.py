"""The controllers: one reconciler per custom-resource kind, and what they stand on.

- ``runtime/``: the controller machinery, Kubernetes only (workers, enqueue rules, object control, conditions,
  status pacing, references between resources). Knows nothing of RocketMQ.
- ``observe/``: what RocketMQ says (the observer and the facts it gathers). Imports no Kubernetes code.
- ``plans/``: pure decisions (roll order, TopicTransfer steps). Imports nothing of Kubernetes or the network.
- kinds: ``brokers/`` (BrokerCluster and the Apache Broker: one reconciler, its roll, drain, copy and fences),
  ``workloads/`` (NameService, Console, Proxy, and the RocketMQ 5 Controller kind), ``topictransfer/``.
  A kind imports runtime, observe and plans, never another kind.
- ``registry.py`` wires every kind to its informers and workqueue.

The contracts are in setup.cfg (``make lint`` checks them).
"""
