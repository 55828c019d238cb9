"""The adaptive delays provider: percentile per template, clamping, window, what is learned."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

import aio_request
from aio_request import EmptyResponse, get, parallel_strategy, post, sequential_strategy
from aio_request._core.errors import FailureKind, TransportFailure
from aio_request.http.request import Request
from aio_request.http.response import BufferedResponse, Response
from aio_request.policies.observer import RequestResponseObserver
from aio_request.policies.percentile_delays import (
    BINS_PER_DOUBLING,
    PercentileBasedRequestAttemptDelaysProvider,
)
from aio_request.testing import FakeClock, FakeTransport

USER = get("users/{id}", path_parameters={"id": 1})
RESOLUTION = 2 ** (1 / BINS_PER_DOUBLING)


def ok(elapsed: float) -> BufferedResponse:
    return BufferedResponse(status=200, elapsed=elapsed)


def provider(clock: FakeClock | None = None, **options: Any) -> PercentileBasedRequestAttemptDelaysProvider:
    return PercentileBasedRequestAttemptDelaysProvider(clock=clock or FakeClock(), **options)


def test_before_any_data_the_delay_is_min_delay_times_attempt() -> None:
    delays = provider(min_delay_seconds=0.05)
    assert delays(USER, 1) == 0.05
    assert delays(USER, 3) == pytest.approx(0.15)
    assert delays.percentile_of(USER) is None


@pytest.mark.parametrize("percentile", [0.5, 0.9, 0.95, 0.99, 1.0])
def test_the_learned_delay_is_the_percentile_never_below_it_and_within_one_bin_above(
    percentile: float,
) -> None:
    rng = random.Random(7)
    latencies = [rng.lognormvariate(math.log(0.2), 0.8) for _ in range(5000)]
    delays = provider(percentile=percentile, min_delay_seconds=0.001, max_delay_seconds=100)
    for latency in latencies:
        delays.observe(USER, ok(latency))
    exact = sorted(latencies)[math.ceil(percentile * len(latencies)) - 1]
    learned = delays(USER, 1)
    assert exact <= learned * (1 + 1e-9)
    assert learned <= exact * RESOLUTION * (1 + 1e-9)
    assert delays(USER, 2) == pytest.approx(2 * learned)


def test_the_delay_is_clamped_between_min_and_max() -> None:
    delays = provider(min_delay_seconds=0.05, max_delay_seconds=2)
    delays.observe(USER, ok(0.001))
    assert delays(USER, 1) == 0.05
    slow = provider(min_delay_seconds=0.05, max_delay_seconds=2)
    slow.observe(USER, ok(50.0))
    assert slow(USER, 1) == 2
    assert slow(USER, 2) == 4, "the clamp applies to the percentile, then times the attempt"


def test_latencies_are_kept_per_method_and_url_template_never_per_id() -> None:
    delays = provider(min_delay_seconds=0.01)
    for user_id in range(100):
        delays.observe(get("users/{id}", path_parameters={"id": user_id}), ok(0.5))
    assert delays(get("users/{id}", path_parameters={"id": 12345}), 1) == pytest.approx(0.5, rel=0.05)
    assert delays(get("orders/{id}", path_parameters={"id": 1}), 1) == 0.01
    assert delays(post("users/{id}", path_parameters={"id": 1}), 1) == 0.01


@pytest.mark.parametrize(
    "response",
    [
        EmptyResponse(status=503, elapsed=0.5),
        EmptyResponse(status=500, elapsed=0.5),
        EmptyResponse(status=429, elapsed=0.5),
        EmptyResponse(status=408, elapsed=0.5),
        EmptyResponse(status=489, elapsed=0.5, failure=TransportFailure(FailureKind.CONNECT)),
        EmptyResponse(status=502, elapsed=0.5, failure=TransportFailure(FailureKind.CIRCUIT_OPEN)),
        BufferedResponse(status=200, elapsed=-1),
        BufferedResponse(status=200, elapsed=math.nan),
        BufferedResponse(status=200, elapsed=math.inf),
        BufferedResponse(status=200, elapsed=-math.inf),
    ],
)
def test_failures_synthetic_responses_and_unknown_latencies_are_not_learned(response: Response) -> None:
    delays = provider(min_delay_seconds=0.01)
    delays.observe(USER, response)
    assert delays.percentile_of(USER) is None


def test_client_errors_answered_normally_are_learned() -> None:
    delays = provider(min_delay_seconds=0.01)
    delays.observe(USER, EmptyResponse(status=404, elapsed=0.5))
    assert delays(USER, 1) == pytest.approx(0.5, rel=0.05)


async def test_old_time_buckets_slide_out_of_the_window() -> None:
    clock = FakeClock()
    delays = provider(clock, min_delay_seconds=0.01, window_size_seconds=300, buckets_count=2)
    delays.observe(USER, ok(1.0))
    await clock.advance(150)
    assert delays(USER, 1) == pytest.approx(1.0, rel=0.05), "the previous bucket is still in the window"
    for _ in range(10):
        delays.observe(USER, ok(0.1))
    assert delays(USER, 1) == pytest.approx(1.0, rel=0.05), "p95 of 11 values is the slow one"
    await clock.advance(150)
    assert delays(USER, 1) == pytest.approx(0.1, rel=0.05), "the first bucket, with the slow one, is gone"
    await clock.advance(150)
    assert delays(USER, 1) == 0.01, "both buckets are over: back to min_delay_seconds"


async def test_a_newer_bucket_survives_when_an_older_one_is_dropped() -> None:
    clock = FakeClock()
    delays = provider(clock, min_delay_seconds=0.01, window_size_seconds=30, buckets_count=3)
    delays.observe(USER, ok(2.0))
    await clock.advance(10)
    delays.observe(USER, ok(0.2))
    await clock.advance(20)
    assert delays(USER, 1) == pytest.approx(0.2, rel=0.05)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"percentile": 0}, r"percentile must be in \(0, 1\], got 0"),
        ({"percentile": 1.5}, r"percentile must be in \(0, 1\], got 1.5"),
        ({"min_delay_seconds": -1}, "min_delay_seconds must be a finite number >= 0, got -1"),
        ({"max_delay_seconds": math.inf}, r"max_delay_seconds must be a number in \[0, 86400\], got inf"),
        ({"min_delay_seconds": 2, "max_delay_seconds": 1}, r"max_delay_seconds must be >= min_delay_seconds"),
        ({"window_size_seconds": 0}, r"window_size_seconds must be a number in \[0.001, 2.592e\+06\], got 0"),
        ({"buckets_count": 0}, r"buckets_count must be an int in \[1, 1000\], got 0"),
    ],
)
def test_invalid_options_name_the_parameter_and_value(options: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        provider(None, **options)


def test_a_zero_minimum_delay_is_allowed() -> None:
    delays = provider(min_delay_seconds=0, max_delay_seconds=1)
    assert delays(USER, 1) == 0
    delays.observe(USER, ok(0.00001))
    assert 0 < delays(USER, 1) <= 0.0001


async def test_setup_registers_a_strategy_delays_provider_that_observes() -> None:
    delays = provider(min_delay_seconds=0.001)
    transport = FakeTransport(lambda url, request: BufferedResponse(status=200))
    client = aio_request.setup(
        transport=transport,
        endpoint="http://service.test/",
        safe_method_strategy=parallel_strategy(delays_provider=delays),
        unsafe_method_strategy=sequential_strategy(delays_provider=delays),
    )
    async with client.request(USER) as response:
        assert response.status == 200
    async with client.request(post("users/{id}", path_parameters={"id": 1})) as response:
        assert response.status == 200
    assert delays.percentile_of(USER) is not None
    assert delays.percentile_of(post("users/{id}", path_parameters={"id": 1})) is not None


class Recorder(RequestResponseObserver):
    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    def observe(self, request: Request, response: Response) -> None:
        self.seen.append((request.url.path, response.status))


class Broken(RequestResponseObserver):
    def observe(self, request: Request, response: Response) -> None:
        raise RuntimeError("observer bug")


async def test_observers_see_every_attempt_sent_with_the_template_and_never_break_a_call() -> None:
    recorder = Recorder()
    answers = [EmptyResponse(status=503), BufferedResponse(status=200)]
    transport = FakeTransport(lambda url, request: answers.pop(0))
    client = aio_request.setup(
        transport=transport,
        endpoint="http://service.test/",
        safe_method_strategy=sequential_strategy(delays_provider=aio_request.constant_delays()),
        response_observers=[Broken(), recorder],
    )
    async with client.request(USER) as response:
        assert response.status == 200
    assert recorder.seen == [("users/{id}", 503), ("users/{id}", 200)]


def test_setup_refuses_something_that_is_not_an_observer() -> None:
    with pytest.raises(ValueError, match="response_observers must hold RequestResponseObserver, got 1"):
        aio_request.setup(
            transport=FakeTransport(),
            endpoint="http://service.test/",
            response_observers=[1],  # type: ignore[list-item]
        )


def test_the_default_floor_lets_a_fast_service_hedge_within_milliseconds() -> None:
    delays = provider()
    assert delays(USER, 1) == 0.005, "before any data: the 5 ms default floor (0.2.9: 50 ms)"
    for _ in range(100):
        delays.observe(USER, ok(0.004))
    assert delays(USER, 1) == pytest.approx(0.005), "a 4 ms p95 is clamped to the floor"


def a_call_client(
    strategy: aio_request.RequestStrategy, *, by_method: bool = True
) -> tuple[aio_request.Client, FakeTransport]:
    transport = FakeTransport(lambda url, request: BufferedResponse(status=200))
    client = aio_request.setup(
        transport=transport,
        endpoint="http://service.test/",
        safe_method_strategy=strategy if by_method else None,
    )
    return client, transport


async def test_a_provider_wrapped_in_retry_until_deadline_learns() -> None:
    delays = provider()
    client, _ = a_call_client(
        aio_request.retry_until_deadline_expired(parallel_strategy(delays_provider=delays))
    )
    async with client.request(USER):
        pass
    assert delays.percentile_of(USER) is not None, "it learned"


async def test_a_provider_in_a_by_method_strategy_learns() -> None:
    delays = provider()
    strategy = aio_request.MethodBasedStrategy({"GET": sequential_strategy(delays_provider=delays)})
    client, _ = a_call_client(aio_request.retry_until_deadline_expired(strategy))
    async with client.request(USER):
        pass
    assert delays.percentile_of(USER) is not None, "it learned"


async def test_a_per_call_strategy_brings_its_provider_along() -> None:
    delays = provider()
    client, _ = a_call_client(sequential_strategy())
    async with client.request(USER, strategy=parallel_strategy(delays_provider=delays)):
        pass
    assert delays.percentile_of(USER) is not None, "it learned"
    other = post("users/{id}", path_parameters={"id": 1})
    async with client.request(other):
        pass
    assert delays.percentile_of(other) is None, "calls using another strategy do not feed it"


async def test_a_provider_given_twice_is_told_once_per_attempt() -> None:
    seen = Recorder()

    class LearningDelays(aio_request.RequestAttemptDelaysProvider, RequestResponseObserver):
        def __call__(self, request: Request, attempt: int) -> float:
            return 0.0

        def observe(self, request: Request, response: Response) -> None:
            seen.observe(request, response)

    learning = LearningDelays()
    transport = FakeTransport(lambda url, request: BufferedResponse(status=200))
    client = aio_request.setup(
        transport=transport,
        endpoint="http://service.test/",
        safe_method_strategy=sequential_strategy(delays_provider=learning),
        unsafe_method_strategy=parallel_strategy(delays_provider=learning),
        response_observers=[learning],
    )
    async with client.request(USER):
        pass
    assert seen.seen == [("users/{id}", 200)]


def test_strategies_report_the_observers_they_hold_recursively() -> None:
    delays = provider()
    other = provider()
    strategy = aio_request.MethodBasedStrategy(
        {"GET": aio_request.retry_until_deadline_expired(parallel_strategy(delays_provider=delays))},
        default=sequential_strategy(delays_provider=other),
    )
    assert strategy.observers() == (delays, other)
    assert aio_request.single_attempt_strategy().observers() == ()
    assert sequential_strategy().observers() == (), "a plain delays function observes nothing"


async def test_attempts_that_sent_nothing_are_not_observed() -> None:
    recorder = Recorder()
    client = aio_request.setup(
        transport=FakeTransport(lambda url, request: BufferedResponse(status=200)),
        endpoint="http://service.test/",
        response_observers=[recorder],
        low_timeout_threshold=1.0,
        timeout=0.5,
    )
    async with client.request(USER) as response:
        assert response.status == 408, "the low-timeout guard answered"
    assert recorder.seen == []
