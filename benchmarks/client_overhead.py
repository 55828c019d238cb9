"""Client overhead: raw aiohttp vs aio_request over loopback, and library CPU over a null transport.

Part 1 runs a loopback aiohttp server in another process and alternates short slices of
(a) raw ``aiohttp`` GETs, (b) ``aio_request`` single-attempt GETs and the ``setup()`` defaults
(sequential strategy, budgets, Prometheus metrics when installed) at a fixed concurrency,
reporting the median over rounds of throughput and client CPU per request.

Part 2 measures the library's own CPU per request over a transport that answers instantly:
single attempt, 3-way hedging where the first attempt wins, and 3-way hedging where all three
attempts are sent (the first two are rejected at once).

Usage: ``python benchmarks/client_overhead.py [--rounds 7] [--slice 2000] [--concurrency 64]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import yarl

import aio_request
from aio_request.http.response import BufferedResponse, ClosableResponse, EmptyResponse

HERE = Path(__file__).parent


async def _run_slice(
    call: Callable[[], Awaitable[None]], count: int, concurrency: int
) -> tuple[float, float]:
    """Run ``count`` calls with ``concurrency`` workers; return (requests/s, CPU µs per request)."""
    remaining = count

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    cpu_start, wall_start = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - wall_start, time.process_time() - cpu_start
    return count / wall, cpu / count * 1e6


async def loopback(rounds: int, slice_size: int, concurrency: int) -> dict[str, tuple[float, float]]:
    """Alternate raw aiohttp and aio_request slices against a server in another process."""
    with tempfile.TemporaryDirectory() as folder:
        port_file = Path(folder) / "port"
        # Started once, before anything is timed.
        server = subprocess.Popen([sys.executable, str(HERE / "loopback_server.py"), str(port_file)])  # noqa: ASYNC220
        try:
            for _ in range(200):
                if port_file.exists() and port_file.read_text():
                    break
                await asyncio.sleep(0.05)
            url = f"http://127.0.0.1:{port_file.read_text()}/"
            connector = aiohttp.TCPConnector(limit=concurrency)
            async with aiohttp.ClientSession(connector=connector) as session:
                transport = aio_request.AioHttpTransport(session)
                single = aio_request.setup(
                    transport=transport,
                    endpoint=url,
                    safe_method_strategy=aio_request.single_attempt_strategy(),
                )
                defaults = aio_request.setup(transport=transport, endpoint=url)
                thing = url + "thing"  # a str, parsed per call, as aio_request parses "thing" per call

                async def raw() -> None:
                    async with session.get(thing) as response:
                        await response.read()

                async def library_single() -> None:
                    async with single.request(aio_request.get("thing")) as response:
                        await response.read()

                async def library_defaults() -> None:
                    async with defaults.request(aio_request.get("thing")) as response:
                        await response.read()

                calls = {
                    "a: raw aiohttp": raw,
                    "b: aio_request, single attempt": library_single,
                    "aio_request, setup() defaults": library_defaults,
                }
                results: dict[str, list[tuple[float, float]]] = {name: [] for name in calls}
                for call in calls.values():  # warm-up
                    await _run_slice(call, slice_size, concurrency)
                for _ in range(rounds):
                    for name, call in calls.items():
                        results[name].append(await _run_slice(call, slice_size, concurrency))
        finally:
            server.terminate()
            server.wait()
    return {
        name: (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
        for name, runs in results.items()
    }


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
    """Run both parts and print markdown tables."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--slice", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--null-count", type=int, default=20000)
    args = parser.parse_args()
    loop_results = asyncio.run(loopback(args.rounds, args.slice, args.concurrency))
    raw_rps = loop_results["a: raw aiohttp"][0]
    print(f"Loopback, concurrency {args.concurrency}, medians of {args.rounds} slices of {args.slice} each:")
    print("| client | requests/s | client CPU µs/request | throughput vs raw |")
    print("|---|---|---|---|")
    for name, (rps, cpu) in loop_results.items():
        print(f"| {name} | {rps:,.0f} | {cpu:.0f} | {rps / raw_rps:.2f} |")
    print()
    print("Library CPU over a null transport (median of 5 runs):")
    print("| case | CPU µs/request |")
    print("|---|---|")
    for name, cost in asyncio.run(null_transport_cost(args.null_count)).items():
        print(f"| {name} | {cost:.1f} |")


if __name__ == "__main__":
    main()
