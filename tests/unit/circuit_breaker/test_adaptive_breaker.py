"""AdaptiveThrottlingCircuitBreaker: the SRE book's local rejection probability, per scope."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

import aio_request
from aio_request import AdaptiveThrottlingCircuitBreaker, EmptyResponse, get, single_attempt_strategy
from aio_request.circuit_breaker import CircuitState
from aio_request.events import CircuitStateChanged, Event, EventHub
from aio_request.http.response import BufferedResponse
from aio_request.testing import FakeClock, FakeTransport

FALLBACK = -1
OK = 1
BAD = 0
SCOPE = "http://a.test/"


def make(
    clock: FakeClock, *, draws: float = 0.999999, hub: EventHub | None = None, **options: Any
) -> AdaptiveThrottlingCircuitBreaker[str, int]:
    return AdaptiveThrottlingCircuitBreaker[str, int](
        clock=clock, event_hub=hub if hub is not None else EventHub(), rng=lambda: draws, **options
    )


async def run(breaker: AdaptiveThrottlingCircuitBreaker[str, int], result: int, scope: str = SCOPE) -> int:
    async def operation() -> int:
        return result

    return await breaker.execute(
        scope=scope, operation=operation, fallback=FALLBACK, is_successful=lambda value: value == OK
    )


@pytest.mark.parametrize(
    ("accepts", "failures", "expected"),
    [(0, 0, 0.0), (0, 1, 0.5), (0, 9, 0.9), (5, 5, 0.0), (3, 7, 4 / 11), (2, 8, 6 / 11), (1, 9, 8 / 11)],
)
async def test_the_probability_is_the_sre_formula(accepts: int, failures: int, expected: float) -> None:
    clock = FakeClock()
    breaker = make(clock)
    for _ in range(accepts):
        await run(breaker, OK)
    for _ in range(failures):
        await run(breaker, BAD)
    # requests = accepts + failures; p = max(0, (requests - 2 * accepts) / (requests + 1))
    assert breaker.rejection_probability(SCOPE) == pytest.approx(expected)


async def test_a_rejected_request_counts_as_a_request_without_accept() -> None:
    clock = FakeClock()
    breaker = make(clock, draws=0.0)  # every draw below any probability > 0: reject
    assert await run(breaker, BAD) == BAD
    assert await run(breaker, OK) == FALLBACK, "p = 1/2 after one failure"
    assert breaker.rejection_probability(SCOPE) == pytest.approx(2 / 3)


async def test_the_draw_decides_and_never_rejects_at_probability_zero() -> None:
    clock = FakeClock()
    breaker = make(clock, draws=0.0)
    for _ in range(5):
        assert await run(breaker, OK) == OK
    never = make(clock, draws=0.999999)
    for _ in range(20):
        assert await run(never, BAD) == BAD, "a draw above p lets the request through"


async def test_during_a_full_outage_most_requests_are_rejected_and_some_still_probe() -> None:
    clock = FakeClock()
    breaker = AdaptiveThrottlingCircuitBreaker[str, int](
        clock=clock, event_hub=EventHub(), rng=random.Random(7).random, window_seconds=10
    )
    results = [await run(breaker, BAD) for _ in range(1000)]
    sent = results.count(BAD)
    assert sent < 50, "p = requests / (requests + 1) tends to 1"
    assert sent > 1, "but never all: the backend keeps being sampled"


async def test_recovery_starts_with_the_first_success_and_old_results_slide_out() -> None:
    clock = FakeClock()
    breaker = AdaptiveThrottlingCircuitBreaker[str, int](
        clock=clock, event_hub=EventHub(), rng=random.Random(3).random, window_seconds=1.0, windows_count=10
    )
    for _ in range(100):
        await run(breaker, BAD)
    assert breaker.rejection_probability(SCOPE) > 0.9
    passed = []
    for _ in range(1000):
        await clock.advance(0.01)
        passed.append(await run(breaker, OK) == OK)
    assert breaker.rejection_probability(SCOPE) == 0.0, "accepts outweigh requests again"
    assert sum(passed[:100]) < 50, "the first second after the outage is still throttled"
    assert all(passed[-150:]), "some windows later the throttle is gone"


async def test_cancelled_requests_are_not_counted_and_errors_count_as_refusals() -> None:
    clock = FakeClock()
    breaker = make(clock)

    async def cancelled() -> int:
        raise asyncio.CancelledError

    async def broken() -> int:
        raise RuntimeError("boom")

    with pytest.raises(asyncio.CancelledError):
        await breaker.execute(scope=SCOPE, operation=cancelled, fallback=FALLBACK, is_successful=bool)
    assert breaker.rejection_probability(SCOPE) == 0.0
    with pytest.raises(RuntimeError):
        await breaker.execute(scope=SCOPE, operation=broken, fallback=FALLBACK, is_successful=bool)
    assert breaker.rejection_probability(SCOPE) == pytest.approx(0.5)


async def test_scopes_are_separate_and_state_and_events_follow_the_probability() -> None:
    clock = FakeClock()
    hub = EventHub()
    events: list[Event] = []
    hub.subscribe(events.append)
    breaker = make(clock, hub=hub, window_seconds=1.0)
    await run(breaker, BAD)
    await run(breaker, OK, scope="http://b.test/")
    assert breaker.rejection_probability(SCOPE) == 0.5
    assert dict(breaker.state) == {SCOPE: CircuitState.HALF_OPEN, "http://b.test/": CircuitState.CLOSED}
    await clock.advance(1.5)
    assert dict(breaker.state)[SCOPE] is CircuitState.CLOSED, "the failure left the window"
    await run(breaker, OK)
    assert events == [
        CircuitStateChanged(scope=SCOPE, old=CircuitState.CLOSED, new=CircuitState.HALF_OPEN),
        CircuitStateChanged(scope=SCOPE, old=CircuitState.HALF_OPEN, new=CircuitState.CLOSED),
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"k": 0.5}, r"k must be a number in \[1, 1000\], got 0.5"),
        ({"window_seconds": 0}, "window_seconds must be"),
        ({"windows_count": 0}, "windows_count must be"),
    ],
)
def test_invalid_options_name_the_parameter(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AdaptiveThrottlingCircuitBreaker[str, int](**options)


async def test_a_client_behind_the_throttle_gets_the_local_502_and_sends_less() -> None:
    transport = FakeTransport(lambda url, request: EmptyResponse(status=503))
    breaker = AdaptiveThrottlingCircuitBreaker[str, Any](event_hub=EventHub(), rng=random.Random(1).random)
    client = aio_request.setup(
        transport=transport,
        endpoint=SCOPE,
        safe_method_strategy=single_attempt_strategy(),
        circuit_breaker=breaker,
        event_hub=EventHub(),
    )
    statuses = []
    for _ in range(200):
        async with client.request(get("x")) as response:
            statuses.append(response.status)
    assert len(transport.requests) < 40
    assert statuses.count(502) == 200 - len(transport.requests)
    healthy = FakeTransport(lambda url, request: BufferedResponse(status=200))
    calm = aio_request.setup(transport=healthy, endpoint=SCOPE, circuit_breaker=make(FakeClock()))
    async with calm.request(get("x")) as response:
        assert response.status == 200
