"""A client with a balanced endpoint provider, on an in-memory transport."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
import yarl

import aio_request
from aio_request import (
    BalancedEndpointProvider,
    CircuitState,
    DefaultCircuitBreaker,
    DnsReplicas,
    EmptyResponse,
    LeastOutstandingPolicy,
    RoundRobinPolicy,
    StaticReplicas,
    constant_delays,
    get,
    parallel_strategy,
    post,
    sequential_strategy,
)
from aio_request._core.errors import FailureKind
from aio_request.client.balanced_endpoint import NoReplicasError
from aio_request.events import BudgetExhausted, Event, EventHub, ReplicaAttemptFinished, RequestStarted
from aio_request.http.request import Request
from aio_request.http.response import Response
from aio_request.testing import FakeClock, FakeTransport

A, B, C = (yarl.URL(f"http://10.0.0.{i}:8080/") for i in (1, 2, 3))


def answer_by_host(statuses: dict[yarl.URL, int]) -> FakeTransport:
    def handler(url: yarl.URL, request: Request) -> Response:
        return EmptyResponse(status=statuses[url.with_path("/")])

    return FakeTransport(handler)


def endpoints(transport: FakeTransport) -> list[yarl.URL]:
    return [sent.endpoint for sent in transport.requests]


async def status_of(client: aio_request.Client, request: Request | None = None) -> int:
    async with client.request(request or get("thing")) as response:
        return response.status


async def test_a_retry_goes_to_another_replica() -> None:
    transport = answer_by_host({A: 500, B: 200, C: 200})
    provider = BalancedEndpointProvider(StaticReplicas([A, B, C]), random=lambda: 0.0)
    client = aio_request.setup(
        transport=transport,
        endpoint_provider=provider,
        safe_method_strategy=sequential_strategy(delays_provider=constant_delays()),
    )
    assert await status_of(client) == 200
    assert endpoints(transport) == [A, B]


async def test_every_attempt_of_a_call_uses_a_new_replica_while_one_is_left() -> None:
    transport = answer_by_host({A: 500, B: 500, C: 500})
    provider = BalancedEndpointProvider(StaticReplicas([A, B]), outlier_detection=None)
    client = aio_request.setup(
        transport=transport,
        endpoint_provider=provider,
        safe_method_strategy=sequential_strategy(attempts_count=3, delays_provider=constant_delays()),
        retry_budget=None,
    )
    for _ in range(10):
        assert await status_of(client) == 500
    for call in range(10):
        first, second, _third = endpoints(transport)[3 * call : 3 * call + 3]
        assert first != second


async def test_a_hedge_goes_to_another_replica() -> None:
    clock = FakeClock(autojump=True)

    async def handler(url: yarl.URL, request: Request) -> Response:
        await clock.sleep(5.0 if url.host == A.host else 0.01)
        return EmptyResponse(status=200)

    transport = FakeTransport(handler, clock=clock)
    provider = BalancedEndpointProvider(StaticReplicas([A, B]), random=lambda: 0.0, clock=clock)
    client = aio_request.setup(
        transport=transport,
        endpoint_provider=provider,
        clock=clock,
        safe_method_strategy=parallel_strategy(attempts_count=2, delays_provider=constant_delays(delay=0.1)),
    )
    started = clock.now()
    assert await status_of(client) == 200
    assert endpoints(transport) == [A, B]
    assert clock.now() - started < 0.2
    assert provider.balancer.replicas[0].pending == 0  # the cancelled hedge loser was released


async def test_budgets_and_call_telemetry_are_keyed_by_the_service_url() -> None:
    events: list[Event] = []
    hub = EventHub()
    hub.subscribe(events.append)
    transport = answer_by_host({A: 500, B: 500})
    provider = BalancedEndpointProvider(
        StaticReplicas([A, B], service_url="http://users.internal/"), event_hub=hub
    )
    client = aio_request.setup(
        transport=transport,
        endpoint_provider=provider,
        event_hub=hub,
        retry_budget=aio_request.RetryBudget(ratio=0.0, min_retries_per_second=0.0),
    )
    assert await status_of(client) == 500
    assert [e.endpoint for e in events if isinstance(e, RequestStarted)] == ["http://users.internal/"]
    assert [e.scope for e in events if isinstance(e, BudgetExhausted)] == ["http://users.internal/"]
    assert all(sent.request.headers["Host"] == "users.internal" for sent in transport.requests)


async def test_the_circuit_breaker_is_per_replica_and_its_fallback_moves_on() -> None:
    clock = FakeClock()
    statuses = {A: 503, B: 200}
    transport = answer_by_host(statuses)
    breaker = DefaultCircuitBreaker[str, int](
        break_duration=10.0, sampling_duration=10.0, minimum_throughput=2, failure_threshold=0.5, clock=clock
    )
    provider = BalancedEndpointProvider(
        StaticReplicas([A, B]), policy=RoundRobinPolicy(), outlier_detection=None, clock=clock
    )
    client = aio_request.setup(
        transport=transport, endpoint_provider=provider, circuit_breaker=breaker, clock=clock
    )
    results = [await status_of(client, post("thing")) for _ in range(10)]
    assert results == [503, 200, 503] + [200] * 7
    assert dict(breaker.state) == {str(A): CircuitState.OPEN, str(B): CircuitState.CLOSED}
    assert endpoints(transport).count(A) == 2
    statuses[B] = 503
    results = [await status_of(client, post("thing")) for _ in range(12)]
    assert dict(breaker.state) == {str(A): CircuitState.OPEN, str(B): CircuitState.OPEN}
    assert results[-1] == 502  # every replica's circuit is open: now the local fallback


async def test_attempts_to_ip_replicas_carry_the_services_host_header() -> None:
    async def resolver(host: str, port: int) -> Sequence[str]:
        assert (host, port) == ("users.internal", 8080)
        return ["127.0.0.2"]

    transport = answer_by_host({yarl.URL("http://127.0.0.2:8080/"): 200})
    async with BalancedEndpointProvider(
        DnsReplicas("http://users.internal:8080/", resolver=resolver)
    ) as provider:
        client = aio_request.setup(transport=transport, endpoint_provider=provider)
        assert await status_of(client) == 200
    (sent,) = transport.requests
    assert sent.url == yarl.URL("http://127.0.0.2:8080/thing")
    assert sent.request.headers["Host"] == "users.internal:8080"


async def test_without_any_replica_an_attempt_is_a_connect_failure() -> None:
    async def resolver(host: str, port: int) -> Sequence[str]:
        return []

    transport = answer_by_host({})
    async with BalancedEndpointProvider(DnsReplicas("http://users.internal/", resolver=resolver)) as provider:
        client = aio_request.setup(
            transport=transport,
            endpoint_provider=provider,
            safe_method_strategy=aio_request.single_attempt_strategy(),
        )
        async with client.request(get("thing")) as response:
            assert response.status == 489
            assert response.failure is not None
            assert response.failure.kind is FailureKind.CONNECT
            assert isinstance(response.failure.exception, NoReplicasError)
    assert transport.requests == []


async def test_concurrent_first_calls_start_the_source_once() -> None:
    lookups = 0
    release = asyncio.Event()

    async def resolver(host: str, port: int) -> Sequence[str]:
        nonlocal lookups
        lookups += 1
        await release.wait()  # every call is waiting for the first set of replicas
        return ["127.0.0.2"]

    transport = answer_by_host({yarl.URL("http://127.0.0.2/"): 200})
    provider = BalancedEndpointProvider(
        DnsReplicas("http://users.internal/", resolver=resolver), policy=LeastOutstandingPolicy()
    )
    client = aio_request.setup(transport=transport, endpoint_provider=provider)
    try:
        calls = asyncio.gather(*(status_of(client) for _ in range(5)))
        for _ in range(20):
            await asyncio.sleep(0)
        assert lookups == 1, "five calls waiting, one lookup"
        release.set()
        assert await calls == [200] * 5
        assert lookups == 1
    finally:
        await provider.aclose()


def test_the_provider_refuses_what_is_not_a_replica_source() -> None:
    with pytest.raises(ValueError, match="replicas must be a StaticReplicas or DnsReplicas, got"):
        BalancedEndpointProvider(["http://a/"])  # type: ignore[arg-type]


async def test_a_call_cancelled_by_its_caller_releases_its_replica() -> None:
    clock = FakeClock()
    reached = asyncio.Event()

    async def handler(url: yarl.URL, request: Request) -> Response:
        reached.set()
        await clock.sleep(60.0)
        return EmptyResponse(status=200)

    events: list[Event] = []
    hub = EventHub()
    hub.subscribe(events.append)
    provider = BalancedEndpointProvider(StaticReplicas([A, B]), clock=clock, event_hub=hub)
    client = aio_request.setup(
        transport=FakeTransport(handler, clock=clock), endpoint_provider=provider, clock=clock, event_hub=hub
    )
    call = asyncio.ensure_future(status_of(client))
    await reached.wait()
    assert sum(replica.pending for replica in provider.balancer.replicas) == 1
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert [replica.pending for replica in provider.balancer.replicas] == [0, 0]
    (finished,) = [e for e in events if isinstance(e, ReplicaAttemptFinished)]
    assert (finished.outcome, finished.status) == ("cancelled", 499)
