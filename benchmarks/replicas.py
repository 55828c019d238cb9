"""Client-side balancing over real loopback replicas: the targets of the replicas work.

The replicas run in another process (``replica_fleet_server.py``), each an aiohttp server that
answers ``GET /thing`` after a base delay (5 ms). Calls go through one balanced client built by
``aio_request.setup`` (default GET strategy and budgets unless said otherwise). Variants that
are compared are interleaved in slices (each slice a fresh client and balancer, so every slice
starts cold), and each figure is taken over all slices. Reported per variant: calls, failed
calls (status not 200), p50 / p99 of the calls, the share of attempts the odd replica got (from
the client's ``ReplicaAttemptFinished`` events), and the client's CPU per call.

Scenarios (``--only NAME`` runs one):

* ``slow``: 5 replicas, one 10x slower (50 ms): peak-EWMA P2C vs round robin, and a fleet of the
  4 healthy replicas alone as the reference p99; also peak-EWMA with a 2 s decay (not the
  default) for comparison;
* ``fail``: 5 replicas, one answers 500 to everything;
* ``refused``: 5 replicas, one refuses connections (its port is closed);
* ``blackhole``: 5 replicas, one accepts and never answers, hedged strategy (20 ms hedge delay,
  3 attempts), against a fleet of the 4 healthy replicas;
* ``rolling``: 5 replicas found through ``DnsReplicas`` (127.0.0.2-6, one port, a resolver the
  benchmark controls, refresh every 1 s); each replica in turn leaves the records and stops at
  once (no graceful deregistration), is down for 1 s, starts and comes back in the records;
* ``pick``: library CPU per pick at 50 replicas (no network): ``Balancer.pick()`` alone, with one
  replica excluded (a retry), and a whole attempt's bookkeeping (pick, start, finish).

Load: an open loop of ``--rate`` calls per second (400), so that every variant gets the same load
and the client's CPU (two cores shared with the servers) is not saturated; ``--rate 0`` runs a
closed loop of ``--concurrency`` workers instead, where the client's own CPU queueing inflates
every replica's latency (see the README for what that does to the slow-replica figures).

Usage: ``python benchmarks/replicas.py [--rate 400] [--seconds 6] [--rounds 2] [--only NAME]``
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import random
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import aiohttp
import yarl

import aio_request
from aio_request import BalancedEndpointProvider, DnsReplicas, RoundRobinPolicy, StaticReplicas
from aio_request.balancing import Balancer, Outcome, PeakEwmaPolicy, PickPolicy
from aio_request.events import Event, EventHub, ReplicaAttemptFinished, ReplicaEjected
from aio_request.strategies import RequestStrategy

BASE_DELAY = 0.005
SERVER = Path(__file__).with_name("replica_fleet_server.py")


class Fleet:
    """The replica server process."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, str(SERVER), str(BASE_DELAY)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._lock = threading.Lock()

    def command(self, line: str) -> str:
        """Send one command and return the reply (blocking: call it through :meth:`run`)."""
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        with self._lock:
            self._process.stdin.write(line + "\n")
            self._process.stdin.flush()
            return self._process.stdout.readline().strip()

    async def run(self, line: str) -> str:
        """:meth:`command` in a thread, so the client's loop keeps running."""
        return await asyncio.to_thread(self.command, line)

    async def start(self, name: str, host: str = "127.0.0.1", port: int = 0) -> yarl.URL:
        reply = await self.run(f"start {name} {host} {port}")
        return yarl.URL.build(scheme="http", host=host, port=int(reply.split()[1]), path="/")

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(timeout=10)


class Recorder:
    """Counts the attempts per replica and remembers ejections, from a client's events."""

    def __init__(self) -> None:
        self.attempts: collections.Counter[str] = collections.Counter()
        self.outcomes: collections.Counter[tuple[str, str]] = collections.Counter()
        self.first_ejection: dict[str, int] = {}
        """Replica → the number of attempts recorded (all replicas) when it was first ejected for
        failures (outlier ejection, not a backoff)."""
        self.first_failure: dict[str, int] = {}
        """Replica → the number of attempts recorded before its first failure."""
        self.total = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, ReplicaAttemptFinished):
            self.attempts[event.replica] += 1
            self.outcomes[(event.replica, event.outcome)] += 1
            if event.outcome == "failure":
                self.first_failure.setdefault(event.replica, self.total)
            self.total += 1
        elif isinstance(event, ReplicaEjected) and event.reason == "failures":
            self.first_ejection.setdefault(event.replica, self.total)


