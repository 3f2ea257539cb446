"""Work queues for the controllers: dedup, one worker per key, delays, priorities, rate-limited retries.

Semantics follow client-go's workqueue (and controller-runtime's priority queue for priorities); see
``WorkQueue`` for the guarantees.
"""

from rocketmq_operator.workqueue.metrics import MetricsProvider, QueueMetrics, default_provider
from rocketmq_operator.workqueue.queue import (
    PRIORITY_CHILD,
    PRIORITY_HIGH,
    PRIORITY_LOW,
    PRIORITY_NORMAL,
    WorkQueue,
)
from rocketmq_operator.workqueue.rate_limiting import (
    ItemExponentialRateLimiter,
    MaxOfRateLimiter,
    RateLimiter,
    RateLimitingQueue,
    TokenBucketRateLimiter,
    default_controller_rate_limiter,
)

__all__ = [
    "PRIORITY_CHILD",
    "PRIORITY_HIGH",
    "PRIORITY_LOW",
    "PRIORITY_NORMAL",
    "ItemExponentialRateLimiter",
    "MaxOfRateLimiter",
    "MetricsProvider",
    "QueueMetrics",
    "RateLimiter",
    "RateLimitingQueue",
    "TokenBucketRateLimiter",
    "WorkQueue",
    "default_controller_rate_limiter",
    "default_provider",
]
