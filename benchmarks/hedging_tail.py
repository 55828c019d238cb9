"""Hedging against a long tail: single attempt vs fixed-delay vs adaptive hedging, on loopback.

The server runs in its own process (so the client's event loop is not disturbed) and draws each
request's latency from a seeded random generator: 97 % uniform in 2-5 ms, 2 % 100 ms, 1 % 1 s.
Every mode gets a fresh server generator with the same seed and a fresh client, warms its
connections up on another path (so nothing is learned from the warm-up), then sends
``--requests`` GETs at ``--concurrency``. Modes are interleaved over ``--rounds`` rounds and
each figure is the median over the rounds. Reported per mode: latency percentiles of the calls,
success rate, load amplification (requests the server received per call), budget refusals per
call (a refused hedge is asked for again after doubling delays; every refusal counts),
throughput and the client's CPU per call.

Reading the table: at a fixed concurrency (a closed loop), a single-attempt worker spends about
two thirds of its time waiting on 1 s answers, so the single mode runs at a third of the others'
throughput and its client loop is much less busy; the hedged modes' higher p50 is mostly that
extra load on a client CPU shared with the server (two cores here), not the hedges themselves.
``--rate N`` starts calls at a fixed rate instead (an open loop, every mode at the same load),
which isolates what hedging itself costs the median.

Modes (all built by ``aio_request.setup`` with its default retry and hedge budgets):

* ``single``: one attempt;
* ``fixed 10ms``: ``parallel_strategy(delays_provider=constant_delays(delay=0.01))``;
* ``adaptive x2 (target)``: ``parallel_strategy(attempts_count=2,
  delays_provider=PercentileBasedRequestAttemptDelaysProvider())`` with every default (p95,
  min 5 ms), no tuning — the target: p99.9 ≤ 30 ms, ≤ 5 % extra requests, p50 ≤ single + 10 %;
* ``adaptive x3``: the same with the default three attempts.

Usage: ``python benchmarks/hedging_tail.py [--requests 4000] [--concurrency 16] [--seed 42] [--rounds 3]
[--rate CALLS_PER_SECOND]``
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import aiohttp
import aiohttp.web

import aio_request
from aio_request.events import BudgetExhausted, Event, EventHub
from aio_request.policies.percentile_delays import PercentileBasedRequestAttemptDelaysProvider
from aio_request.strategies import RequestStrategy


def draw_latency(rng: random.Random) -> float:
    """97 % uniform 2-5 ms, 2 % 100 ms, 1 % 1 s."""
    roll = rng.random()
    if roll < 0.01:
        return 1.0
    if roll < 0.03:
        return 0.1
    return rng.uniform(0.002, 0.005)


async def serve() -> None:
    """The server process: prints its port, then serves until stdin closes."""
    rng = random.Random(0)
    hits = 0

    async def thing(_request: aiohttp.web.Request) -> aiohttp.web.Response:
        nonlocal hits
        hits += 1
        await asyncio.sleep(draw_latency(rng))
        return aiohttp.web.Response(text="ok")

    async def warmup(_request: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(text="ok")

    async def reset(request: aiohttp.web.Request) -> aiohttp.web.Response:
        nonlocal rng, hits
        rng = random.Random(int(request.query["seed"]))
        hits = 0
        return aiohttp.web.Response(text="ok")

    async def count(_request: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(text=str(hits))

    app = aiohttp.web.Application()
    app.router.add_get("/thing", thing)
    app.router.add_get("/warmup", warmup)
    app.router.add_post("/reset", reset)
    app.router.add_get("/hits", count)
    runner = aiohttp.web.AppRunner(app, access_log=None)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await runner.cleanup()


def percentile(sorted_values: list[float], p: float) -> float:
    """The nearest-rank percentile of already sorted values."""
    index = max(0, min(len(sorted_values) - 1, int(p * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


async def run_mode(
    endpoint: str,
    strategy: Callable[[], RequestStrategy],
    requests: int,
    concurrency: int,
    seed: int,
    rate: float = 0.0,
) -> dict[str, float]:
    """Run one mode against a freshly seeded server; return its statistics."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        async with session.post(f"{endpoint}reset", params={"seed": str(seed)}) as reply:
            await reply.read()
        hub = EventHub()
        refused = 0

        def count_refusals(event: Event) -> None:
            nonlocal refused
            refused += isinstance(event, BudgetExhausted)

        hub.subscribe(count_refusals)
        client = aio_request.setup(
            transport=aio_request.AioHttpTransport(session),
            endpoint=endpoint,
            safe_method_strategy=strategy(),
            event_hub=hub,
        )

        async def warm() -> None:
            async with client.request(aio_request.get("warmup")) as response:
                await response.read()

        await asyncio.gather(*(warm() for _ in range(concurrency * 2)))
        wall_started, cpu_started = time.perf_counter(), time.process_time()
        latencies: list[float] = []
        successes = 0
        remaining = requests

        async def one_call() -> None:
            nonlocal successes
            started = time.perf_counter()
            async with client.request(aio_request.get("thing")) as response:
                await response.read()
                successes += response.status == 200
            latencies.append(time.perf_counter() - started)

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await one_call()

        if rate:
            calls: list[asyncio.Task[None]] = []
            for index in range(requests):
                delay = wall_started + index / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                calls.append(asyncio.create_task(one_call()))
            await asyncio.gather(*calls)
        else:
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        async with session.get(f"{endpoint}hits") as reply:
            hits = int(await reply.text())
    latencies.sort()
    wall = time.perf_counter() - wall_started
    cpu = time.process_time() - cpu_started
    return {
        "p50": percentile(latencies, 0.5) * 1e3,
        "p90": percentile(latencies, 0.9) * 1e3,
        "p99": percentile(latencies, 0.99) * 1e3,
        "p99.9": percentile(latencies, 0.999) * 1e3,
        "success": successes / requests,
        "amplification": hits / requests,
        "throughput": requests / wall,
        "cpu_us": cpu / requests * 1e6,
        "refused": refused / requests,
    }