class Result:
    """The calls of one variant, over all its slices."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.failed = 0
        self.cpu = 0.0
        self.recorder = Recorder()

    @property
    def calls(self) -> int:
        return len(self.latencies)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[max(0, min(len(ordered) - 1, int(p * len(ordered) + 0.5) - 1))]

    def share(self, replica: yarl.URL) -> float:
        total = sum(self.recorder.attempts.values())
        return self.recorder.attempts[str(replica)] / total if total else 0.0


def make_client(
    session: aiohttp.ClientSession,
    provider: BalancedEndpointProvider,
    hub: EventHub,
    strategy: RequestStrategy | None = None,
    timeout: float = 20.0,
) -> aio_request.Client:
    return aio_request.setup(
        transport=aio_request.AioHttpTransport(session),
        endpoint_provider=provider,
        event_hub=hub,
        safe_method_strategy=strategy,
        timeout=timeout,
    )


RATE = 400.0
"""Calls per second of the open-loop load (``--rate``); 0: a closed loop of ``--concurrency``."""


async def drive(client: aio_request.Client, seconds: float, concurrency: int, result: Result) -> None:
    """Load for ``seconds``; adds calls, latencies and failures to ``result``."""
    started_at = time.perf_counter()
    stop_at = started_at + seconds
    cpu_started = time.process_time()

    async def one_call() -> None:
        started = time.perf_counter()
        async with client.request(aio_request.get("thing")) as response:
            await response.read()
            if response.status != 200:
                result.failed += 1
        result.latencies.append(time.perf_counter() - started)

    async def worker() -> None:
        while time.perf_counter() < stop_at:
            await one_call()

    if RATE:
        calls: list[asyncio.Task[None]] = []
        for index in range(int(seconds * RATE)):
            delay = started_at + index / RATE - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            calls.append(asyncio.create_task(one_call()))  # a benchmark's load generator
        await asyncio.gather(*calls)
    else:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.cpu += time.process_time() - cpu_started


async def warm(session: aiohttp.ClientSession, replicas: Sequence[yarl.URL], concurrency: int) -> None:
    """Open connections to every replica without teaching the measured client's balancer."""

    async def one(url: yarl.URL) -> None:
        async with session.get(url / "warmup") as response:
            await response.read()

    await asyncio.gather(*(one(url) for url in replicas for _ in range(concurrency)))


Variant = Callable[[aiohttp.ClientSession, Result], Awaitable[None]]


async def interleaved(variants: dict[str, Variant], rounds: int) -> dict[str, Result]:
    results = {name: Result() for name in variants}
    for _ in range(rounds):
        for name, variant in variants.items():
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
                await variant(session, results[name])
    return results


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f}"


def verdict(met: bool) -> str:
    return "**met**" if met else "**missed**"


def row(name: str, result: Result, extra: Sequence[str] = ()) -> str:
    failed = result.failed / result.calls if result.calls else 0.0
    cells = [
        name,
        f"{result.calls:,}",
        f"{result.failed} ({failed:.3%})",
        ms(result.percentile(0.5)),
        ms(result.percentile(0.99)),
        *extra,
        f"{result.cpu / result.calls * 1e6:.0f}" if result.calls else "-",
    ]
    return "| " + " | ".join(cells) + " |"


def header(extra: Sequence[str] = ()) -> str:
    names = ["variant", "calls", "failed", "p50 ms", "p99 ms", *extra, "client CPU µs/call"]
    return "| " + " | ".join(names) + " |\n|" + "---|" * len(names)


# --- scenarios ------------------------------------------------------------------------------


async def scenario_slow(fleet: Fleet, options: argparse.Namespace) -> None:
    urls = [await fleet.start(f"s{i}") for i in range(5)]
    await fleet.run(f"set s0 slow {BASE_DELAY * 10}")
    slow = urls[0]

    def variant(replicas: Sequence[yarl.URL], policy: Callable[[], PickPolicy] = PeakEwmaPolicy) -> Variant:
        async def run(session: aiohttp.ClientSession, result: Result) -> None:
            hub = EventHub()
            hub.subscribe(result.recorder)
            provider = BalancedEndpointProvider(StaticReplicas(replicas), policy=policy(), event_hub=hub)
            client = make_client(session, provider, hub)
            await warm(session, replicas, options.concurrency)
            await drive(client, options.seconds, options.concurrency, result)

        return run

    results = await interleaved(
        {
            "P2C peak-EWMA, 5 replicas (one 10x slower)": variant(urls),
            "round robin, 5 replicas (one 10x slower)": variant(urls, RoundRobinPolicy),
            "P2C peak-EWMA, the 4 healthy replicas": variant(urls[1:]),
            "P2C peak-EWMA with a 2 s decay, 5 replicas": variant(urls, lambda: PeakEwmaPolicy(decay=2.0)),
        },
        options.rounds,
    )
    print("### 5 replicas, one 10x slower (50 ms vs 5 ms)\n")
    print(header(["slow replica's share of attempts"]))
    for name, result in results.items():
        print(row(name, result, [f"{result.share(slow):.2%}"]))
    p2c, _rr, healthy, _short = results.values()
    ratio = p2c.percentile(0.99) / healthy.percentile(0.99)
    print(
        f"\nSlow replica's share ≤ 3 %: {verdict(p2c.share(slow) <= 0.03)} ({p2c.share(slow):.2%}); "
        f"p99 ≤ 1.25x the 4 healthy replicas': {verdict(ratio <= 1.25)} ({ratio:.2f}x)\n"
    )


