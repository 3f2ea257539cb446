"""What RocketMQ says: the observer that polls every cluster's name servers and brokers within bounded
timeouts (observer), the facts it keeps per cluster, its pacing (elastic), dead-endpoint silencing (silence),
the RocketMQ 5 controller's view (controllerfacts) and the metrics it exports (clustermetrics).

May import the RocketMQ client (``rocketmq_operator.rocketmq``); never Kubernetes (kube, informers, the
kubernetes package) nor runtime or a kind.
"""
