"""The overload scenario in virtual time: the real ``OverloadProtection``, a modelled server.

``overload.py`` runs a real server, but on a shared 2-core machine the server gets whatever
share of a core the other processes leave it, so its capacity moves during the run. This script
runs the same scenario on an event loop whose clock is virtual (a timer "sleeps" by moving the
clock, no real time passes), against a model of a CPU-bound server: a handler needs 10 ms of
CPU in 1 ms slices, and ``n`` handlers running together share one core (a slice takes ``n`` ms).
The protection under test is the library's, unchanged, with its clock and its waiting timers
on that virtual time. Shed answers and parsing cost nothing here: the real benchmark shows
those. Deterministic for a seed.

Run: ``.venv/bin/python benchmarks/overload_sim.py`` (a few seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import selectors
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aio_request
from aio_request import Priority
from aio_request.events import EventHub
from aio_request.server.overload import Refusal

SERVICE = 0.010
SLICE = 0.001
DEADLINE = 1.0
PRIORITIES = ((Priority.HIGH, 0.2), (Priority.NORMAL, 0.5), (Priority.LOW, 0.3))


class _VirtualSelector(selectors.DefaultSelector):
    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout > 0:
            self._loop.virtual_now += timeout  # nothing can happen before the next timer
        return super().select(0)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose ``time()`` only moves when every task waits for a timer."""

    def __init__(self) -> None:
        self.virtual_now = 0.0
        super().__init__(_VirtualSelector(self))

    def time(self) -> float:
        return self.virtual_now


