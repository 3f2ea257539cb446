"""``kubectl rocketmq``: a kubectl plugin for the broker clusters this operator runs.

kubectl runs any executable named ``kubectl-<name>`` on PATH as ``kubectl <name>``; the package installs
``kubectl-rocketmq`` (:func:`rocketmq_operator.plugin.cli.main`). Its commands work on a ``BrokerCluster``
(``rocketmq.huanwei.io``) or an Apache ``Broker`` (``rocketmq.apache.org``):

- ``status`` reads the custom resource's status (what the operator observed: groups, members, roles,
  registration, replication lag, conditions) and its Events, and prints them for a person
  (:mod:`.render`, pure functions of the objects read);
- ``pause``, ``resume`` and ``restart`` set or clear an annotation the operator honours (no other write);
- ``topics`` and ``cluster-list`` ask RocketMQ itself, through the project's admin client, at the name
  servers the resource resolves to — the same resolution the operator does (:mod:`.target`).

The layers: :mod:`.cli` parses and prints, :mod:`.target` reads Kubernetes through the client boundary,
:mod:`.mq` reads RocketMQ; :mod:`.render` turns what they read into text.
"""
