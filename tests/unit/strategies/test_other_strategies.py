"""Single attempt, retry-until-deadline and method-based strategies."""

from __future__ import annotations

import pytest

from aio_request import (
    Deadline,
    MethodBasedStrategy,
    Priority,
    constant_delays,
    get,
    post,
    request,
    retry_until_deadline_expired,
    sequential_strategy,
    single_attempt_strategy,
)
from aio_request.testing import FakeClock
from tests.unit.strategies.scripted import ENDPOINT, ScriptedSender


async def test_single_attempt_returns_whatever_it_gets() -> None:
    clock = FakeClock(autojump=True)
    sender = ScriptedSender(clock, [(503, 0), (200, 0)])
    async with single_attempt_strategy().request(
        sender, ENDPOINT, get("x"), Deadline.from_timeout(1, clock=clock), Priority.LOW
    ) as result:
        assert result.response.status == 503
    assert sender.closed == [0]


async def test_retry_until_deadline_repeats_the_inner_strategy_until_accepted() -> None:
    clock = FakeClock(autojump=True)
    sender = ScriptedSender(clock, [(503, 0)] * 5 + [(200, 0)])
    strategy = retry_until_deadline_expired(
        sequential_strategy(attempts_count=2, delays_provider=constant_delays(delay=0.1)),
        delays_provider=constant_delays(delay=0.2),
    )
    deadline = Deadline.from_timeout(10, clock=clock)

    async def work() -> int:
        async with strategy.request(sender, ENDPOINT, get("x"), deadline, Priority.NORMAL) as result:
            return result.response.status

    assert await work() == 200
    assert len(sender.started_at) == 6
    assert sender.open_attempts == []


async def test_retry_until_deadline_waits_out_the_deadline_when_no_retry_fits() -> None:
    """The last round starts at the deadline with nothing left: a real client answers it 408."""
    clock = FakeClock(autojump=True)
    sender = ScriptedSender(clock, [(503, 0)] * 100)
    strategy = retry_until_deadline_expired(
        single_attempt_strategy(), delays_provider=constant_delays(delay=0.3)
    )
    deadline = Deadline.from_timeout(1, clock=clock)

    async def work() -> int:
        async with strategy.request(sender, ENDPOINT, get("x"), deadline, Priority.NORMAL) as result:
            return result.response.status

    assert await work() == 503
    assert sender.started_at == pytest.approx([0.0, 0.3, 0.6, 0.9, 1.0])
    assert sender.deadlines[-1] == 0
    assert clock.now() == pytest.approx(1.0)


async def test_method_based_strategy_picks_by_method_or_default() -> None:
    clock = FakeClock(autojump=True)
    deadline = Deadline.from_timeout(1, clock=clock)
    strategy = MethodBasedStrategy(
        {"GET": sequential_strategy(delays_provider=constant_delays(delay=0))},
        default=single_attempt_strategy(),
    )
    for req, expected_attempts in ((get("x"), 3), (post("x"), 1)):
        sender = ScriptedSender(clock, [(503, 0)] * 3)

        async def work() -> None:
            async with strategy.request(sender, ENDPOINT, req, deadline, Priority.NORMAL):  # noqa: B023
                pass

        await work()
        assert len(sender.started_at) == expected_attempts
    with pytest.raises(ValueError, match="no strategy for method 'PUT'"):
        MethodBasedStrategy({}).request(
            ScriptedSender(clock, []), ENDPOINT, request("PUT", "x"), deadline, Priority.NORMAL
        )
