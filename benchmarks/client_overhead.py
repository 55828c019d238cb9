"""Library CPU per call over a null transport: what aio_request itself costs, nothing else.

Cases: single attempt, 3-way hedging where the first attempt wins, and 3-way hedging where all
three attempts are sent (the first two are rejected at once). The loopback comparison with raw
aiohttp and its peers is ``peers.py``; instruction counts are ``instructions_per_call.py``.

Usage: ``python benchmarks/client_overhead.py [--null-count 20000]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import yarl

import aio_request
from aio_request.http.response import BufferedResponse, ClosableResponse, EmptyResponse


class _NullTransport(aio_request.Transport):
    """Answers instantly; attempts listed in ``rejected`` of each call get a 503."""

    def __init__(self, rejections_per_call: int = 0) -> None:
        self._ok = BufferedResponse(status=200, body=b"{}")
        self._rejections_per_call = rejections_per_call
        self._seen = 0

    async def send(
        self, endpoint: yarl.URL, request: aio_request.Request, timeout: float
    ) -> ClosableResponse:
        self._seen += 1
        if self._seen % (self._rejections_per_call + 1):
            return EmptyResponse(status=503)
        return self._ok


async def null_transport_cost(count: int) -> dict[str, float]:
    """Library CPU µs per request over a transport that answers instantly."""
    hedged = aio_request.parallel_strategy(
        attempts_count=3, delays_provider=aio_request.constant_delays(delay=0.05)
    )
    # After a rejection the next attempt waits its delay by default: start it at once here, so
    # the case measures the library's CPU for three attempts, not 100 ms of sleeping.
    eager = aio_request.parallel_strategy(
        attempts_count=3, delays_provider=aio_request.constant_delays(delay=0.05), start_after_rejection=True
    )
    cases = {
        "single attempt": (_NullTransport(), aio_request.single_attempt_strategy()),
        "3-way hedged, first wins": (_NullTransport(), hedged),
        "3-way hedged, all 3 sent": (_NullTransport(rejections_per_call=2), eager),
    }
    costs: dict[str, float] = {}
    for name, (transport, strategy) in cases.items():
        client = aio_request.setup(transport=transport, endpoint="http://null.test/")
        request = aio_request.get("thing")

        async def call(
            client: aio_request.Client = client,
            strategy: aio_request.RequestStrategy = strategy,
            request: aio_request.Request = request,
        ) -> None:
            async with client.request(request, strategy=strategy) as response:
                await response.read()

        samples = []
        for _ in range(5):
            start = time.process_time()
            for _ in range(count):
                await call()
            samples.append((time.process_time() - start) / count * 1e6)
        costs[name] = statistics.median(samples)
    return costs


def main() -> None:
    """Print the markdown table of library CPU per call."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--null-count", type=int, default=20000)
    args = parser.parse_args()
    print("Library CPU over a null transport (median of 5 runs):")
    print("| case | CPU µs/request |")
    print("|---|---|")
    for name, cost in asyncio.run(null_transport_cost(args.null_count)).items():
        print(f"| {name} | {cost:.1f} |")


if __name__ == "__main__":
    main()
