"""The events one ``client.request`` call emits, on a fake clock and an in-memory transport."""

from __future__ import annotations

import asyncio
import logging

import pytest

import aio_request
from aio_request import EmptyResponse, get
from aio_request._core.errors import FailureKind, TransportFailure
from aio_request.events import (
    AttemptFinished,
    AttemptStarted,
    EventHub,
    RequestFinished,
    RequestStarted,
    ServerRequestFinished,
)
from aio_request.http.response import BufferedResponse
from aio_request.testing import FakeClock

from .helpers import ENDPOINT, Recorder, client, recorded_hub, status_of

OK = BufferedResponse(status=200, body=b"ok")
UNAVAILABLE = EmptyResponse(status=503)


async def test_a_single_attempt_emits_four_events_with_template_labels_and_fake_clock_durations() -> None:
    hub, recorder = recorded_hub()
    clock = FakeClock(autojump=True)
    c, _ = client(hub, routes={("GET", "users/{id}"): OK}, clock=clock, latency=0.25)
    request = get("users/{id}", path_parameters={"id": 42})
    assert await status_of(c, request) == 200

    assert recorder.names() == ["RequestStarted", "AttemptStarted", "AttemptFinished", "RequestFinished"]
    started, attempt_started, attempt, finished = recorder.events
    assert isinstance(started, RequestStarted)
    assert (started.endpoint, started.method, started.path, started.priority) == (
        ENDPOINT,
        "GET",
        "users/{id}",
        "normal",
    )
    assert started.request is request
    assert started.timeout == pytest.approx(20.0)
    assert isinstance(attempt_started, AttemptStarted)
    assert (attempt_started.attempt, attempt_started.kind) == (1, "first")
    assert isinstance(attempt, AttemptFinished)
    assert (attempt.status, attempt.verdict, attempt.failure, attempt.cancelled, attempt.error) == (
        200,
        "accept",
        None,
        False,
        None,
    )
    assert attempt.duration == pytest.approx(0.25)
    assert isinstance(finished, RequestFinished)
    assert (finished.status, finished.attempts, finished.circuit_breaker, finished.cancelled) == (
        200,
        1,
        False,
        False,
    )
    assert finished.duration == pytest.approx(0.25)
    assert len({event.request_id for event in recorder.events}) == 1  # type: ignore[union-attr]


async def test_sequential_retries_are_first_then_retry_with_their_verdicts() -> None:
    hub, recorder = recorded_hub()
    answers = iter([UNAVAILABLE, UNAVAILABLE, OK])
    c, _ = client(hub, lambda url, request: next(answers))
    assert await status_of(c, get("x")) == 200
    attempts = recorder.of(AttemptFinished)
    assert [(a.attempt, a.kind, a.status, a.verdict) for a in attempts] == [
        (1, "first", 503, "reject"),
        (2, "retry", 503, "reject"),
        (3, "retry", 200, "accept"),
    ]
    assert recorder.of(RequestFinished)[0].attempts == 3


async def test_a_hedge_started_while_the_first_attempt_waits_is_a_hedge_and_the_loser_is_cancelled() -> None:
    hub, recorder = recorded_hub()
    clock = FakeClock(autojump=True)
    latencies = iter([1.0, 0.05])
    c, _ = client(
        hub,
        lambda url, request: OK,
        clock=clock,
        latency=lambda request: next(latencies),
        safe_method_strategy=aio_request.parallel_strategy(
            attempts_count=2, delays_provider=aio_request.constant_delays(delay=0.1)
        ),
    )
    assert await status_of(c, get("x")) == 200
    starts = recorder.of(AttemptStarted)
    assert [(s.attempt, s.kind) for s in starts] == [(1, "first"), (2, "hedge")]
    by_number = {a.attempt: a for a in recorder.of(AttemptFinished)}
    assert (by_number[2].status, by_number[2].verdict, by_number[2].cancelled) == (200, "accept", False)
    assert by_number[2].duration == pytest.approx(0.05)
    loser = by_number[1]
    assert (loser.status, loser.verdict, loser.cancelled, loser.error) == (499, None, True, None)
    assert loser.duration == pytest.approx(0.15)
    assert recorder.names()[-1] == "RequestFinished", "every attempt ends before the call does"
    assert recorder.of(RequestFinished)[0].duration == pytest.approx(0.15)


