"""Cost of the adaptive delays provider: one observation, one delay query, one bucket rotation.

``PercentileBasedRequestAttemptDelaysProvider`` is called on every attempt (``observe``) and on
every hedge decision (``__call__``), so both must be far below the cost of a request. Target:
< 5 µs each. For scale, it also times the exact answer a naive design would compute per query
(sorting the window's samples), which is what a windowed percentile costs without a sketch.

Usage: ``python benchmarks/percentile_cost.py [--samples 100000] [--keys 16]``
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import timeit
from collections.abc import Callable

from aio_request import get
from aio_request._core.clock import Timer
from aio_request.http.response import BufferedResponse
from aio_request.policies.percentile_delays import PercentileBasedRequestAttemptDelaysProvider


def _best_of(statement: str, namespace: dict[str, object], number: int, repeat: int = 7) -> float:
    """Median µs per execution over ``repeat`` runs of ``number`` executions."""
    runs = timeit.repeat(statement, globals=namespace, number=1, repeat=repeat)
    return statistics.median(runs) / number * 1e6


class _SteppingClock:
    """A clock that moves ``step`` seconds each time it is read: every observation rotates."""

    def __init__(self, step: float) -> None:
        self._now = 0.0
        self._step = step

    def now(self) -> float:
        self._now += self._step
        return self._now

    async def sleep(self, seconds: float) -> None:
        self._now += seconds

    def call_later(self, seconds: float, callback: Callable[[], object]) -> Timer:
        raise NotImplementedError("the provider never schedules anything")


def main() -> None:
    """Print µs per observation, per query and per rotation."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--keys", type=int, default=16)
    options = parser.parse_args()
    rng = random.Random(1)
    provider = PercentileBasedRequestAttemptDelaysProvider()
    requests = [
        get(f"service/{index}/{{id}}", path_parameters={"id": index}) for index in range(options.keys)
    ]
    responses = [
        BufferedResponse(status=200, elapsed=rng.lognormvariate(math.log(0.05), 1.0))
        for _ in range(options.samples)
    ]
    pairs = [(requests[index % options.keys], response) for index, response in enumerate(responses)]
    namespace: dict[str, object] = {"provider": provider, "pairs": pairs, "observe": provider.observe}
    observe_us = _best_of("for r, s in pairs: observe(r, s)", namespace, len(pairs))
    namespace["queries"] = [r for r, _ in pairs]
    query_us = _best_of("for r in queries: provider(r, 1)", namespace, len(pairs))
    loop_us = _best_of("for r, s in pairs: pass", namespace, len(pairs))

    window = [s.elapsed for s in responses[:2_000]]
    namespace["window"] = window
    naive_us = _best_of("sorted(window)[int(0.95 * len(window))]", namespace, 1, repeat=51)

    rotating = PercentileBasedRequestAttemptDelaysProvider(
        window_size_seconds=0.002, buckets_count=2, clock=_SteppingClock(step=0.001)
    )
    one = requests[0]
    namespace.update(rotating=rotating, one=one, response=responses[0])
    rotate_us = _best_of("for _ in range(2000): rotating.observe(one, response)", namespace, 2000)

    print(f"observations: {len(pairs):,} over {options.keys} request templates")
    print(f"observe (record one latency)      {observe_us:6.2f} µs  (loop overhead {loop_us:.2f} µs)")
    print(f"query (delay for the next hedge)  {query_us:6.2f} µs")
    print(f"observe that rotates a bucket     {rotate_us:6.2f} µs  (once per window/buckets_count)")
    print(f"naive exact p95: sort 2,000 samples {naive_us:6.1f} µs per query")


if __name__ == "__main__":
    main()
