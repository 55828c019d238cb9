"""Soak: many hedged requests against a flaky server, with random caller cancellations.

The question is not speed but whether anything accumulates. A flaky aiohttp server runs in its
own process (so its memory and descriptors are not counted) and answers each request, by a
seeded draw: 70 % fast 200, 8 % slow 200 (50-300 ms: the hedge wins), 8 % 503, 3 % 429 with
``Retry-After: 0``, 4 % reset connection, 4 % body stalled past the deadline, 3 % no answer
past the deadline. The client (``aio_request.setup`` over the chosen transport, the default
event hub, so Prometheus metrics are recorded when installed) sends GETs with
``parallel_strategy(attempts_count=3, delays_provider=constant_delays(delay=0.02))``, budgets
off so every hedge is sent, a 1 s deadline, ``--concurrency`` calls at a time; a seeded
``--cancel-ratio`` of the calls is cancelled by its caller at a random point of its first 50 ms.

After a warm-up (``--warmup`` of the requests) the baseline is taken: RSS, the number of objects
the garbage collector tracks (``len(gc.get_objects())`` after ``gc.collect()``) and open file
descriptors (``/proc/self/fd``, with the client's pooled connections reported next to them).
Checkpoints follow every tenth of the run. The run passes when, at the end: RSS grew less than
5 MB over the baseline, the object count stayed flat (within 0.5 %), no connection is held by
a response, the descriptors less the pooled connections are back to the baseline's, they are
back to the pre-client count once the client is closed, no task is left, and nothing warned.

Usage: ``python benchmarks/soak.py [--requests 100000] [--transport aiohttp|httpx]
[--concurrency 128] [--cancel-ratio 0.1] [--seed 7]``; ``make soak`` runs the default.
Exits with status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import os
import random
import subprocess
import sys
import time
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import aiohttp.web
import httpx

import aio_request

RSS_LIMIT_BYTES = 5 * 1024 * 1024
OBJECTS_TOLERANCE = 0.005
DEADLINE = 1.0
STALL = 2.0
"""Seconds the server's stalls and silences last: longer than the client's deadline."""


async def serve(seed: int) -> None:
    """The server process: prints its port, then serves until stdin closes."""
    rng = random.Random(seed)
    ok_body = b'{"ok": true}'

    async def flaky(request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        roll = rng.random()
        if roll < 0.70:
            await asyncio.sleep(rng.uniform(0.0005, 0.003))
        elif roll < 0.78:
            await asyncio.sleep(rng.uniform(0.05, 0.3))
        elif roll < 0.86:
            return aiohttp.web.Response(status=503)
        elif roll < 0.89:
            return aiohttp.web.Response(status=429, headers={"Retry-After": "0"})
        elif roll < 0.93:
            assert request.transport is not None
            request.transport.abort()
            raise aiohttp.web.HTTPInternalServerError
        elif roll < 0.97:
            stalled = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
            stalled.content_length = 100
            await stalled.prepare(request)
            await stalled.write(b"{" * 10)
            await asyncio.sleep(STALL)
            return stalled
        else:
            await asyncio.sleep(STALL)
        return aiohttp.web.Response(body=ok_body, content_type="application/json")

    app = aiohttp.web.Application()
    app.router.add_get("/flaky", flaky)
    runner = aiohttp.web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await runner.cleanup()


def rss_bytes() -> int:
    """The resident set size of this process."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def open_fds() -> int:
    """Open file descriptors of this process."""
    return len(os.listdir("/proc/self/fd"))


def tracked_objects() -> int:
    """Objects tracked by the garbage collector, after a full collection."""
    gc.collect()
    return len(gc.get_objects())


