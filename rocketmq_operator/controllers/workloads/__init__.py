"""The kinds that run one workload each: NameService, Console, Proxy, and the RocketMQ 5 Controller kind
(controllergroup). Each renders its objects and reports Ready from its pods.

May import runtime, observe and resources; never another kind (each is its own module and they do not import
each other).
"""