async def scenario_fail_or_refuse(fleet: Fleet, options: argparse.Namespace, *, refuse: bool) -> None:
    prefix = "r" if refuse else "f"
    urls = [await fleet.start(f"{prefix}{i}") for i in range(5)]
    bad = urls[0]
    if refuse:
        await fleet.run(f"stop {prefix}0")
    else:
        await fleet.run(f"set {prefix}0 fail")

    async def run(session: aiohttp.ClientSession, result: Result) -> None:
        hub = EventHub()
        hub.subscribe(result.recorder)
        client = make_client(session, BalancedEndpointProvider(StaticReplicas(urls), event_hub=hub), hub)
        await drive(client, options.seconds * options.rounds, options.concurrency, result)

    (result,) = (await interleaved({"defaults": run}, 1)).values()
    recorder = result.recorder
    bad_attempts = recorder.attempts[str(bad)]
    failed = result.failed / result.calls
    if refuse:
        print("### 5 replicas, one refuses connections\n")
    else:
        print("### 5 replicas, one answers 500 to everything\n")
    print(header(["attempts to the bad replica"]))
    print(row("P2C peak-EWMA, `setup()` defaults", result, [f"{bad_attempts} of {recorder.total:,}"]))
    limit = 0.001 if refuse else 0.0005
    print(f"\nFailed calls ≤ {limit:.2%}: {verdict(failed <= limit)} ({failed:.3%})")
    if refuse:
        first_failure = recorder.first_failure.get(str(bad))
        after = recorder.total - first_failure - 1 if first_failure is not None else 0
        share = (bad_attempts - 1) / after if after else 0.0
        ejected = recorder.first_ejection.get(str(bad))
        print(
            f"Its share of the attempts after its first failure ≤ 1 %: {verdict(share <= 0.01)} "
            f"({share:.3%}; {'not ejected' if ejected is None else f'ejected at attempt {ejected:,}'}; "
            "between failures it sits out 1 s, 2 s, 3 s, 4 s)"
        )
    print()


async def scenario_blackhole(fleet: Fleet, options: argparse.Namespace) -> None:
    urls = [await fleet.start(f"b{i}") for i in range(5)]
    await fleet.run("set b0 blackhole")
    hedge_delay = 0.020

    def variant(replicas: Sequence[yarl.URL]) -> Variant:
        async def run(session: aiohttp.ClientSession, result: Result) -> None:
            hub = EventHub()
            hub.subscribe(result.recorder)
            provider = BalancedEndpointProvider(StaticReplicas(replicas), event_hub=hub)
            strategy = aio_request.parallel_strategy(
                attempts_count=3, delays_provider=aio_request.constant_delays(delay=hedge_delay)
            )
            client = make_client(session, provider, hub, strategy, timeout=2.0)
            await drive(client, options.seconds, options.concurrency, result)

        return run

    results = await interleaved(
        {
            "hedged (20 ms), 5 replicas, one black hole": variant(urls),
            "hedged (20 ms), the 4 healthy replicas": variant(urls[1:]),
        },
        options.rounds,
    )
    print("### 5 replicas, one black hole, hedged strategy (3 attempts, 20 ms apart)\n")
    print(header(["black hole's share of attempts"]))
    for name, result in results.items():
        print(row(name, result, [f"{result.share(urls[0]):.2%}"]))
    hole, healthy = results.values()
    bound = hedge_delay + healthy.percentile(0.99) + 0.010
    print(
        f"\np99 ≤ hedge delay + healthy p99 + 10 ms = {ms(bound)} ms: "
        f"{verdict(hole.percentile(0.99) <= bound)} ({ms(hole.percentile(0.99))} ms)\n"
    )