class Transports:
    """The client of one kind, and what it holds: pooled and in-use connections."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.session: aiohttp.ClientSession | None = None
        self.client: httpx.AsyncClient | None = None

    @asynccontextmanager
    async def open(self) -> AsyncIterator[aio_request.Transport]:
        """A transport over a fresh client, closed on exit."""
        if self.kind == "aiohttp":
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512)) as session:
                self.session = session
                yield aio_request.AioHttpTransport(session)
        else:
            limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
            async with httpx.AsyncClient(limits=limits) as client:
                self.client = client
                yield aio_request.HttpxTransport(client)
        self.session = self.client = None

    def held(self) -> int:
        """Connections held by a response (must be 0 when no call is running)."""
        if self.session is not None:
            connector = self.session.connector
            assert isinstance(connector, aiohttp.TCPConnector)
            return len(connector._acquired)
        if self.client is not None:
            return len(self.client._transport._pool._requests)  # type: ignore[attr-defined]
        return 0

    def pooled(self) -> int:
        """Open connections of the client (idle in the pool or in use)."""
        if self.session is not None:
            connector = self.session.connector
            assert isinstance(connector, aiohttp.TCPConnector)
            return sum(len(conns) for conns in connector._conns.values()) + len(connector._acquired)
        if self.client is not None:
            return len(self.client._transport._pool.connections)  # type: ignore[attr-defined]
        return 0


class Checkpoint:
    """The figures at one point of the run."""

    created = 0
    """Checkpoints made so far: they are kept, so their own objects are not counted."""

    def __init__(self, label: str, done: int, started: float, transports: Transports) -> None:
        Checkpoint.created += 1
        self.label = label
        self.done = done
        self.elapsed = time.monotonic() - started
        self.objects = tracked_objects() - Checkpoint.created
        self.rss = rss_bytes()
        self.fds = open_fds()
        self.pooled = transports.pooled()
        self.held = transports.held()

    def row(self, baseline: Checkpoint | None) -> str:
        """One line of the table, with growth against ``baseline``."""
        growth = ""
        if baseline is not None:
            growth = (
                f"  ΔRSS {(self.rss - baseline.rss) / 2**20:+6.2f} MB"
                f"  Δobjects {self.objects - baseline.objects:+6d}"
                f"  Δ(fds-pooled) {(self.fds - self.pooled) - (baseline.fds - baseline.pooled):+d}"
            )
        rate = self.done / self.elapsed if self.elapsed else 0.0
        return (
            f"{self.label:>9} {self.done:>7} req {self.elapsed:7.1f} s {rate:6.0f} req/s"
            f"  RSS {self.rss / 2**20:7.2f} MB  objects {self.objects:>7}"
            f"  fds {self.fds:>4} (pooled {self.pooled:>3}, held {self.held})" + growth
        )


async def soak(port: int, options: argparse.Namespace) -> bool:
    """Run the calls, print the checkpoints and the verdicts; True when every check passed."""
    loop = asyncio.get_running_loop()
    loop_errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: loop_errors.append(context))
    tasks_before = asyncio.all_tasks()
    fds_before_client = open_fds()
    transports = Transports(options.transport)
    outcomes: collections.Counter[str] = collections.Counter()
    errors: list[BaseException] = []
    total = options.requests
    warmup = int(total * options.warmup)
    marks = sorted({warmup, *(total * step // 10 for step in range(1, 11))})
    checkpoints: list[Checkpoint] = []
    baseline: Checkpoint | None = None

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with transports.open() as transport:
            client = aio_request.setup(
                transport=transport,
                endpoint=f"http://127.0.0.1:{port}/",
                safe_method_strategy=aio_request.parallel_strategy(
                    attempts_count=3, delays_provider=aio_request.constant_delays(delay=0.02)
                ),
                timeout=DEADLINE,
                retry_budget=None,
                hedge_budget=None,
            )

            async def call() -> None:
                async with client.request(aio_request.get("flaky")) as response:
                    await response.read()
                    outcomes[str(response.status)] += 1

            async def one(rng: random.Random) -> None:
                if rng.random() >= options.cancel_ratio:
                    await call()
                    return
                task = asyncio.create_task(call())
                await asyncio.sleep(rng.uniform(0.0, 0.05))
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    outcomes["cancelled"] += 1

            started = time.monotonic()
            for index, mark in enumerate(marks):
                done = marks[index - 1] if index else 0
                batch = mark - done
                shares = [
                    batch // options.concurrency + (w < batch % options.concurrency)
                    for w in range(options.concurrency)
                ]

                async def worker(count: int, rng: random.Random) -> None:
                    for _ in range(count):
                        try:
                            await one(rng)
                        except Exception as exc:
                            errors.append(exc)

                await asyncio.gather(
                    *(
                        worker(count, random.Random(f"{options.seed}-{mark}-{w}"))
                        for w, count in enumerate(shares)
                    )
                )
                label = "warm-up" if mark == warmup else f"{mark * 100 // total}%"
                checkpoint = Checkpoint(label, mark, started, transports)
                if mark == warmup:
                    baseline = checkpoint
                checkpoints.append(checkpoint)
                print(checkpoint.row(baseline if mark != warmup else None), flush=True)
            final = checkpoints[-1]
            leftover_tasks = [task for task in asyncio.all_tasks() if task not in tasks_before]
        for _ in range(100):  # closed sockets are released on the next loop iterations
            gc.collect()
            if open_fds() <= fds_before_client:
                break
            await asyncio.sleep(0.01)
        fds_after_client = open_fds()
    assert baseline is not None

    print()
    print(f"outcomes: {dict(sorted(outcomes.items()))}")
    print(f"open fds: {fds_before_client} before the client, {fds_after_client} after it was closed")
    rss_growth = final.rss - baseline.rss
    objects_growth = final.objects - baseline.objects
    noisy = [w for w in caught if issubclass(w.category, ResourceWarning | RuntimeWarning)]
    checks: list[tuple[str, bool, str]] = [
        (
            "calls completed",
            not errors,
            f"{len(errors)} raised" + (f", first: {errors[0]!r}" if errors else ""),
        ),
        ("RSS after warm-up", rss_growth < RSS_LIMIT_BYTES, f"{rss_growth / 2**20:+.2f} MB (limit 5 MB)"),
        (
            "objects after warm-up",
            abs(objects_growth) <= OBJECTS_TOLERANCE * baseline.objects,
            f"{objects_growth:+d} of {baseline.objects}"
            f" ({objects_growth / baseline.objects:+.3%}, limit ±0.5 %)",
        ),
        ("connections held at the end", final.held == 0, str(final.held)),
        (
            "fds less pooled connections",
            final.fds - final.pooled == baseline.fds - baseline.pooled,
            f"{final.fds - final.pooled} at the end, {baseline.fds - baseline.pooled} after warm-up",
        ),
        (
            "fds after closing the client",
            fds_after_client == fds_before_client,
            f"{fds_after_client} vs {fds_before_client}",
        ),
        ("tasks left", not leftover_tasks, str(len(leftover_tasks))),
        ("loop errors", not loop_errors, "; ".join(str(c.get("message")) for c in loop_errors[:3]) or "none"),
        ("warnings", not noisy, "; ".join(str(w.message) for w in noisy[:3]) or "none"),
    ]
    for name, passed, detail in checks:
        print(f"{'PASS' if passed else 'FAIL'}  {name}: {detail}")
    return all(passed for _, passed, _ in checks)


def main(argv: list[str] | None = None) -> int:
    """Parse the options, start the server process, soak, and report."""
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--transport", choices=["aiohttp", "httpx"], default="aiohttp")
    parser.add_argument("--concurrency", type=int, default=128)
    parser.add_argument("--cancel-ratio", type=float, default=0.1)
    parser.add_argument(
        "--warmup", type=float, default=0.2, help="fraction of the requests before the baseline"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.serve:
        asyncio.run(serve(options.seed))
        return 0
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--seed", str(options.seed)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        print(
            f"soak: {options.requests} hedged GETs over {options.transport}, {options.concurrency} at a"
            f" time, {options.cancel_ratio:.0%} cancelled by the caller, seed {options.seed}"
        )
        passed = asyncio.run(soak(port, options))
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=30)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
