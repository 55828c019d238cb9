"""Hedged attempts: the first ACCEPT wins, losers are cancelled and closed, nothing leaks."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager

import pytest
import yarl

from aio_request import Deadline, Priority, constant_delays, get, linear_backoff_delays, parallel_strategy
from aio_request._core.outcomes import AttemptKind
from aio_request.http.request import Request
from aio_request.http.response import ClosableResponse
from aio_request.strategies import AttemptSender, ResponseWithVerdict
from aio_request.testing import FakeClock
from tests.unit.strategies.scripted import ENDPOINT, ScriptedSender


async def race(
    clock: FakeClock,
    sender: ScriptedSender,
    *,
    attempts_count: int = 3,
    delay: float = 0.1,
    start_after_rejection: bool = False,
) -> tuple[int, list[int]]:
    strategy = parallel_strategy(
        attempts_count=attempts_count,
        delays_provider=constant_delays(delay=delay),
        start_after_rejection=start_after_rejection,
    )
    deadline = Deadline.from_timeout(10, clock=clock)

    async def work() -> tuple[int, list[int]]:
        async with strategy.request(sender, ENDPOINT, get("x"), deadline, Priority.NORMAL) as result:
            return result.response.status, sender.open_attempts

    return await work()


async def test_a_fast_hedge_wins_and_the_slow_attempt_is_cancelled_before_the_body() -> None:
    clock = FakeClock(autojump=True)
    sender = ScriptedSender(clock, [(200, 1.0), (201, 0.05), (202, 0)])
    status, open_inside = await race(clock, sender)
    assert status == 201
    assert sender.started_at == pytest.approx([0, 0.1], abs=0.011), "won before the third was due"
    assert open_inside == [1], "only the winner is open while the caller reads it"
    assert sender.cancelled == [0]
    assert sender.open_attempts == []


async def test_after_a_rejection_the_next_attempt_starts_at_its_scheduled_delay() -> None:
    clock = FakeClock(autojump=True)
    sender = ScriptedSender(clock, [(503, 0.02), (200, 0.02)])
    status, _ = await race(clock, sender, attempts_count=2, delay=0.5)
    assert status == 200
    assert sender.started_at == pytest.approx([0, 0.5], abs=0.011), "one by one, delays between"


async def test_the_readme_example_waits_its_delay_after_a_fast_failure() -> None:
    clock = FakeClock(autojump=True)
    sender = ScriptedSender(clock, [(503, 0.001), (503, 0.001), (200, 0.001)])
    strategy = parallel_strategy(
        attempts_count=3, delays_provider=linear_backoff_delays(min_delay_seconds=0.1, delay_multiplier=0.1)
    )
    deadline = Deadline.from_timeout(10, clock=clock)

    async def work() -> int:
        async with strategy.request(sender, ENDPOINT, get("x"), deadline, Priority.NORMAL) as result:
            return result.response.status

    assert await work() == 200
    first, second, third = sender.started_at
    assert 0.16 - 0.002 <= second - first <= 0.24 + 0.002, "delay(1) = 0.2 s, jitter ±20 %"
    assert 0.24 - 0.002 <= third - second <= 0.36 + 0.002, "delay(2) = 0.3 s, jitter ±20 %"


async def test_start_after_rejection_starts_the_next_attempt_at_once() -> None:
    clock = FakeClock(autojump=True)
    sender = ScriptedSender(clock, [(503, 0.02), (200, 0.02)])
    status, _ = await race(clock, sender, attempts_count=2, delay=0.5, start_after_rejection=True)
    assert status == 200
    assert sender.started_at == pytest.approx([0, 0.02], abs=0.011)


def test_start_after_rejection_must_be_a_bool() -> None:
    with pytest.raises(ValueError, match="start_after_rejection must be a bool, got 1"):
        parallel_strategy(start_after_rejection=1)  # type: ignore[arg-type]


async def test_never_more_than_attempts_count_and_a_rejection_is_returned() -> None:
    clock = FakeClock(autojump=True)
    sender = ScriptedSender(clock, [(503, 0.01)] * 5)
    status, open_inside = await race(clock, sender, attempts_count=3)
    assert status == 503
    assert len(sender.started_at) == 3
    assert len(open_inside) == 1
    assert sender.open_attempts == []


async def test_first_attempt_accepted_before_the_delay_sends_no_hedge() -> None:
    clock = FakeClock(autojump=True)
    sender = ScriptedSender(clock, [(200, 0.05), (200, 0)])
    status, _ = await race(clock, sender)
    assert status == 200
    assert len(sender.started_at) == 1


async def test_an_attempt_error_propagates_unwrapped_and_cancels_the_rest() -> None:
    clock = FakeClock(autojump=True)
    sender = ScriptedSender(clock, [(200, 5), (200, 0.01)])
    sender.failing_attempt = 1
    with pytest.raises(RuntimeError, match="attempt 1 failed"):
        await race(clock, sender, attempts_count=2)
    assert sender.cancelled == [0]
    assert sender.open_attempts == []


async def test_cancelling_the_caller_mid_race_leaves_no_task_and_nothing_open() -> None:
    clock = FakeClock()
    sender = ScriptedSender(clock, [(200, 5), (200, 5), (200, 5)])
    strategy = parallel_strategy(attempts_count=3, delays_provider=constant_delays(delay=0.1))
    deadline = Deadline.from_timeout(10, clock=clock)
    before = asyncio.all_tasks()

    async def call() -> None:
        async with strategy.request(sender, ENDPOINT, get("x"), deadline, Priority.NORMAL):
            pass

    task = asyncio.ensure_future(call())
    for _ in range(30):
        for _ in range(10):
            await asyncio.sleep(0)
        await clock.advance(0.01)
    assert len(sender.started_at) == 3
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(sender.cancelled) == [0, 1, 2]
    assert asyncio.all_tasks() == before


async def test_single_attempt_count_sends_one() -> None:
    clock = FakeClock(autojump=True)
    sender = ScriptedSender(clock, [(503, 0), (200, 0)])
    status, _ = await race(clock, sender, attempts_count=1)
    assert status == 503
    assert len(sender.started_at) == 1


class RationedSender(AttemptSender):
    """A scripted sender whose budget refuses the first ``refusals`` extra attempts."""

    def __init__(self, scripted: ScriptedSender, refusals: int) -> None:
        self.scripted = scripted
        self.refusals = refusals
        self.asked: list[tuple[float, AttemptKind]] = []

    def __call__(
        self, endpoint: yarl.URL, request: Request, deadline: Deadline, priority: Priority
    ) -> AbstractAsyncContextManager[ResponseWithVerdict[ClosableResponse]]:
        return self.scripted(endpoint, request, deadline, priority)

    def send(
        self, endpoint: yarl.URL, request: Request, deadline: Deadline, priority: Priority, kind: AttemptKind
    ) -> AbstractAsyncContextManager[ResponseWithVerdict[ClosableResponse]]:
        return self.scripted(endpoint, request, deadline, priority)

    def admit_extra_attempt(self, kind: AttemptKind) -> bool:
        self.asked.append((self.scripted.clock.now(), kind))
        if self.refusals:
            self.refusals -= 1
            return False
        return True


async def test_a_refused_hedge_is_asked_for_again_after_doubling_delays() -> None:
    clock = FakeClock(autojump=True)
    scripted = ScriptedSender(clock, [(200, 1.0), (201, 0.01)])
    sender = RationedSender(scripted, refusals=2)
    strategy = parallel_strategy(attempts_count=2, delays_provider=constant_delays(delay=0.1))
    deadline = Deadline.from_timeout(10, clock=clock)

    async def work() -> int:
        async with strategy.request(sender, ENDPOINT, get("x"), deadline, Priority.NORMAL) as result:
            return result.response.status

    assert await work() == 201
    assert [round(at, 2) for at, _ in sender.asked] == [0.1, 0.2, 0.4]
    assert {kind for _, kind in sender.asked} == {AttemptKind.HEDGE}
    assert scripted.started_at == pytest.approx([0, 0.4], abs=0.011)


async def test_a_refused_hedge_with_no_delay_is_not_asked_again() -> None:
    clock = FakeClock(autojump=True)
    scripted = ScriptedSender(clock, [(200, 1.0), (201, 0.01)])
    sender = RationedSender(scripted, refusals=1)
    strategy = parallel_strategy(attempts_count=2, delays_provider=constant_delays(delay=0))
    deadline = Deadline.from_timeout(10, clock=clock)

    async def work() -> int:
        async with strategy.request(sender, ENDPOINT, get("x"), deadline, Priority.NORMAL) as result:
            return result.response.status

    assert await work() == 200
    assert len(sender.asked) == 1, "no spinning while the first attempt runs"


async def test_a_refused_retry_ends_the_call_with_the_rejection() -> None:
    clock = FakeClock(autojump=True)
    scripted = ScriptedSender(clock, [(503, 0.01), (200, 0.01)])
    sender = RationedSender(scripted, refusals=1)
    strategy = parallel_strategy(attempts_count=2, delays_provider=constant_delays(delay=0.1))
    deadline = Deadline.from_timeout(10, clock=clock)

    async def work() -> int:
        async with strategy.request(sender, ENDPOINT, get("x"), deadline, Priority.NORMAL) as result:
            return result.response.status

    assert await work() == 503
    assert [kind for _, kind in sender.asked] == [AttemptKind.RETRY]
    assert len(scripted.started_at) == 1
