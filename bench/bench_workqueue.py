"""Prints how many add/get/done cycles per second a WorkQueue handles, on 1 and 8 threads.

Each cycle adds a distinct key, takes one key and marks it done. Figures only, no assertions:
run ``python bench/bench_workqueue.py`` and compare before and after a change.
"""

from __future__ import annotations

import threading
import time

from prometheus_client import CollectorRegistry

from rocketmq_operator.workqueue import MetricsProvider, WorkQueue

CYCLES = 200_000


def run(queue: WorkQueue[int], *, threads: int, cycles: int = CYCLES) -> float:
    """Cycles per second over ``threads`` threads, each doing ``cycles // threads`` cycles."""
    per_thread = cycles // threads
    start_line = threading.Barrier(threads + 1)

    def cycle(offset: int) -> None:
        add, get, done = queue.add, queue.get, queue.done
        start_line.wait()
        for key in range(offset, offset + per_thread):
            add(key)
            item, _ = get()
            done(item)

    workers = [threading.Thread(target=cycle, args=(n * per_thread,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    start_line.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    return per_thread * threads / (time.perf_counter() - started)


def main() -> None:
    provider = MetricsProvider(CollectorRegistry())
    for threads in (1, 8):
        plain = run(WorkQueue(), threads=threads)
        measured = run(WorkQueue(name=f"bench-{threads}", metrics=provider), threads=threads)
        print(
            f"{threads} thread(s): {plain:>10,.0f} cycles/s without metrics, {measured:>10,.0f} with metrics"
        )


if __name__ == "__main__":
    main()
