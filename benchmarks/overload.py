"""Overload protection on a real CPU-bound server: with and without it, side by side.

Run from the repository root: ``.venv/bin/python benchmarks/overload.py`` (about two minutes).

For each server (``overload_server.py`` in its own process, protection on or off):

1. *unloaded*: one request at a time for a few seconds: the unloaded p99;
2. *capacity*: three at a time (the core never idles): requests per second;
3. *overload*: open-loop Poisson arrivals at 3 x capacity, 20 % HIGH / 50 % NORMAL / 30 % LOW,
   each with ``X-Request-Timeout: 1``; a request is *good* when it is answered 200 within 1 s.

Then, protected only, *capacity halves*: the same 3x load on a fresh server, whose handlers
start costing twice the CPU after a few seconds; the limit is polled every 100 ms and the p99
of admitted requests computed per second. Last, the in-process *middleware overhead* with
protection on and no overload (the middleware called directly, no network), interleaved with
the same middleware without protection.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

import aio_request
from aio_request.events import EventHub
from aio_request.server.overload import Permit

HERE = Path(__file__).parent
# With --pin: server and load generator on different cores (only useful on a quiet machine:
# with other busy processes the pinned server may share its core with one of them).
SERVER_CPU: list[str] = []
PRIORITIES = (("high", 0.2), ("normal", 0.5), ("low", 0.3))
DEADLINE = 1.0


@dataclass
class Outcome:
    sent_at: float
    priority: str
    status: int  # 0: no answer within the deadline
    latency: float
    shed_reason: str

    @property
    def good(self) -> bool:
        return self.status == 200 and self.latency <= DEADLINE


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextlib.asynccontextmanager
async def server(protected: bool) -> AsyncIterator[str]:
    with tempfile.TemporaryDirectory() as folder:
        port_file = Path(folder) / "port"
        process = subprocess.Popen(  # noqa: ASYNC220 - started once per variant
            [
                sys.executable,
                str(HERE / "overload_server.py"),
                str(port_file),
                "on" if protected else "off",
                *SERVER_CPU,
            ]
        )
        try:
            for _ in range(200):
                if port_file.exists() and port_file.read_text():
                    break
                await asyncio.sleep(0.05)
            yield f"http://127.0.0.1:{port_file.read_text()}"
        finally:
            process.terminate()
            process.wait(10)


async def one(session: aiohttp.ClientSession, url: str, priority: str) -> Outcome:
    sent_at = time.perf_counter()
    headers = {"X-Request-Timeout": str(DEADLINE), "X-Request-Priority": priority}
    try:
        async with asyncio.timeout(DEADLINE):
            async with session.get(url + "/work", headers=headers) as response:
                await response.read()
                status, reason = response.status, response.headers.get("X-Request-Shed", "")
    except TimeoutError:
        status, reason = 0, ""
    except aiohttp.ClientError:
        status, reason = -1, ""
    return Outcome(sent_at, priority, status, time.perf_counter() - sent_at, reason)


async def closed_loop(
    session: aiohttp.ClientSession, url: str, concurrency: int, seconds: float
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < stop_at:
            outcomes.append(await one(session, url, "normal"))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcomes


async def open_loop(
    session: aiohttp.ClientSession,
    url: str,
    rate: float,
    seconds: float,
    seed: int,
    at: Callable[[float], Awaitable[None]] | None = None,
) -> list[Outcome]:
    """Poisson arrivals at ``rate``/s for ``seconds``; ``at(elapsed)`` is awaited every 100 ms."""
    rng = random.Random(seed)
    names = [name for name, _ in PRIORITIES]
    weights = [weight for _, weight in PRIORITIES]
    tasks: set[asyncio.Task[Outcome]] = set()
    started = time.perf_counter()
    next_at = started
    next_tick = started
    while (now := time.perf_counter()) < started + seconds:
        if at is not None and now >= next_tick:
            await at(now - started)
            next_tick += 0.1
        if now >= next_at:
            tasks.add(asyncio.ensure_future(one(session, url, rng.choices(names, weights)[0])))
            next_at += rng.expovariate(rate)
            continue
        await asyncio.sleep(max(0.0, min(next_at, next_tick) - now))
    return list(await asyncio.gather(*tasks))


async def stats(session: aiohttp.ClientSession, url: str, *, reset: bool = False) -> dict[str, Any]:
    async with session.get(url + "/stats", params={"reset": "1"} if reset else {}) as response:
        result: dict[str, Any] = json.loads(await response.read())
        return result


def summary(
    outcomes: list[Outcome], seconds: float, capacity: float, unloaded_p99: float, started: float
) -> dict[str, Any]:
    by_priority = {name: [o for o in outcomes if o.priority == name] for name, _ in PRIORITIES}
    admitted = [o.latency for o in outcomes if o.status == 200]
    # The limit starts at 20: the first requests of the overload share the core 20 ways.
    steady = [o.latency for o in outcomes if o.status == 200 and o.sent_at - started >= 2]
    shed = [o for o in outcomes if o.status == 503]
    return {
        "sent/s": len(outcomes) / seconds,
        "goodput": {
            name: sum(o.good for o in group) / max(1, len(group)) for name, group in by_priority.items()
        },
        "good/s": sum(o.good for o in outcomes) / seconds,
        "good/capacity": sum(o.good for o in outcomes) / seconds / capacity,
        "admitted p50": percentile(admitted, 0.5),
        "admitted p99": percentile(admitted, 0.99),
        "admitted p99 / unloaded p99": percentile(admitted, 0.99) / unloaded_p99,
        "admitted p99 after 2 s": percentile(steady, 0.99),
        "admitted p99 after 2 s / unloaded p99": percentile(steady, 0.99) / unloaded_p99,
        "shed": len(shed),
        "shed p50": percentile([o.latency for o in shed], 0.5),
        "shed p99": percentile([o.latency for o in shed], 0.99),
        "shed p99 queue_full": percentile([o.latency for o in shed if o.shed_reason == "queue_full"], 0.99),
        "shed p99 queue_timeout": percentile(
            [o.latency for o in shed if o.shed_reason == "queue_timeout"], 0.99
        ),
        "408": sum(o.status == 408 for o in outcomes),
        "no answer in 1 s": sum(o.status in (0, -1) for o in outcomes),
    }


async def variant(protected: bool, seconds: float, seed: int) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    async with server(protected) as url, aiohttp.ClientSession(connector=connector) as session:
        await closed_loop(session, url, 1, 1.0)  # warm-up
        unloaded = closed_loop_latencies = await closed_loop(session, url, 1, 3.0)
        unloaded_p99 = percentile([o.latency for o in closed_loop_latencies if o.status == 200], 0.99)
        cpu_before = await stats(session, url)
        saturated = await closed_loop(session, url, 3, 3.0)
        capacity = sum(o.status == 200 for o in saturated) / 3.0
        before = await stats(session, url, reset=True)
        # Requests the server completes per CPU-second it gets: capacity that is not the
        # scheduler's to give or take on a shared machine.
        per_cpu_second = sum(o.status == 200 for o in saturated) / (before["cpu"] - cpu_before["cpu"])
        started = time.perf_counter()
        outcomes = await open_loop(session, url, 3 * capacity, seconds, seed)
        after = await stats(session, url)
        elapsed = time.perf_counter() - started
        result = summary(outcomes, seconds, capacity, unloaded_p99, started)
        cpu_share = (after["cpu"] - before["cpu"]) / elapsed
        result["server CPU share in overload"] = cpu_share
        result["good / (capacity per CPU-s x CPU share)"] = result["good/s"] / (per_cpu_second * cpu_share)
        result.update(
            {
                "unloaded p50": percentile([o.latency for o in unloaded], 0.5),
                "unloaded p99": unloaded_p99,
                "capacity/s": capacity,
                "handlers past deadline": after["past_deadline"] - before["past_deadline"],
                "handlers run": after["handled"] - before["handled"],
                "limit at end": after["limit"],
                "server loop lag p50": after["lag_p50"],
                "server loop lag p99": after["lag_p99"],
            }
        )
        return result


async def halving(seconds: float, change_at: float, seed: int) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=0)
    async with server(True) as url, aiohttp.ClientSession(connector=connector) as session:
        await closed_loop(session, url, 1, 1.0)
        unloaded = await closed_loop(session, url, 1, 3.0)
        unloaded_p99 = percentile([o.latency for o in unloaded if o.status == 200], 0.99)
        saturated = await closed_loop(session, url, 3, 3.0)
        capacity = sum(o.status == 200 for o in saturated) / 3.0
        limits: list[tuple[float, int]] = []
        changed = False

        async def tick(elapsed: float) -> None:
            nonlocal changed
            if not changed and elapsed >= change_at:
                changed = True
                async with session.get(url + "/control", params={"factor": "2"}) as response:
                    await response.read()
            limits.append((elapsed, (await stats(session, url))["limit"]))

        started = time.perf_counter()
        outcomes = await open_loop(session, url, 3 * capacity, seconds, seed, at=tick)
    # The limit has settled once its median over every later second stays within ±25 % (at
    # least ±0.5) of its median over the last 5 s.
    tail = [limit for elapsed, limit in limits if elapsed >= seconds - 5]
    final = statistics.median(tail)
    band = max(0.5, 0.25 * final)
    settled_at = change_at
    for elapsed, _ in limits:
        if elapsed < change_at or elapsed + 1 > seconds:
            continue
        window = [limit for at, limit in limits if elapsed <= at < elapsed + 1]
        if abs(statistics.median(window) - final) > band:
            settled_at = elapsed + 0.1
    # p99 of admitted requests per second; the new unloaded p99 is twice the old one.
    threshold = 3 * 2 * unloaded_p99
    windows: list[tuple[int, float]] = []
    for second in range(int(seconds)):
        latencies = [
            o.latency for o in outcomes if o.status == 200 and second <= o.sent_at - started < second + 1
        ]
        windows.append((second, percentile(latencies, 0.99)))
    recovered_at = change_at
    for second, p99 in windows:
        if second >= int(change_at) and not p99 <= threshold:
            recovered_at = second + 1.0
    return {
        "capacity/s": capacity,
        "limit before": statistics.median(limit for elapsed, limit in limits if 2 <= elapsed < change_at),
        "limit after": final,
        "limit settled after s": settled_at - change_at,
        "p99 threshold": threshold,
        "p99 recovered after s": recovered_at - change_at,
        "p99 windows": windows,
        "limits": limits[:: max(1, len(limits) // 40)],
    }


async def _ok_handler(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok")


def overhead(rounds: int, calls: int, only: str | None = None) -> dict[str, float]:
    """µs per call of the aiohttp and ASGI middlewares, with and without protection."""

    async def aiohttp_loop(middleware: Any, n: int) -> float:
        app = web.Application()
        app.router.add_get("/work", _ok_handler)
        request = make_mocked_request("GET", "/work", headers={"X-Request-Timeout": "1"}, app=app)
        match = await app.router.resolve(request)
        request._match_info = match
        started = time.perf_counter()
        for _ in range(n):
            await middleware(request, _ok_handler)
        return (time.perf_counter() - started) / n * 1e6

    async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def asgi_loop(middleware: aio_request.AsgiMiddleware, n: int) -> float:
        scope = {"type": "http", "method": "GET", "path": "/work", "headers": [(b"x-request-timeout", b"1")]}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: Any) -> None:
            return None

        started = time.perf_counter()
        for _ in range(n):
            await middleware(scope, receive, send)
        return (time.perf_counter() - started) / n * 1e6

    async def main() -> dict[str, list[float]]:
        hub = EventHub()
        variants: dict[str, Callable[[], Awaitable[float]]] = {}
        plain = aio_request.aiohttp_middleware_factory(event_hub=hub)
        protected = aio_request.aiohttp_middleware_factory(
            event_hub=hub, overload_protection=aio_request.OverloadProtection(event_hub=hub)
        )
        asgi_plain = aio_request.AsgiMiddleware(asgi_app, event_hub=hub)
        asgi_protected = aio_request.AsgiMiddleware(
            asgi_app, event_hub=hub, overload_protection=aio_request.OverloadProtection(event_hub=hub)
        )
        variants["aiohttp off"] = lambda: aiohttp_loop(plain, calls)
        variants["aiohttp on"] = lambda: aiohttp_loop(protected, calls)
        variants["asgi off"] = lambda: asgi_loop(asgi_plain, calls)
        variants["asgi on"] = lambda: asgi_loop(asgi_protected, calls)
        # A protection that is full (one running, one waiting): every call is shed at once.
        full = aio_request.OverloadProtection(
            limit=aio_request.FixedLimit(1),
            max_queue_size=1,
            queue_interval=3600,
            queue_target=3600,
            event_hub=hub,
        )
        holder = await full.acquire(priority=aio_request.Priority.HIGH, remaining=3600, route_of=lambda: "/")
        waiter = asyncio.ensure_future(
            full.acquire(priority=aio_request.Priority.HIGH, remaining=3600, route_of=lambda: "/")
        )
        await asyncio.sleep(0)
        shedding = aio_request.aiohttp_middleware_factory(event_hub=hub, overload_protection=full)
        asgi_shedding = aio_request.AsgiMiddleware(asgi_app, event_hub=hub, overload_protection=full)
        variants["aiohttp shed answer"] = lambda: aiohttp_loop(shedding, calls)
        variants["asgi shed answer"] = lambda: asgi_loop(asgi_shedding, calls)
        if only is not None:
            variants = {only: variants[only]}
        results: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(rounds):
            for name, run in variants.items():
                results[name].append(await run())
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        assert isinstance(holder, Permit)
        holder.release()
        return results

    results = asyncio.run(main())
    medians = {name: statistics.median(values) for name, values in results.items()}
    if only is not None:
        return medians
    medians["aiohttp added by protection"] = medians["aiohttp on"] - medians["aiohttp off"]
    medians["asgi added by protection"] = medians["asgi on"] - medians["asgi off"]
    return medians


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value * 1000:.1f} ms" if value < 5 else f"{value:.1f}"
    return str(value)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    results = {}
    for protected in (True, False):
        results["on" if protected else "off"] = await variant(protected, args.seconds, args.seed)
    print("## Overload, 3x capacity (protection on | off)\n")
    print("| measure | on | off |\n|---|---|---|")
    for key in results["on"]:
        on, off = results["on"][key], results["off"][key]
        if isinstance(on, dict):
            for name in on:
                print(f"| goodput {name} | {on[name]:.1%} | {off[name]:.1%} |")
        elif key in ("sent/s", "good/s", "capacity/s"):
            print(f"| {key} | {on:.1f} | {off:.1f} |")
        elif key in (
            "good/capacity",
            "server CPU share in overload",
            "good / (capacity per CPU-s x CPU share)",
        ):
            print(f"| {key} | {on:.1%} | {off:.1%} |")
        elif key.endswith("/ unloaded p99"):
            print(f"| {key} | {on:.2f} | {off:.2f} |")
        else:
            print(f"| {key} | {fmt(on)} | {fmt(off)} |")
    return await halving(args.halving_seconds, args.change_at, args.seed + 1)


def report_halving(half: dict[str, Any]) -> None:
    print("\n## Capacity halves mid-run (protection on)\n")
    for key, value in half.items():
        if key in ("p99 windows", "limits"):
            points = [(round(a, 1), round(b * 1000, 1) if isinstance(b, float) else b) for a, b in value]
            print(f"- {key}: {points}")
        else:
            print(f"- {key}: {value:.3f}" if isinstance(value, float) else f"- {key}: {value}")


def report_overhead(args: argparse.Namespace) -> None:
    print("\n## Middleware overhead, no overload (µs per request, median of rounds)\n")
    for key, value in overhead(args.rounds, args.calls).items():
        print(f"- {key}: {value:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--halving-seconds", type=float, default=22.0)
    parser.add_argument("--change-at", type=float, default=6.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--only-overhead", action="store_true")
    parser.add_argument(
        "--one-variant",
        help="run only this overhead variant (e.g. 'aiohttp on') for --calls calls, for cachegrind",
    )
    parser.add_argument("--pin", action="store_true", help="server on CPU 0, load generator on CPU 1")
    args = parser.parse_args()
    if args.pin and hasattr(os, "sched_setaffinity"):
        SERVER_CPU.append("0")
        os.sched_setaffinity(0, {1})
    if args.one_variant:
        overhead(1, args.calls, only=args.one_variant)
        return
    if not args.only_overhead:
        report_halving(asyncio.run(main_async(args)))
    report_overhead(args)


if __name__ == "__main__":
    main()
