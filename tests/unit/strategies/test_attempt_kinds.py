"""Attempt kinds are decided by the strategy; the budget charged and the telemetry agree."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

import aio_request
from aio_request import (
    EmptyResponse,
    HedgeBudget,
    RequestStrategy,
    RetryBudget,
    constant_delays,
    get,
    parallel_strategy,
    retry_until_deadline_expired,
    sequential_strategy,
)
from aio_request._core.outcomes import AttemptKind, BudgetKind
from aio_request.events import AttemptStarted, BudgetExhausted
from aio_request.http.response import BufferedResponse, Response
from aio_request.testing import FakeClock, FakeTransport
from tests.unit.telemetry.helpers import Recorder, recorded_hub

FIRST, RETRY, HEDGE = AttemptKind.FIRST, AttemptKind.RETRY, AttemptKind.HEDGE
UNAVAILABLE = EmptyResponse(status=503)
OK = BufferedResponse(status=200)


async def kinds_of_one_call(
    strategy: RequestStrategy,
    answers: Sequence[Response],
    *,
    latency: float,
    timeout: float = 10.0,
    hedge_budget: HedgeBudget | None = None,
    retry_budget: RetryBudget | None = None,
) -> tuple[list[AttemptKind], Recorder, int]:
    clock = FakeClock(autojump=True)
    hub, recorder = recorded_hub()
    served = iter(answers)
    transport = FakeTransport(lambda url, request: next(served), latency=latency, clock=clock)
    client = aio_request.setup(
        transport=transport,
        endpoint="http://svc.test/",
        safe_method_strategy=strategy,
        clock=clock,
        event_hub=hub,
        timeout=timeout,
        hedge_budget=hedge_budget,
        retry_budget=retry_budget,
    )

    async def call() -> int:
        async with client.request(get("x")) as response:
            return response.status

    status = await call()
    return [event.kind for event in recorder.of(AttemptStarted)], recorder, status


async def test_sequential_attempts_after_rejections_are_retries() -> None:
    kinds, _, status = await kinds_of_one_call(
        sequential_strategy(delays_provider=constant_delays(delay=0.1)), [UNAVAILABLE] * 3, latency=0.01
    )
    assert (kinds, status) == ([FIRST, RETRY, RETRY], 503)


async def test_parallel_attempts_alongside_a_slow_one_are_hedges() -> None:
    kinds, _, status = await kinds_of_one_call(
        parallel_strategy(delays_provider=constant_delays(delay=0.1)), [OK] * 3, latency=1.0
    )
    assert (kinds, status) == ([FIRST, HEDGE, HEDGE], 200)


async def test_parallel_attempts_after_fast_rejections_are_retries() -> None:
    kinds, _, status = await kinds_of_one_call(
        parallel_strategy(delays_provider=constant_delays(delay=0.1)),
        [UNAVAILABLE, UNAVAILABLE, OK],
        latency=0.01,
    )
    assert (kinds, status) == ([FIRST, RETRY, RETRY], 200)


async def test_parallel_mixes_kinds_by_what_is_in_flight() -> None:
    clock_answers = [EmptyResponse(status=503), OK, OK]
    latencies = iter([0.01, 1.0, 0.05])
    clock = FakeClock(autojump=True)
    hub, recorder = recorded_hub()
    served = iter(clock_answers)
    transport = FakeTransport(
        lambda url, request: next(served), latency=lambda request: next(latencies), clock=clock
    )
    client = aio_request.setup(
        transport=transport,
        endpoint="http://svc.test/",
        safe_method_strategy=parallel_strategy(delays_provider=constant_delays(delay=0.1)),
        clock=clock,
        event_hub=hub,
    )

    async def call() -> int:
        async with client.request(get("x")) as response:
            return response.status

    assert await call() == 200
    assert [e.kind for e in recorder.of(AttemptStarted)] == [FIRST, RETRY, HEDGE]


async def test_later_rounds_of_retry_until_deadline_start_with_a_retry() -> None:
    strategy = retry_until_deadline_expired(
        parallel_strategy(attempts_count=2, delays_provider=constant_delays(delay=0.1)),
        delays_provider=constant_delays(delay=0.1),
    )
    kinds, _, status = await kinds_of_one_call(strategy, [UNAVAILABLE] * 3 + [OK], latency=0.01)
    assert (kinds, status) == ([FIRST, RETRY, RETRY, RETRY], 200)


async def test_a_retry_after_a_rejection_is_not_charged_to_the_hedge_budget() -> None:
    no_hedges = HedgeBudget(max_extra_load=0, min_hedges_per_second=0)
    kinds, recorder, status = await kinds_of_one_call(
        parallel_strategy(delays_provider=constant_delays(delay=0.1)),
        [UNAVAILABLE, UNAVAILABLE, OK],
        latency=0.01,
        hedge_budget=no_hedges,
        retry_budget=RetryBudget(),
    )
    assert (kinds, status) == ([FIRST, RETRY, RETRY], 200)
    assert recorder.of(BudgetExhausted) == []


async def test_a_hedge_is_refused_by_the_hedge_budget_and_reported_as_a_hedge() -> None:
    no_hedges = HedgeBudget(max_extra_load=0, min_hedges_per_second=0)
    kinds, recorder, status = await kinds_of_one_call(
        parallel_strategy(delays_provider=constant_delays(delay=0.1)),
        [OK] * 3,
        latency=1.0,
        hedge_budget=no_hedges,
        retry_budget=RetryBudget(),
    )
    assert (kinds, status) == ([FIRST], 200)
    refused = recorder.of(BudgetExhausted)
    assert {(e.kind, e.budget) for e in refused} == {(HEDGE, BudgetKind.HEDGE)}
    assert len(refused) == 4, "asked at 0.1, 0.2, 0.4 and 0.8 s, while the first attempt was in flight"


async def test_a_retry_is_refused_by_the_retry_budget_and_reported_as_a_retry() -> None:
    no_retries = RetryBudget(ratio=0, min_retries_per_second=0)
    kinds, recorder, status = await kinds_of_one_call(
        parallel_strategy(delays_provider=constant_delays(delay=0.1)),
        [UNAVAILABLE] * 3,
        latency=0.01,
        retry_budget=no_retries,
        hedge_budget=HedgeBudget(),
    )
    assert (kinds, status) == ([FIRST], 503)
    assert [(e.kind, e.budget) for e in recorder.of(BudgetExhausted)] == [(RETRY, BudgetKind.RETRY)]


@pytest.mark.parametrize("attempts_count", [2, 3, 4])
async def test_a_fresh_client_sends_every_hedge_of_its_first_call(attempts_count: int) -> None:
    """Default budgets: the hedge floor lets a cold client hedge (5 % of nothing is nothing)."""
    clock = FakeClock(autojump=True)
    sent_at: list[float] = []

    def latency(request: object) -> float:
        sent_at.append(clock.now())
        return 1.0

    transport = FakeTransport(lambda url, request: OK, latency=latency, clock=clock)
    client = aio_request.setup(
        transport=transport,
        endpoint="http://svc.test/",
        safe_method_strategy=parallel_strategy(
            attempts_count=attempts_count, delays_provider=constant_delays(delay=0.05)
        ),
        clock=clock,
    )

    async def call() -> int:
        async with client.request(get("x")) as response:
            return response.status

    assert await call() == 200
    assert sent_at == pytest.approx([0.05 * k for k in range(attempts_count)], abs=0.011), "all in flight"


async def test_a_quiet_service_gets_every_hedge_it_asks_for() -> None:
    """Four calls a second for 50 s against a slow server, each asking for two hedges."""
    clock = FakeClock(autojump=True)
    transport = FakeTransport(lambda url, request: OK, latency=0.5, clock=clock)
    hub, recorder = recorded_hub()
    client = aio_request.setup(
        transport=transport,
        endpoint="http://svc.test/",
        safe_method_strategy=parallel_strategy(attempts_count=3, delays_provider=constant_delays(delay=0.1)),
        clock=clock,
        event_hub=hub,
    )

    async def call(index: int) -> None:
        await clock.sleep(index * 0.25)
        async with client.request(get("x")):
            pass

    async def minute() -> None:
        await asyncio.gather(*(call(index) for index in range(200)))

    await minute()
    assert recorder.of(BudgetExhausted) == []
    assert len(transport.requests) == 600, "200 calls, each with both of its hedges"