async def test_a_call_the_caller_cancels_finishes_with_499() -> None:
    hub, recorder = recorded_hub()
    clock = FakeClock()
    c, _ = client(hub, lambda url, request: OK, clock=clock, latency=5.0)
    task = asyncio.ensure_future(status_of(c, get("slow")))
    await clock.advance(1.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    attempt = recorder.of(AttemptFinished)[0]
    assert (attempt.status, attempt.cancelled) == (499, True)
    finished = recorder.of(RequestFinished)[0]
    assert (finished.status, finished.cancelled, finished.error) == (499, True, None)
    assert finished.duration == pytest.approx(1.0)


async def test_a_call_that_raises_finishes_with_status_0_and_the_error() -> None:
    hub, recorder = recorded_hub()
    c, _ = client(hub, routes={})  # no route: the fake transport raises LookupError
    with pytest.raises(LookupError):
        await status_of(c, get("nowhere"))
    attempt = recorder.of(AttemptFinished)[0]
    assert (attempt.status, attempt.cancelled, type(attempt.error)) == (0, False, LookupError)
    finished = recorder.of(RequestFinished)[0]
    assert (finished.status, finished.cancelled, type(finished.error)) == (0, False, LookupError)


async def test_a_synthetic_response_names_its_local_cause() -> None:
    hub, recorder = recorded_hub()
    clock = FakeClock(autojump=True)
    c, _ = client(
        hub,
        lambda url, request: OK,
        clock=clock,
        latency=30.0,
        safe_method_strategy=aio_request.single_attempt_strategy(),
    )
    assert await status_of(c, get("x")) == 408
    assert recorder.of(AttemptFinished)[0].failure == "timeout"
    finished = recorder.of(RequestFinished)[0]
    assert (finished.status, finished.failure, finished.circuit_breaker) == (408, "timeout", False)


async def test_a_circuit_breaker_fallback_is_flagged() -> None:
    hub, recorder = recorded_hub()
    fallback = EmptyResponse(status=502, failure=TransportFailure(FailureKind.CIRCUIT_OPEN))
    c, _ = client(
        hub, lambda url, request: fallback, safe_method_strategy=aio_request.single_attempt_strategy()
    )
    assert await status_of(c, get("x")) == 502
    finished = recorder.of(RequestFinished)[0]
    assert (finished.status, finished.failure, finished.circuit_breaker) == (502, "circuit_open", True)


async def test_a_real_circuit_breaker_reports_transitions_and_flags_its_fallback() -> None:
    hub, recorder = recorded_hub()
    breaker = aio_request.DefaultCircuitBreaker[str, aio_request.ClosableResponse](
        break_duration=60,
        failure_threshold=0.5,
        minimum_throughput=2,
        sampling_duration=60,
        event_hub=hub,
    )
    c, _ = client(
        hub,
        lambda url, request: UNAVAILABLE,
        circuit_breaker=breaker,
        safe_method_strategy=aio_request.single_attempt_strategy(),
    )
    statuses = [await status_of(c, get("x")) for _ in range(3)]
    assert statuses == [503, 503, 502]
    assert recorder.of(RequestFinished)[-1].circuit_breaker is True
    assert [(str(e.old), str(e.new)) for e in recorder.of(aio_request.events.CircuitStateChanged)] == [
        ("closed", "open")
    ]


async def test_a_client_nobody_listens_to_builds_no_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object) -> None:
        raise AssertionError("telemetry built for an inactive hub")

    monkeypatch.setattr(aio_request.client.client, "CallTelemetry", forbidden)
    c, _ = client(EventHub(), lambda url, request: OK)
    assert await status_of(c, get("x")) == 200


async def test_only_the_events_some_listener_takes_are_built() -> None:
    hub = EventHub()
    recorder = Recorder()
    hub.subscribe(recorder, event_types=[RequestFinished])
    c, _ = client(hub, lambda url, request: OK)
    assert await status_of(c, get("x")) == 200
    assert recorder.names() == ["RequestFinished"]


async def test_a_failing_listener_is_logged_and_the_request_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    hub, recorder = recorded_hub()

    def broken(event: object) -> None:
        raise RuntimeError("listener bug")

    hub.subscribe(broken)
    c, _ = client(hub, lambda url, request: OK)
    with caplog.at_level(logging.ERROR):
        assert await status_of(c, get("x")) == 200
    assert len(recorder.events) == 4
    assert (
        sum("listener bug" in (r.exc_text or "") or "failed" in r.getMessage() for r in caplog.records) == 4
    )


async def test_server_events_are_not_built_by_clients() -> None:
    hub, recorder = recorded_hub()
    c, _ = client(hub, lambda url, request: OK)
    await status_of(c, get("x"))
    assert not recorder.of(ServerRequestFinished)
