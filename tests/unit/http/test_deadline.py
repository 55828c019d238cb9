"""Deadlines: monotonic, never negative, divisible, and the earliest one wins."""

from __future__ import annotations

import math

import pytest

from aio_request import Deadline
from aio_request.http.deadline import earliest, earliest_within
from aio_request.testing import FakeClock


async def test_from_timeout_counts_down_on_its_clock() -> None:
    clock = FakeClock()
    deadline = Deadline.from_timeout(5, clock=clock)
    assert deadline.timeout == 5
    await clock.advance(2)
    assert deadline.timeout == 3
    assert float(deadline) == 3
    assert deadline.timeout > 0
    await clock.advance(4)
    assert deadline.timeout == 0
    assert deadline.expired
    assert repr(deadline) == "<Deadline [expired]>"


@pytest.mark.parametrize("seconds", [-1, -0.001, math.nan])
def test_negative_or_nan_timeouts_are_refused(seconds: float) -> None:
    with pytest.raises(ValueError, match="seconds must be >= 0"):
        Deadline.from_timeout(seconds)


async def test_division_splits_what_is_left() -> None:
    clock = FakeClock()
    deadline = Deadline.from_timeout(6, clock=clock)
    await clock.advance(2)
    assert (deadline / 2).timeout == 2
    for bad in (0, -1, math.nan):
        with pytest.raises(ValueError, match="divisor must be > 0"):
            deadline / bad


def test_earliest_ignores_none_and_picks_the_soonest() -> None:
    clock = FakeClock()
    late = Deadline.from_timeout(10, clock=clock)
    soon = Deadline.from_timeout(1, clock=clock)
    assert earliest(late, None, soon) is soon
    assert earliest(soon, late) is soon
    assert soon < late
    assert soon <= late


def test_default_clock_is_monotonic_and_real() -> None:
    deadline = Deadline.from_timeout(1)
    assert 0.9 < deadline.timeout <= 1


@pytest.mark.parametrize(
    ("first", "second"),
    [(None, None), (3.0, None), (None, 3.0), (9.0, 2.0), (2.0, 9.0), (5.0, 5.0), (9.0, 8.0)],
)
def test_earliest_within_is_earliest_with_a_cap(first: float | None, second: float | None) -> None:
    clock = FakeClock(start=10.0)
    deadlines = [None if s is None else Deadline.from_timeout(s, clock=clock) for s in (first, second)]
    found = earliest_within(5.0, clock, *deadlines)
    expected = earliest(Deadline.from_timeout(5.0, clock=clock), *deadlines)
    assert found.deadline_at == expected.deadline_at
    assert found.clock is clock
    if expected in deadlines:
        assert found is expected, "a given deadline is returned as is, not copied"