class LoopClock:
    """The library's clock protocol on the running loop's (virtual) time."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def call_later(self, seconds: float, callback: Callable[[], object]) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(max(seconds, 0.0), callback)


@dataclass
class Outcome:
    sent_at: float
    priority: Priority
    status: int
    latency: float
    reason: str = ""
    handler_time: float = 0.0


class Server:
    """A CPU-bound server behind the protection (``None``: unprotected)."""

    def __init__(self, protection: aio_request.OverloadProtection | None) -> None:
        self.protection = protection
        self.running = 0
        self.factor = 1
        self.past_deadline = 0
        self.limits: list[tuple[float, int]] = []
        self.tasks: list[asyncio.Future[tuple[int, str]]] = []

    async def handler(self, deadline_at: float) -> None:
        loop = asyncio.get_running_loop()
        self.running += 1
        try:
            for _ in range(round(SERVICE / SLICE) * self.factor):
                await asyncio.sleep(SLICE * self.running)
        finally:
            self.running -= 1
        if loop.time() > deadline_at:
            self.past_deadline += 1

    async def request(self, priority: Priority) -> Outcome:
        loop = asyncio.get_running_loop()
        sent_at = loop.time()
        deadline_at = sent_at + DEADLINE

        handler_time = 0.0

        async def call() -> tuple[int, str]:
            nonlocal handler_time
            started = loop.time()
            await self.handler(deadline_at)
            handler_time = loop.time() - started
            return 200, ""

        async def refuse(refusal: Refusal) -> tuple[int, str]:
            return refusal.status, str(refusal.reason)

        async def serve() -> tuple[int, str]:
            if self.protection is None:
                return await call()
            return await self.protection.run(
                call, refuse, path="/work", route_of=lambda: "/work", priority=priority, remaining=DEADLINE
            )

        # The client gives up at its deadline; the server, as a real one, does not notice.
        served = asyncio.ensure_future(serve())
        self.tasks.append(served)
        try:
            async with asyncio.timeout(DEADLINE):
                status, reason = await asyncio.shield(served)
        except TimeoutError:
            status, reason = 0, ""
        return Outcome(sent_at, priority, status, loop.time() - sent_at, reason, handler_time)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def load(
    server: Server, rate: float, seconds: float, rng: random.Random, change_at: float | None = None
) -> list[Outcome]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    tasks: list[asyncio.Task[Outcome]] = []
    names = [priority for priority, _ in PRIORITIES]
    weights = [weight for _, weight in PRIORITIES]
    next_poll = started
    while (now := loop.time()) < started + seconds:
        if change_at is not None and now - started >= change_at:
            server.factor = 2
            change_at = None
        if server.protection is not None and now >= next_poll:
            server.limits.append((now - started, server.protection.limit))
            next_poll += 0.1
        tasks.append(asyncio.ensure_future(server.request(rng.choices(names, weights)[0])))
        await asyncio.sleep(rng.expovariate(rate))
    outcomes = list(await asyncio.gather(*tasks))
    await asyncio.gather(*server.tasks)  # let abandoned handlers finish (and count)
    server.tasks.clear()
    return outcomes


async def unloaded(server: Server, seconds: float) -> list[float]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    latencies = []
    while loop.time() < started + seconds:
        outcome = await server.request(Priority.NORMAL)
        latencies.append(outcome.latency)
    return latencies


def protection() -> aio_request.OverloadProtection:
    return aio_request.OverloadProtection(event_hub=EventHub(), clock=LoopClock())


async def overload(protected: bool, seconds: float, seed: int) -> dict[str, Any]:
    server = Server(protection() if protected else None)
    unloaded_p99 = percentile(await unloaded(server, 2.0), 0.99)
    capacity = 1 / SERVICE
    outcomes = await load(server, 3 * capacity, seconds, random.Random(seed))
    by_priority = {p: [o for o in outcomes if o.priority is p] for p, _ in PRIORITIES}
    good = [o for o in outcomes if o.status == 200 and o.latency <= DEADLINE]
    admitted = [o.latency for o in outcomes if o.status == 200]
    steady = [o.latency for o in outcomes if o.status == 200 and o.sent_at >= 2.0 + outcomes[0].sent_at]
    shed = [o.latency for o in outcomes if o.status == 503]
    return {
        "goodput high": sum(o in good for o in by_priority[Priority.HIGH]) / len(by_priority[Priority.HIGH]),
        "goodput normal": sum(o in good for o in by_priority[Priority.NORMAL])
        / len(by_priority[Priority.NORMAL]),
        "goodput low": sum(o in good for o in by_priority[Priority.LOW]) / len(by_priority[Priority.LOW]),
        "good / capacity": len(good) / seconds / capacity,
        "unloaded p99 (ms)": unloaded_p99 * 1000,
        "admitted p99 (ms)": percentile(admitted, 0.99) * 1000,
        "admitted p99 / unloaded p99": percentile(admitted, 0.99) / unloaded_p99,
        "admitted p99 after 2 s / unloaded p99": percentile(steady, 0.99) / unloaded_p99,
        "admitted handler-time p99 after 2 s / unloaded p99": percentile(
            [o.handler_time for o in outcomes if o.status == 200 and o.sent_at >= 2.0 + outcomes[0].sent_at],
            0.99,
        )
        / unloaded_p99,
        "shed p50 (ms)": percentile(shed, 0.5) * 1000,
        "shed p99 (ms)": percentile(shed, 0.99) * 1000,
        "408": sum(o.status == 408 for o in outcomes),
        "client gave up": sum(o.status == 0 for o in outcomes),
        "handlers past deadline": server.past_deadline,
        "limit at end": server.protection.limit if server.protection else "-",
    }


async def halving(seconds: float, change_at: float, seed: int) -> dict[str, Any]:
    server = Server(protection())
    unloaded_p99 = percentile(await unloaded(server, 2.0), 0.99)
    outcomes = await load(server, 3 / SERVICE, seconds, random.Random(seed), change_at=change_at)
    start = outcomes[0].sent_at
    limits = server.limits
    final = statistics.median(limit for at, limit in limits if at >= seconds - 5)
    band = max(0.5, 0.25 * final)
    settled = change_at
    for at, _ in limits:
        if change_at <= at <= seconds - 1:
            window = [limit for t, limit in limits if at <= t < at + 1]
            if abs(statistics.median(window) - final) > band:
                settled = at + 0.1
    threshold = 3 * 2 * unloaded_p99  # the halved server's unloaded p99 is twice the old one
    windows = []
    for second in range(int(seconds)):
        latencies = [
            o.latency for o in outcomes if o.status == 200 and second <= o.sent_at - start < second + 1
        ]
        windows.append((second, percentile(latencies, 0.99)))
    recovered = change_at
    for second, p99 in windows:
        if second >= change_at and not p99 <= threshold:
            recovered = second + 1.0
    return {
        "limit before": statistics.median(limit for at, limit in limits if 2 <= at < change_at),
        "limit after": final,
        "limit settled after (s)": settled - change_at,
        "p99 threshold (ms)": threshold * 1000,
        "p99 recovered after (s)": recovered - change_at,
        "p99 per second (ms)": [round(p99 * 1000) for _, p99 in windows],
    }


async def main_async(args: argparse.Namespace) -> None:
    on = await overload(True, args.seconds, args.seed)
    off = await overload(False, args.seconds, args.seed)
    print(f"## Virtual time: 3x capacity for {args.seconds:g} s (seed {args.seed})\n")
    print("| measure | protection on | off |\n|---|---|---|")
    for key, value in on.items():
        other = off[key]
        if (isinstance(value, float) and key.startswith("goodput")) or key == "good / capacity":
            print(f"| {key} | {value:.1%} | {other:.1%} |")
        elif isinstance(value, float):
            print(f"| {key} | {value:.1f} | {other:.1f} |")
        else:
            print(f"| {key} | {value} | {other} |")
    half = await halving(args.halving_seconds, args.change_at, args.seed)
    print(f"\n## Virtual time: capacity halves at {args.change_at:g} s\n")
    for key, value in half.items():
        print(f"- {key}: {value:.1f}" if isinstance(value, float) else f"- {key}: {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--halving-seconds", type=float, default=30.0)
    parser.add_argument("--change-at", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    loop = VirtualTimeLoop()
    try:
        loop.run_until_complete(main_async(args))
    finally:
        loop.close()


if __name__ == "__main__":
    main()