MODES: dict[str, Callable[[], RequestStrategy]] = {
    "single": aio_request.single_attempt_strategy,
    "fixed 10ms": lambda: aio_request.parallel_strategy(
        delays_provider=aio_request.constant_delays(delay=0.01)
    ),
    "adaptive x2 (target)": lambda: aio_request.parallel_strategy(
        attempts_count=2, delays_provider=PercentileBasedRequestAttemptDelaysProvider()
    ),
    "adaptive x3": lambda: aio_request.parallel_strategy(
        delays_provider=PercentileBasedRequestAttemptDelaysProvider()
    ),
}


async def main(requests: int, concurrency: int, seed: int, rounds: int, rate: float) -> None:
    """Start the server process, run every mode, print a table."""
    server = subprocess.Popen(  # noqa: ASYNC220 - started once, before anything is timed
        [sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        endpoint = f"http://127.0.0.1:{port}/"
        load = f"{rate:g} calls/s (open loop)" if rate else f"concurrency {concurrency}"
        print(f"{requests} requests, {load}, seed {seed}, median of {rounds} rounds")
        results: dict[str, list[dict[str, float]]] = {name: [] for name in MODES}
        for _ in range(rounds):
            for name, strategy in MODES.items():
                results[name].append(await run_mode(endpoint, strategy, requests, concurrency, seed, rate))
        print(
            "| mode | p50 ms | p90 ms | p99 ms | p99.9 ms | success | requests/call | refusals/call "
            "| calls/s | CPU µs/call |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        for name, runs in results.items():
            stats = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
            print(
                f"| {name} | {stats['p50']:.1f} | {stats['p90']:.1f} | {stats['p99']:.1f} | "
                f"{stats['p99.9']:.1f} | {stats['success']:.2%} | {stats['amplification']:.3f} | "
                f"{stats['refused']:.2%} | {stats['throughput']:.0f} | {stats['cpu_us']:.0f} |"
            )
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=0.0, help="open loop: start calls at this rate")
    arguments = parser.parse_args()
    if arguments.serve:
        asyncio.run(serve())
    else:
        asyncio.run(
            main(arguments.requests, arguments.concurrency, arguments.seed, arguments.rounds, arguments.rate)
        )
