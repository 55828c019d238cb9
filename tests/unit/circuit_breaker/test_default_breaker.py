"""DefaultCircuitBreaker: opening, the single half-open probe, closing, events, clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from aio_request.circuit_breaker import (
    CircuitBreaker,
    CircuitState,
    DefaultCircuitBreaker,
    NoopCircuitBreaker,
)
from aio_request.events import CircuitStateChanged, Event, EventHub
from aio_request.testing import FakeClock

FALLBACK = -1
OK = 1
BAD = 0
SCOPE = "http://a.test/"


def make(clock: FakeClock, hub: EventHub | None = None, **options: Any) -> DefaultCircuitBreaker[str, int]:
    settings: dict[str, Any] = {
        "break_duration": 1.0,
        "sampling_duration": 1.0,
        "minimum_throughput": 2,
        "failure_threshold": 0.5,
    }
    settings.update(options)
    return DefaultCircuitBreaker[str, int](
        clock=clock,
        event_hub=hub if hub is not None else EventHub(),
        **settings,
    )


def returning(value: int, calls: list[int] | None = None) -> Callable[[], Awaitable[int]]:
    async def operation() -> int:
        if calls is not None:
            calls.append(value)
        return value

    return operation


async def call(breaker: CircuitBreaker[str, int], value: int, scope: str = SCOPE) -> int:
    return await breaker.execute(
        scope=scope, operation=returning(value), fallback=FALLBACK, is_successful=lambda r: r == OK
    )


async def open_circuit(breaker: CircuitBreaker[str, int]) -> None:
    assert await call(breaker, BAD) == BAD
    assert await call(breaker, BAD) == BAD
    assert breaker.state[SCOPE] is CircuitState.OPEN


def test_the_seed_spelling_builds_a_breaker_with_no_circuits_yet() -> None:
    breaker = DefaultCircuitBreaker[str, int](
        break_duration=1.0, sampling_duration=1.0, minimum_throughput=2, failure_threshold=0.5
    )
    assert dict(breaker.state) == {}


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("break_duration", 0, "break_duration must be a finite number > 0, got 0"),
        ("sampling_duration", -1, "sampling_duration must be a finite number > 0, got -1"),
        ("failure_threshold", 0, r"failure_threshold must be in \(0, 1\], got 0"),
        ("failure_threshold", 1.5, r"failure_threshold must be in \(0, 1\], got 1.5"),
        ("minimum_throughput", 0, "minimum_throughput must be an int >= 1, got 0"),
        ("windows_count", 0, r"windows_count must be an int in \[1, 10000\], got 0"),
    ],
)
def test_invalid_options_name_the_parameter_and_value(option: str, value: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(FakeClock(), None, **{option: value})


async def test_opens_when_failure_rate_reaches_threshold_with_minimum_throughput() -> None:
    breaker = make(FakeClock())
    assert await call(breaker, OK) == OK
    assert await call(breaker, BAD) == BAD, "1 of 2 failed: 50 % >= threshold, circuit opens after it"
    assert breaker.state[SCOPE] is CircuitState.OPEN


async def test_stays_closed_below_minimum_throughput_or_threshold() -> None:
    breaker = make(FakeClock(), minimum_throughput=3, failure_threshold=0.6)
    await call(breaker, BAD)
    await call(breaker, BAD)
    assert breaker.state[SCOPE] is CircuitState.CLOSED, "2 results < minimum_throughput of 3"
    breaker = make(FakeClock(), minimum_throughput=2, failure_threshold=0.6)
    await call(breaker, OK)
    await call(breaker, BAD)
    assert breaker.state[SCOPE] is CircuitState.CLOSED, "50 % < 60 %"


async def test_failures_older_than_the_sampling_duration_do_not_count() -> None:
    clock = FakeClock()
    breaker = make(clock, windows_count=4)
    await call(breaker, BAD)
    await clock.advance(1.0)
    await call(breaker, BAD)
    assert breaker.state[SCOPE] is CircuitState.CLOSED


async def test_open_circuit_returns_the_fallback_without_running_until_break_ends() -> None:
    clock = FakeClock()
    breaker = make(clock)
    await open_circuit(breaker)
    calls: list[int] = []
    result = await breaker.execute(
        scope=SCOPE, operation=returning(OK, calls), fallback=FALLBACK, is_successful=lambda r: r == OK
    )
    assert (result, calls) == (FALLBACK, [])
    await clock.advance(0.999)
    assert await call(breaker, OK) == FALLBACK
    await clock.advance(0.001)
    assert await call(breaker, OK) == OK, "the probe runs once break_duration has passed"
    assert breaker.state[SCOPE] is CircuitState.CLOSED


async def test_half_open_admits_exactly_one_probe_however_long_it_takes() -> None:
    clock = FakeClock()
    breaker = make(clock)
    await open_circuit(breaker)
    await clock.advance(1.0)
    release = asyncio.Event()
    runs: list[int] = []

    async def slow_probe() -> int:
        runs.append(1)
        await release.wait()
        return OK

    probe = asyncio.ensure_future(
        breaker.execute(scope=SCOPE, operation=slow_probe, fallback=FALLBACK, is_successful=lambda r: r == OK)
    )
    await asyncio.sleep(0)
    assert breaker.state[SCOPE] is CircuitState.HALF_OPEN
    others = await asyncio.gather(*(call(breaker, OK) for _ in range(50)))
    assert others == [FALLBACK] * 50
    await clock.advance(30.0)  # far beyond break_duration: no timer ends the half-open state
    assert await call(breaker, OK) == FALLBACK
    assert breaker.state[SCOPE] is CircuitState.HALF_OPEN
    release.set()
    assert await probe == OK
    assert runs == [1]
    assert breaker.state[SCOPE] is CircuitState.CLOSED
    assert await call(breaker, OK) == OK


async def test_a_failed_probe_reopens_for_another_break_duration() -> None:
    clock = FakeClock()
    breaker = make(clock)
    await open_circuit(breaker)
    await clock.advance(1.0)
    assert await call(breaker, BAD) == BAD
    assert breaker.state[SCOPE] is CircuitState.OPEN
    await clock.advance(0.5)
    assert await call(breaker, OK) == FALLBACK
    await clock.advance(0.5)
    assert await call(breaker, OK) == OK


async def test_a_probe_that_raises_counts_as_failure_and_the_error_propagates() -> None:
    clock = FakeClock()
    breaker = make(clock)
    await open_circuit(breaker)
    await clock.advance(1.0)

    async def broken() -> int:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await breaker.execute(scope=SCOPE, operation=broken, fallback=FALLBACK, is_successful=lambda r: True)
    assert breaker.state[SCOPE] is CircuitState.OPEN


async def test_a_cancelled_probe_gives_its_slot_back_so_the_next_call_probes() -> None:
    clock = FakeClock()
    breaker = make(clock)
    await open_circuit(breaker)
    await clock.advance(1.0)

    async def hanging() -> int:
        await asyncio.Event().wait()
        return OK

    probe = asyncio.ensure_future(
        breaker.execute(scope=SCOPE, operation=hanging, fallback=FALLBACK, is_successful=lambda r: True)
    )
    await asyncio.sleep(0)
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    assert breaker.state[SCOPE] is CircuitState.HALF_OPEN
    assert await call(breaker, OK) == OK, "not stuck: the next call is the probe"
    assert breaker.state[SCOPE] is CircuitState.CLOSED


async def test_an_error_in_closed_state_counts_as_a_failure() -> None:
    breaker = make(FakeClock())

    async def broken() -> int:
        raise OSError("down")

    for _ in range(2):
        with pytest.raises(OSError, match="down"):
            await breaker.execute(
                scope=SCOPE, operation=broken, fallback=FALLBACK, is_successful=lambda r: True
            )
    assert breaker.state[SCOPE] is CircuitState.OPEN


async def test_results_of_calls_started_before_opening_do_not_touch_the_open_circuit() -> None:
    clock = FakeClock()
    breaker = make(clock)
    release = asyncio.Event()

    async def late_success() -> int:
        await release.wait()
        return OK

    straggler = asyncio.ensure_future(
        breaker.execute(
            scope=SCOPE, operation=late_success, fallback=FALLBACK, is_successful=lambda r: r == OK
        )
    )
    await asyncio.sleep(0)
    await open_circuit(breaker)
    release.set()
    assert await straggler == OK
    assert breaker.state[SCOPE] is CircuitState.OPEN


async def test_scopes_have_independent_circuits() -> None:
    breaker = make(FakeClock())
    await open_circuit(breaker)
    assert await call(breaker, OK, scope="http://b.test/") == OK
    assert dict(breaker.state) == {SCOPE: CircuitState.OPEN, "http://b.test/": CircuitState.CLOSED}


async def test_every_state_change_is_an_event() -> None:
    clock = FakeClock()
    hub = EventHub()
    events: list[Event] = []
    hub.subscribe(events.append)
    breaker = make(clock, hub)
    await open_circuit(breaker)
    await clock.advance(1.0)
    await call(breaker, BAD)
    await clock.advance(1.0)
    await call(breaker, OK)
    assert events == [
        CircuitStateChanged(SCOPE, CircuitState.CLOSED, CircuitState.OPEN),
        CircuitStateChanged(SCOPE, CircuitState.OPEN, CircuitState.HALF_OPEN),
        CircuitStateChanged(SCOPE, CircuitState.HALF_OPEN, CircuitState.OPEN),
        CircuitStateChanged(SCOPE, CircuitState.OPEN, CircuitState.HALF_OPEN),
        CircuitStateChanged(SCOPE, CircuitState.HALF_OPEN, CircuitState.CLOSED),
    ]


async def test_counts_start_afresh_after_closing() -> None:
    clock = FakeClock()
    breaker = make(clock, minimum_throughput=3)
    for _ in range(3):
        await call(breaker, BAD)
    await clock.advance(1.0)
    assert await call(breaker, OK) == OK, "the probe closes the circuit"
    await call(breaker, OK)
    await call(breaker, BAD)
    assert breaker.state[SCOPE] is CircuitState.CLOSED, "the failures before the break are forgotten"
    await call(breaker, BAD)
    assert breaker.state[SCOPE] is CircuitState.OPEN, "3 new results, 2 failed"


async def test_noop_breaker_always_runs_and_has_no_state() -> None:
    breaker: NoopCircuitBreaker[str, int] = NoopCircuitBreaker()
    for _ in range(5):
        assert await call(breaker, BAD) == BAD
    assert dict(breaker.state) == {}
