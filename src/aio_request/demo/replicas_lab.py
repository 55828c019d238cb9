"""The replicas scenario: one service of five replicas — two healthy, one slow, one failing, one dead.

Two clients with ``setup()``'s defaults (3 sequential attempts for GET, default budgets) call
the same replicas in lockstep (the n-th call of each is due at the same moment):

* **single endpoint**: each call resolves the service to one replica at random, as DNS round
  robin or a connection-level load balancer would, and every attempt of the call goes there;
* **balanced**: :class:`~aio_request.BalancedEndpointProvider` picks a replica per attempt
  (P2C over peak-EWMA latency), retries go to another replica, failing replicas are ejected.

The replicas are aiohttp servers on 127.0.0.1: ``healthy-1`` and ``healthy-2`` answer after
5 ms, ``slow`` after 50 ms, ``failing`` answers 500 after 5 ms, and ``dead`` is a closed port
(connections refused). Everything started here is stopped before :func:`run_replicas_lab`
returns or raises.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import random
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Final

import aiohttp
import yarl
from aiohttp import web

from aio_request import (
    AioHttpTransport,
    BalancedEndpointProvider,
    Client,
    DelegateEndpointProvider,
    EndpointProvider,
    StaticReplicas,
    get,
    setup,
)
from aio_request.events import EventHub

HEALTHY_DELAY: Final = 0.005
"""Seconds a healthy (and the failing) replica takes to answer."""
SLOW_DELAY: Final = 0.050
"""Seconds the slow replica takes to answer."""
TIMEOUT: Final = 2.0
"""Each call's deadline in seconds."""
REPLICAS: Final = ("healthy-1", "healthy-2", "slow", "failing", "dead")
"""The replicas, by name."""
CLIENTS: Final = ("single endpoint", "balanced")
"""The two clients compared, in the order shown."""


@dataclasses.dataclass(slots=True)
class ClientResult:
    """What one client saw: each call's latency and status, and the attempts each replica got."""

    latencies: list[float] = dataclasses.field(default_factory=list)
    statuses: collections.Counter[int] = dataclasses.field(default_factory=collections.Counter)
    attempts: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)

    @property
    def calls(self) -> int:
        """Calls made."""
        return len(self.latencies)

    @property
    def success_rate(self) -> float:
        """The share of calls answered 200."""
        return self.statuses[200] / self.calls if self.calls else 0.0

    def percentile(self, p: float) -> float:
        """The ``p`` quantile of the call latencies, in seconds (nearest rank)."""
        ordered = sorted(self.latencies)
        if not ordered:
            return 0.0
        return ordered[max(0, min(len(ordered) - 1, int(p * len(ordered) + 0.5) - 1))]


class _Replica:
    def __init__(self, name: str, delay: float, status: int, hits: collections.Counter[str]) -> None:
        self.name = name
        self.delay = delay
        self.status = status
        self.hits = hits

    async def handle(self, request: web.Request) -> web.Response:
        self.hits[f"{request.headers.get('X-Lab-Client', '')}/{self.name}"] += 1
        await asyncio.sleep(self.delay)
        return web.Response(status=self.status, text="ok")


def _local_url(port: int) -> yarl.URL:
    return yarl.URL.build(scheme="http", host="127.0.0.1", port=port, path="/")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.asynccontextmanager
async def _replicas(hits: collections.Counter[str]) -> AsyncIterator[dict[str, yarl.URL]]:
    behaviours = {
        "healthy-1": (HEALTHY_DELAY, 200),
        "healthy-2": (HEALTHY_DELAY, 200),
        "slow": (SLOW_DELAY, 200),
        "failing": (HEALTHY_DELAY, 500),
    }
    async with contextlib.AsyncExitStack() as stack:
        urls: dict[str, yarl.URL] = {}
        for name, (delay, status) in behaviours.items():
            app = web.Application()
            app.router.add_get("/items", _Replica(name, delay, status, hits).handle)
            runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            urls[name] = _local_url(runner.addresses[0][1])
        urls["dead"] = _local_url(_closed_port())
        yield urls


def _clients(session: aiohttp.ClientSession, urls: dict[str, yarl.URL], seed: int) -> dict[str, Client]:
    replicas = [urls[name] for name in REPLICAS]
    chooser = random.Random(seed)
    providers: dict[str, EndpointProvider] = {
        "single endpoint": DelegateEndpointProvider(lambda: chooser.choice(replicas)),
        "balanced": BalancedEndpointProvider(
            StaticReplicas(replicas), random=random.Random(seed + 1).random, event_hub=EventHub()
        ),
    }
    transport = AioHttpTransport(session)
    return {
        name: setup(transport=transport, endpoint_provider=provider, timeout=TIMEOUT, event_hub=EventHub())
        for name, provider in providers.items()
    }


async def run_replicas_lab(
    *,
    calls: int,
    rate: float,
    seed: int = 1,
    concurrency: int = 64,
    on_call_done: Callable[[], None] = lambda: None,
) -> dict[str, ClientResult]:
    """Run ``calls`` calls per client at ``rate`` calls/s each; results per client name."""
    hits: collections.Counter[str] = collections.Counter()
    results = {name: ClientResult() for name in CLIENTS}
    async with _replicas(hits) as urls, aiohttp.ClientSession() as session:
        clients = _clients(session, urls, seed)
        slots = {name: asyncio.Semaphore(concurrency) for name in CLIENTS}
        started = time.perf_counter()

        async def one(name: str, client: Client, index: int) -> None:
            due = started + index / rate
            await asyncio.sleep(max(due - time.perf_counter(), 0.0))
            async with slots[name]:
                request = get("items", headers={"X-Lab-Client": name})
                async with client.request(request) as response:
                    status = response.status
            result = results[name]
            result.latencies.append(time.perf_counter() - due)
            result.statuses[status] += 1
            on_call_done()

        await asyncio.gather(
            *(one(name, client, index) for index in range(calls) for name, client in clients.items())
        )
    for key, count in hits.items():
        client_name, _, replica = key.partition("/")
        results[client_name].attempts[replica] += count
    return results


def replicas_table(results: dict[str, ClientResult]) -> str:
    """A markdown table comparing the clients."""
    lines = [
        "| client | calls | succeeded | p50 ms | p99 ms | attempts to slow / failing (per 100 calls) |",
        "|---|---|---|---|---|---|",
    ]
    for name in CLIENTS:
        result = results[name]
        per_call = 100 / result.calls if result.calls else 0.0
        lines.append(
            f"| {name} | {result.calls} | {result.success_rate:.1%} | {result.percentile(0.5) * 1e3:.1f}"
            f" | {result.percentile(0.99) * 1e3:.1f} | {result.attempts['slow'] * per_call:.1f} /"
            f" {result.attempts['failing'] * per_call:.1f} |"
        )
    return "\n".join(lines)


def takeaways(results: dict[str, ClientResult]) -> Sequence[str]:
    """One line per client on what it shows."""
    single, balanced = (results[name] for name in CLIENTS)
    return [
        f"single endpoint: {1 - single.success_rate:.1%} of calls failed — a call sent to the failing or"
        " the dead replica retries on that same replica",
        f"balanced: {1 - balanced.success_rate:.1%} failed — retries go to another replica, and the failing,"
        " dead and slow replicas are avoided after their first answers",
    ]