async def scenario_rolling(fleet: Fleet, options: argparse.Namespace) -> None:
    hosts = [f"127.0.0.{i}" for i in range(2, 7)]
    first = await fleet.start("d0", hosts[0])
    port = first.port or 0
    for index, host in enumerate(hosts[1:], start=1):
        await fleet.start(f"d{index}", host, port)
    records = list(hosts)

    async def resolver(host: str, _port: int) -> Sequence[str]:
        return list(records)

    async def run(session: aiohttp.ClientSession, result: Result) -> None:
        hub = EventHub()
        hub.subscribe(result.recorder)
        source = DnsReplicas(f"http://service.internal:{port}/", refresh_interval=1.0, resolver=resolver)
        async with BalancedEndpointProvider(source, event_hub=hub) as provider:
            client = make_client(session, provider, hub)

            async def restarts() -> None:
                await asyncio.sleep(1.0)
                for index, host in enumerate(hosts):
                    records.remove(host)
                    await fleet.run(f"stop d{index}")
                    await asyncio.sleep(1.0)
                    await fleet.start(f"d{index}", host, port)
                    records.append(host)
                    await asyncio.sleep(1.0)

            seconds = 1.0 + 2.0 * len(hosts) + 0.5
            await asyncio.gather(drive(client, seconds, options.concurrency, result), restarts())

    result = (await interleaved({"rolling": run}, 1))["rolling"]
    failed = result.failed / result.calls
    print("### Rolling restart of 5 replicas through DnsReplicas (refresh 1 s)\n")
    print(header())
    print(row("P2C peak-EWMA, `setup()` defaults", result))
    print(f"\nFailed calls ≤ 0.1 %: {verdict(failed <= 0.001)} ({failed:.3%})\n")


def scenario_pick(options: argparse.Namespace) -> None:
    rng = random.Random(1)
    balancer = Balancer("http://svc/", now=time.monotonic, random=rng.random)
    balancer.update([(yarl.URL(f"http://10.0.{i // 250}.{i % 250}:8080/"), None) for i in range(50)])
    replicas = list(balancer.replicas)
    for replica in replicas:  # some history and load, as in a running service
        started = balancer.attempt_started(replica)
        balancer.attempt_finished(replica, started - rng.uniform(0.002, 0.02), Outcome.SUCCESS, 200, None)
    for replica in replicas[::3]:
        balancer.attempt_started(replica)
    excluded = [replicas[7]]
    count = 200_000

    def best_of(work: Callable[[], object]) -> float:
        timings = []
        for _ in range(5):
            started = time.process_time()
            for _ in range(count):
                work()
            timings.append((time.process_time() - started) / count * 1e6)
        return min(timings)

    def attempt() -> None:
        replica = balancer.pick()
        assert replica is not None
        started = balancer.attempt_started(replica)
        balancer.attempt_finished(replica, started, Outcome.SUCCESS, 200, None)

    baseline = best_of(lambda: None)
    rows = {
        "`pick()`": best_of(balancer.pick) - baseline,
        "`pick()` avoiding one used replica (a retry)": best_of(lambda: balancer.pick(excluded)) - baseline,
        "pick + attempt started + attempt finished": best_of(attempt) - baseline,
    }
    print("### Library CPU per pick, 50 replicas, peak-EWMA P2C (best of 5 x 200,000)\n")
    print("| operation | CPU µs |\n|---|---|")
    for name, value in rows.items():
        print(f"| {name} | {value:.2f} |")
    worst = max(rows.values())
    print(f"\nPicking ≤ 3 µs per attempt at 50 replicas: {verdict(worst <= 3.0)} (at most {worst:.2f} µs)\n")


async def main(options: argparse.Namespace) -> None:
    only = options.only
    if only in (None, "pick"):
        scenario_pick(options)
    if only == "pick":
        return
    fleet = Fleet()
    try:
        if only in (None, "slow"):
            await scenario_slow(fleet, options)
        if only in (None, "fail"):
            await scenario_fail_or_refuse(fleet, options, refuse=False)
        if only in (None, "refused"):
            await scenario_fail_or_refuse(fleet, options, refuse=True)
        if only in (None, "blackhole"):
            await scenario_blackhole(fleet, options)
        if only in (None, "rolling"):
            await scenario_rolling(fleet, options)
    finally:
        fleet.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop workers (with --rate 0)")
    parser.add_argument("--seconds", type=float, default=6.0, help="length of one slice")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rate", type=float, default=400.0, help="open-loop calls/s (0: closed loop)")
    parser.add_argument("--only", choices=["slow", "fail", "refused", "blackhole", "rolling", "pick"])
    arguments = parser.parse_args()
    RATE = arguments.rate
    asyncio.run(main(arguments))
