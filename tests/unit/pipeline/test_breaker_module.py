"""The circuit breaker inside the client: per endpoint, the 502 fallback, verdicts as results."""

from __future__ import annotations

import pytest

import aio_request
from aio_request import (
    Deadline,
    DefaultResponseClassifier,
    EmptyResponse,
    ResponseVerdict,
    constant_delays,
    parallel_strategy,
    post,
)
from aio_request._core.errors import FailureKind
from aio_request.circuit_breaker import CircuitState, DefaultCircuitBreaker
from aio_request.http.response import BufferedResponse, Response
from aio_request.testing import FakeClock, FakeTransport

ENDPOINT = "http://service.test/api/"


def breaker(clock: FakeClock) -> DefaultCircuitBreaker[str, int]:
    return DefaultCircuitBreaker[str, int](
        break_duration=1.0, sampling_duration=1.0, minimum_throughput=2, failure_threshold=0.5, clock=clock
    )


async def status_and_headers(client: aio_request.Client, **kwargs: object) -> tuple[int, dict[str, str]]:
    async with client.request(post("thing", b"x"), **kwargs) as response:  # type: ignore[arg-type]
        return response.status, dict(response.headers)


async def test_seed_setup_opens_per_endpoint_and_answers_502_without_sending() -> None:
    clock = FakeClock(autojump=True)
    transport = FakeTransport(lambda url, request: EmptyResponse(status=503))
    cb = breaker(clock)
    client = aio_request.setup(transport=transport, endpoint=ENDPOINT, circuit_breaker=cb)
    assert (await status_and_headers(client))[0] == 503
    assert (await status_and_headers(client))[0] == 503
    assert dict(cb.state) == {ENDPOINT: CircuitState.OPEN}
    async with client.request(post("thing", b"x")) as response:
        assert response.status == 502
        assert "X-Circuit-Breaker" in response.headers
        assert "X-Do-Not-Retry" in response.headers
        assert response.failure is not None
        assert response.failure.kind is FailureKind.CIRCUIT_OPEN
    assert len(transport.requests) == 2, "nothing is sent while the circuit is open"


async def test_a_rejected_verdict_counts_as_failure_and_an_accepted_one_as_success() -> None:
    transport = FakeTransport(lambda url, request: EmptyResponse(status=429))
    cb = breaker(FakeClock(autojump=True))
    client = aio_request.setup(transport=transport, endpoint=ENDPOINT, circuit_breaker=cb)
    await status_and_headers(client)
    await status_and_headers(client)
    assert cb.state[ENDPOINT] is CircuitState.OPEN, "429 is a REJECT verdict"

    transport = FakeTransport(lambda url, request: EmptyResponse(status=503))
    cb = breaker(FakeClock(autojump=True))
    classifier = DefaultResponseClassifier(verdict_for_status={503: ResponseVerdict.ACCEPT})
    client = aio_request.setup(
        transport=transport, endpoint=ENDPOINT, circuit_breaker=cb, response_classifier=classifier
    )
    for _ in range(5):
        await status_and_headers(client)
    assert cb.state[ENDPOINT] is CircuitState.CLOSED, "the client's classifier decides what a failure is"


async def test_the_probe_after_break_duration_closes_the_circuit_on_success() -> None:
    clock = FakeClock(autojump=True)
    answers: list[Response] = [
        EmptyResponse(status=500),
        EmptyResponse(status=500),
        BufferedResponse(status=200),
    ]
    transport = FakeTransport(lambda url, request: answers.pop(0))
    cb = breaker(clock)
    client = aio_request.setup(transport=transport, endpoint=ENDPOINT, circuit_breaker=cb, clock=clock)
    await status_and_headers(client)
    await status_and_headers(client)
    assert (await status_and_headers(client))[0] == 502
    await clock.advance(1.0)
    assert (await status_and_headers(client))[0] == 200
    assert cb.state[ENDPOINT] is CircuitState.CLOSED


async def test_attempts_stopped_by_the_low_timeout_guard_are_not_counted() -> None:
    transport = FakeTransport(lambda url, request: BufferedResponse(status=200))
    cb = breaker(FakeClock(autojump=True))
    client = aio_request.setup(transport=transport, endpoint=ENDPOINT, circuit_breaker=cb)
    status, headers = await status_and_headers(client, deadline=Deadline.from_timeout(0))
    assert status == 408
    assert "X-Do-Not-Retry" in headers
    assert dict(cb.state) == {}, "nothing was sent, so nothing is counted"
    assert transport.requests == []


async def test_a_hedge_meeting_the_half_open_circuit_does_not_beat_the_probe() -> None:
    clock = FakeClock(autojump=True)
    answers: list[Response] = [
        EmptyResponse(status=500),
        EmptyResponse(status=500),
        BufferedResponse(status=200),
    ]
    transport = FakeTransport(lambda url, request: answers.pop(0), latency=0.5, clock=clock)
    cb = breaker(clock)
    client = aio_request.setup(
        transport=transport,
        endpoint=ENDPOINT,
        circuit_breaker=cb,
        clock=clock,
        hedge_budget=None,
        safe_method_strategy=parallel_strategy(attempts_count=3, delays_provider=constant_delays(delay=0.1)),
    )

    async def status(method: str) -> int:
        async with client.request(aio_request.request(method, "thing")) as response:
            return response.status

    assert await status("POST") == 500
    assert await status("POST") == 500
    assert cb.state[ENDPOINT] is CircuitState.OPEN
    await clock.advance(1.0)
    assert await status("GET") == 200, "the probe's answer, not the fallback"
    assert cb.state[ENDPOINT] is CircuitState.CLOSED
    assert len(transport.requests) == 3


def test_setup_refuses_a_circuit_breaker_of_the_wrong_type() -> None:
    with pytest.raises(ValueError, match="circuit_breaker must be a CircuitBreaker or None, got 'on'"):
        aio_request.setup(transport=FakeTransport(), endpoint=ENDPOINT, circuit_breaker="on")  # type: ignore[arg-type]
