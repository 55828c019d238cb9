"""Overload protection against a real aiohttp server on loopback, through AioHttpTransport.

Budgets during an outage, retries for a healthy service, the seed circuit breaker, Retry-After
and adaptive hedging within the hedge budget. Server hits are counted on the server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import aiohttp.web
import pytest

import aio_request
import aio_request.events
from aio_request.circuit_breaker import CircuitState, DefaultCircuitBreaker
from aio_request.policies.percentile_delays import PercentileBasedRequestAttemptDelaysProvider
from aio_request.testing import FakeClock

Handler = Callable[[int], Awaitable[aiohttp.web.Response]]


@dataclass
class Server:
    """Answers ``GET/POST /thing`` with ``handler(hit_number)``; records when each hit arrived."""

    handler: Handler
    hits: list[float] = field(default_factory=list)
    endpoint: str = ""

    async def handle(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        self.hits.append(time.monotonic())
        return await self.handler(len(self.hits))


async def unavailable(_hit: int) -> aiohttp.web.Response:
    return aiohttp.web.Response(status=503)


async def ok(_hit: int) -> aiohttp.web.Response:
    return aiohttp.web.Response(status=200, text="ok")


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server(unavailable)
    app = aiohttp.web.Application()
    app.router.add_route("*", "/thing", state.handle)
    runner = aiohttp.web.AppRunner(app, access_log=None)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.endpoint = f"http://127.0.0.1:{runner.addresses[0][1]}/"
    try:
        yield state
    finally:
        await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


async def run_calls(
    client: aio_request.Client, count: int, *, concurrency: int = 10, method: str = "GET"
) -> list[int]:
    statuses: list[int] = []
    semaphore = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with semaphore, client.request(aio_request.request(method, "thing")) as response:
            statuses.append(response.status)

    await asyncio.gather(*(one() for _ in range(count)))
    return statuses


async def test_a_full_outage_costs_at_most_1_25_requests_per_default_get(
    server: Server, session: aiohttp.ClientSession
) -> None:
    client = aio_request.setup(transport=aio_request.AioHttpTransport(session), endpoint=server.endpoint)
    calls = 300
    assert await run_calls(client, calls) == [503] * calls
    per_call = len(server.hits) / calls
    print(f"outage: {per_call:.3f} requests per call with the default budget")
    assert per_call <= 1.25

    server.hits.clear()
    unbudgeted = aio_request.setup(
        transport=aio_request.AioHttpTransport(session), endpoint=server.endpoint, retry_budget=None
    )
    assert await run_calls(unbudgeted, 30) == [503] * 30
    assert len(server.hits) == 90, "without a budget the default GET sends 3 requests per call"


async def test_a_healthy_service_has_its_occasional_failures_retried(
    server: Server, session: aiohttp.ClientSession
) -> None:
    async def every_twentieth_fails(hit: int) -> aiohttp.web.Response:
        return await (unavailable(hit) if hit % 20 == 0 else ok(hit))

    server.handler = every_twentieth_fails
    client = aio_request.setup(transport=aio_request.AioHttpTransport(session), endpoint=server.endpoint)
    assert await run_calls(client, 200) == [200] * 200
    assert len(server.hits) == 210


async def test_the_seed_circuit_breaker_opens_answers_502_and_closes_after_a_probe(
    server: Server, session: aiohttp.ClientSession
) -> None:
    clock = FakeClock()
    # The seed's spelling (aio_request.DefaultCircuitBreaker once the root exports it), plus a
    # fake clock so the break ends without sleeping.
    breaker = DefaultCircuitBreaker[str, int](
        break_duration=1.0,
        sampling_duration=1.0,
        minimum_throughput=2,
        failure_threshold=0.5,
        clock=clock,
    )
    client = aio_request.setup(
        transport=aio_request.AioHttpTransport(session), endpoint=server.endpoint, circuit_breaker=breaker
    )
    assert await run_calls(client, 2, concurrency=1, method="POST") == [503, 503]
    assert breaker.state[server.endpoint] is CircuitState.OPEN
    async with client.request(aio_request.post("thing")) as response:
        assert response.status == 502
        assert "X-Circuit-Breaker" in response.headers
        assert "X-Do-Not-Retry" in response.headers
    async with client.request(aio_request.get("thing")) as response:
        assert response.status == 502, "the fallback is not retried"
    assert len(server.hits) == 2
    server.handler = ok
    await clock.advance(1.0)
    assert await run_calls(client, 1, method="POST") == [200]
    assert breaker.state[server.endpoint] is CircuitState.CLOSED
    assert len(server.hits) == 3


async def test_retry_after_is_waited_for_and_stops_retries_beyond_the_deadline(
    server: Server, session: aiohttp.ClientSession
) -> None:
    async def busy_once(hit: int) -> aiohttp.web.Response:
        if hit == 1:
            return aiohttp.web.Response(status=503, headers={"Retry-After": "1"})
        return await ok(hit)

    server.handler = busy_once
    client = aio_request.setup(transport=aio_request.AioHttpTransport(session), endpoint=server.endpoint)
    assert await run_calls(client, 1) == [200]
    assert server.hits[1] - server.hits[0] >= 0.95, "the retry waited the asked second, not 50 ms"

    async def busy_for_long(hit: int) -> aiohttp.web.Response:
        return aiohttp.web.Response(status=429, headers={"Retry-After": "Fri, 31 Dec 2999 23:59:59 GMT"})

    server.hits.clear()
    server.handler = busy_for_long
    started = time.monotonic()
    async with client.request(aio_request.get("thing")) as response:
        assert response.status == 429
    assert time.monotonic() - started < 0.5, "a pushback beyond the 20 s deadline returns at once"
    assert len(server.hits) == 1


async def test_adaptive_hedging_cuts_the_tail_within_the_hedge_budget(
    server: Server, session: aiohttp.ClientSession
) -> None:
    async def every_fiftieth_is_slow(hit: int) -> aiohttp.web.Response:
        await asyncio.sleep(1.0 if hit % 50 == 0 else 0.001)
        return await ok(hit)

    server.handler = every_fiftieth_is_slow
    delays = PercentileBasedRequestAttemptDelaysProvider()
    client = aio_request.setup(
        transport=aio_request.AioHttpTransport(session),
        endpoint=server.endpoint,
        safe_method_strategy=aio_request.parallel_strategy(attempts_count=2, delays_provider=delays),
    )
    durations: list[float] = []
    for _ in range(200):
        started = time.monotonic()
        async with client.request(aio_request.get("thing")) as response:
            assert response.status == 200
        durations.append(time.monotonic() - started)
    learned = delays.percentile_of(aio_request.get("thing"))
    assert learned is not None
    assert learned <= 0.05, "fast answers: a hedge within a few ms"
    assert max(durations) < 0.5, "every slow answer was overtaken by a hedge"
    extra = len(server.hits) - 200
    assert 1 <= extra <= 0.05 * 200 + 1


async def test_a_fresh_client_has_three_hedged_attempts_in_flight(
    server: Server, session: aiohttp.ClientSession
) -> None:
    in_flight = 0
    most = 0

    async def slow(hit: int) -> aiohttp.web.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        try:
            await asyncio.sleep(0.4 if hit == 1 else 0.3)
            return await ok(hit)
        finally:
            in_flight -= 1

    server.handler = slow
    client = aio_request.setup(
        transport=aio_request.AioHttpTransport(session),
        endpoint=server.endpoint,
        safe_method_strategy=aio_request.parallel_strategy(
            attempts_count=3, delays_provider=aio_request.constant_delays(delay=0.05)
        ),
        event_hub=aio_request.events.EventHub(),
    )
    assert await run_calls(client, 1) == [200]
    assert len(server.hits) == 3, "both hedges sent by the first call (default budgets)"
    assert most == 3, "all three attempts were in flight together"
    assert server.hits[2] - server.hits[0] < 0.3
