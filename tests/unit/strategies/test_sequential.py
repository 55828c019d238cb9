"""Sequential retries: delays, early stop, per-attempt deadlines and closing."""

from __future__ import annotations

import pytest

from aio_request import (
    Deadline,
    Priority,
    constant_delays,
    get,
    sequential_strategy,
    split_deadline_between_attempts,
)
from aio_request.testing import FakeClock
from tests.unit.strategies.scripted import ENDPOINT, ScriptedSender


async def run(
    clock: FakeClock, sender: ScriptedSender, timeout: float = 10, **options: object
) -> tuple[int, list[int]]:
    strategy = sequential_strategy(**options)  # type: ignore[arg-type]
    deadline = Deadline.from_timeout(timeout, clock=clock)

    async def work() -> tuple[int, list[int]]:
        async with strategy.request(sender, ENDPOINT, get("x"), deadline, Priority.NORMAL) as result:
            return result.response.status, list(sender.closed)

    return await work()


async def test_retries_after_delays_until_accepted_and_closes_rejected_attempts() -> None:
    clock = FakeClock(autojump=True)
    sender = ScriptedSender(clock, [(503, 0), (489, 0), (200, 0)])
    status, closed_inside = await run(clock, sender, delays_provider=constant_delays(delay=0.1))
    assert status == 200
    assert sender.started_at == pytest.approx([0, 0.1, 0.2], abs=0.011)
    assert closed_inside == [0, 1]
    assert sender.closed == [0, 1, 2]


async def test_returns_the_last_response_when_every_attempt_is_rejected() -> None:
    clock = FakeClock(autojump=True)
    sender = ScriptedSender(clock, [(503, 0)] * 3)
    status, _ = await run(clock, sender, delays_provider=constant_delays(delay=0.01))
    assert status == 503
    assert len(sender.started_at) == 3
    assert sender.open_attempts == []


async def test_accepted_first_attempt_sends_nothing_more() -> None:
    clock = FakeClock(autojump=True)
    sender = ScriptedSender(clock, [(404, 0), (200, 0)])
    status, _ = await run(clock, sender)
    assert status == 404
    assert len(sender.started_at) == 1


async def test_stops_when_the_deadline_is_shorter_than_the_next_delay() -> None:
    clock = FakeClock(autojump=True)
    sender = ScriptedSender(clock, [(503, 0.1), (200, 0)])
    status, _ = await run(clock, sender, timeout=1.0, delays_provider=constant_delays(delay=1.0))
    assert status == 503
    assert len(sender.started_at) == 1


async def test_split_deadline_between_attempts_gives_each_a_share() -> None:
    clock = FakeClock(autojump=True)
    sender = ScriptedSender(clock, [(503, 0)] * 3)
    await run(
        clock,
        sender,
        timeout=9,
        delays_provider=constant_delays(delay=0),
        deadline_provider=split_deadline_between_attempts(),
    )
    assert sender.deadlines == pytest.approx([3, 4.5, 9], abs=0.02)


@pytest.mark.parametrize("attempts_count", [0, -1])
def test_attempts_count_below_one_is_refused(attempts_count: int) -> None:
    with pytest.raises(ValueError, match=f"attempts_count must be an int >= 1, got {attempts_count}"):
        sequential_strategy(attempts_count=attempts_count)
