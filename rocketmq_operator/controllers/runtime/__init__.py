"""The controller machinery every kind runs on, Kubernetes only: workers over the workqueue (runner), which
changes requeue what (enqueue), desired-versus-current object control (control), conditions, status pacing,
opening a resource for a sync (opening), finalizers, addresses of pods, and the references a resource resolves
(refs: its NameService, its Controller).

May import the Kubernetes boundary (kube, informers, workqueue), resources and events; never RocketMQ
(``rocketmq_operator.rocketmq``, ``observe``) nor a kind.
"""
