"""A shed answer (503 + X-Request-Shed): retried at once, also for POST, within the budget; never
counted against the circuit breaker."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

import aio_request
from aio_request import EmptyResponse, get, post
from aio_request.circuit_breaker import CircuitState, DefaultCircuitBreaker
from aio_request.http.response import BufferedResponse, Response
from aio_request.policies.budget import RetryBudget
from aio_request.policies.classify import is_shed
from aio_request.testing import FakeClock, FakeTransport

OK = BufferedResponse(status=200, body=b"ok")
SHED = EmptyResponse(
    status=503, headers=CIMultiDictProxy(CIMultiDict({"X-Request-Shed": "queue_full", "Retry-After": "1"}))
)
PLAIN_503 = EmptyResponse(status=503)


def scripted(*answers: Response) -> FakeTransport:
    remaining = list(answers)

    def answer(url: object, request: object) -> Response:
        return remaining.pop(0) if len(remaining) > 1 else remaining[0]

    return FakeTransport(answer)


async def status_of(client: aio_request.Client, request: aio_request.Request) -> int:
    async with client.request(request) as response:
        return response.status


def test_is_shed_needs_both_the_status_and_the_marker() -> None:
    assert is_shed(SHED)
    assert not is_shed(PLAIN_503)
    marked_500 = EmptyResponse(status=500, headers=SHED.headers)
    assert not is_shed(marked_500)


async def test_a_shed_post_is_sent_again_once() -> None:
    transport = scripted(SHED, OK)
    client = aio_request.setup(transport=transport, endpoint="http://s.test/")
    assert await status_of(client, post("thing", b"x")) == 200
    assert len(transport.requests) == 2


async def test_a_plain_503_post_is_not_sent_again() -> None:
    transport = scripted(PLAIN_503, OK)
    client = aio_request.setup(transport=transport, endpoint="http://s.test/")
    assert await status_of(client, post("thing", b"x")) == 503
    assert len(transport.requests) == 1


async def test_a_post_shed_twice_returns_the_second_shed_answer() -> None:
    transport = scripted(SHED, SHED, OK)
    client = aio_request.setup(transport=transport, endpoint="http://s.test/")
    assert await status_of(client, post("thing", b"x")) == 503
    assert len(transport.requests) == 2


async def test_the_retry_budget_still_rations_shed_retries() -> None:
    transport = scripted(SHED, OK)
    client = aio_request.setup(
        transport=transport,
        endpoint="http://s.test/",
        retry_budget=RetryBudget(ratio=0.0, min_retries_per_second=0.0),
    )
    assert await status_of(client, post("thing", b"x")) == 503
    assert len(transport.requests) == 1


async def test_a_shed_get_is_retried_without_waiting_for_the_delay_or_retry_after() -> None:
    clock = FakeClock(autojump=True)
    answers = [SHED, SHED, OK]
    transport = FakeTransport(lambda url, request: answers.pop(0), clock=clock)
    client = aio_request.setup(transport=transport, endpoint="http://s.test/", clock=clock)
    assert await status_of(client, get("thing")) == 200
    assert len(transport.requests) == 3
    assert clock.now() == 0.0


async def test_a_plain_503_get_still_waits_for_its_retry_after() -> None:
    clock = FakeClock(autojump=True)
    headers = CIMultiDictProxy(CIMultiDict({"Retry-After": "1"}))
    answers: list[Response] = [EmptyResponse(status=503, headers=headers), OK]
    transport = FakeTransport(lambda url, request: answers.pop(0), clock=clock)
    client = aio_request.setup(transport=transport, endpoint="http://s.test/", clock=clock)
    assert await status_of(client, get("thing")) == 200
    assert clock.now() == pytest.approx(1.0, abs=0.01)


async def test_shed_answers_never_open_the_circuit() -> None:
    clock = FakeClock(autojump=True)
    breaker = DefaultCircuitBreaker[str, aio_request.ClosableResponse](
        break_duration=10, failure_threshold=0.5, minimum_throughput=2, sampling_duration=10, clock=clock
    )
    transport = FakeTransport(lambda url, request: SHED, clock=clock)
    client = aio_request.setup(
        transport=transport,
        endpoint="http://s.test/",
        circuit_breaker=breaker,
        clock=clock,
        retry_budget=None,
    )
    for _ in range(5):
        assert await status_of(client, post("thing", b"x")) == 503
    assert breaker.state.get("http://s.test/", CircuitState.CLOSED) is CircuitState.CLOSED
    control = DefaultCircuitBreaker[str, aio_request.ClosableResponse](
        break_duration=10, failure_threshold=0.5, minimum_throughput=2, sampling_duration=10, clock=clock
    )
    plain = FakeTransport(lambda url, request: PLAIN_503, clock=clock)
    opened = aio_request.setup(
        transport=plain, endpoint="http://s.test/", circuit_breaker=control, clock=clock, retry_budget=None
    )
    for _ in range(3):
        await status_of(opened, post("thing", b"x"))
    assert control.state["http://s.test/"] is CircuitState.OPEN  # a plain 503 does count


def hedging_client(answers: list[Response], clock: FakeClock) -> tuple[aio_request.Client, FakeTransport]:
    """A client hedging every 0.5 s (3 attempts) over ``answers``, given in order."""
    transport = FakeTransport(lambda url, request: answers.pop(0), clock=clock)
    strategy = aio_request.parallel_strategy(
        attempts_count=3, delays_provider=aio_request.constant_delays(delay=0.5)
    )
    client = aio_request.setup(
        transport=transport, endpoint="http://s.test/", clock=clock, safe_method_strategy=strategy
    )
    return client, transport


async def test_hedging_sends_a_shed_attempt_again_at_once_despite_its_retry_after() -> None:
    clock = FakeClock(autojump=True)
    client, transport = hedging_client([SHED, OK], clock)
    assert await status_of(client, get("thing")) == 200
    assert len(transport.requests) == 2
    assert clock.now() == 0.0, "not at the next hedge's time (0.5 s), nor after Retry-After (1 s)"


async def test_hedging_still_waits_for_the_next_hedge_after_a_plain_rejection() -> None:
    clock = FakeClock(autojump=True)
    client, _ = hedging_client([PLAIN_503, OK], clock)
    assert await status_of(client, get("thing")) == 200
    assert clock.now() == pytest.approx(0.5, abs=0.01)


async def test_hedging_stops_on_a_plain_503_with_retry_after() -> None:
    clock = FakeClock(autojump=True)
    headers = CIMultiDictProxy(CIMultiDict({"Retry-After": "1"}))
    client, transport = hedging_client([EmptyResponse(status=503, headers=headers), OK], clock)
    assert await status_of(client, get("thing")) == 503
    assert len(transport.requests) == 1
