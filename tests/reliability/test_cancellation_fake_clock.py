"""Cancellation at any point of any strategy, on a fake clock: exhaustive and free of real time.

A tracking transport counts every response it hands out and every close; a property test
(hypothesis) draws the strategy, the latencies and statuses of the attempts and the point where
the caller is cancelled (loop turns before the call starts, a fake time, or inside the caller's
block). Whatever it draws, every response handed out is closed once, no task and no sleeper of
the clock remains, and nothing warns. The deterministic tests pin down the races that random
points hit rarely.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType

import pytest
import yarl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDictProxy

import aio_request
from aio_request import Deadline, DefaultResponseClassifier, Priority, Request, ResponseWithVerdict
from aio_request.http.response import ClosableResponse, EmptyResponse
from aio_request.http.transport import Transport
from aio_request.testing import FakeClock

from .leaks import LeakWatch

ENDPOINT = yarl.URL("http://service.test/")


class TrackedResponse(ClosableResponse):
    """A response that records its close in the transport that made it."""

    def __init__(self, transport: TrackingTransport, status: int) -> None:
        self._transport = transport
        self._status = status

    @property
    def status(self) -> int:
        return self._status

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        return EmptyResponse(status=self._status).headers

    @property
    def elapsed(self) -> float:
        return 0.0

    async def read(self) -> bytes:
        return b""

    async def close(self) -> None:
        self._transport.open.discard(self)
        self._transport.closes += 1


class TrackingTransport(Transport):
    """Attempt ``i`` takes ``script[i] = (status, latency)`` seconds of the fake clock."""

    def __init__(self, clock: FakeClock, script: Sequence[tuple[int, float]], cleanup_turns: int = 3) -> None:
        self.clock = clock
        self.script = script
        self.cleanup_turns = cleanup_turns
        """Loop turns a cancelled attempt takes to finish (closing a connection is not instant)."""
        self.sent = 0
        self.closes = 0
        self.open: set[TrackedResponse] = set()
        self.handed_out = 0

    async def send(self, endpoint: yarl.URL, request: Request, timeout: float) -> ClosableResponse:
        status, latency = self.script[self.sent % len(self.script)]
        self.sent += 1
        try:
            if latency >= timeout:
                await self.clock.sleep(timeout)
                return EmptyResponse(status=408)
            await self.clock.sleep(latency)
        except asyncio.CancelledError:
            for _ in range(self.cleanup_turns):
                await asyncio.sleep(0)
            raise
        response = TrackedResponse(self, status)
        self.open.add(response)
        self.handed_out += 1
        return response


STRATEGIES = {
    "single": aio_request.single_attempt_strategy(),
    "sequential": aio_request.sequential_strategy(delays_provider=aio_request.constant_delays(delay=0.1)),
    "parallel": aio_request.parallel_strategy(delays_provider=aio_request.constant_delays(delay=0.1)),
    "until-deadline": aio_request.retry_until_deadline_expired(
        aio_request.parallel_strategy(
            attempts_count=2, delays_provider=aio_request.constant_delays(delay=0.1)
        ),
        delays_provider=aio_request.constant_delays(delay=0.2),
    ),
}

attempt_scripts = st.lists(
    st.tuples(st.sampled_from([200, 404, 429, 489, 503]), st.sampled_from([0.0, 0.01, 0.05, 0.12, 0.3, 5.0])),
    min_size=1,
    max_size=4,
)
cancel_points = st.one_of(
    st.tuples(st.just("turns"), st.integers(0, 30)),
    st.tuples(st.just("time"), st.floats(0.0, 1.5)),
    st.tuples(st.just("in-block"), st.floats(0.0, 0.5)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    strategy_name=st.sampled_from(sorted(STRATEGIES)),
    script=attempt_scripts,
    point=cancel_points,
    cleanup_turns=st.integers(0, 30),
)
async def test_cancelling_anywhere_closes_every_response_and_leaves_no_task(
    strategy_name: str, script: list[tuple[int, float]], point: tuple[str, float], cleanup_turns: int
) -> None:
    clock = FakeClock()
    transport = TrackingTransport(clock, script, cleanup_turns)
    client = aio_request.setup(
        transport=transport,
        endpoint=ENDPOINT,
        timeout=2.0,
        clock=clock,
        safe_method_strategy=STRATEGIES[strategy_name],
        retry_budget=None,
        hedge_budget=None,
    )
    kind, at = point
    in_block = asyncio.Event()

    async def call() -> None:
        async with client.request(aio_request.get("x")) as response:
            await response.read()
            in_block.set()
            if kind == "in-block":
                await clock.sleep(10)

    with LeakWatch() as watch:
        task = asyncio.create_task(call())
        if kind == "turns":
            for _ in range(int(at)):
                await asyncio.sleep(0)
        elif kind == "time":
            await clock.advance(at)
        else:
            while not task.done() and not in_block.is_set():
                await clock.advance(0.05)
            await clock.advance(at)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

        assert transport.open == set(), f"{len(transport.open)} response(s) never closed"
        assert transport.closes == transport.handed_out, "a response was closed more than once"
        assert clock.sleepers == 0, "a sleep of the strategy outlived the call"
        watch.assert_clean()


@dataclasses.dataclass
class _Attempts:
    """Attempt 0 never answers and, once cancelled, needs ``release`` before it can finish;
    attempt 1 answers 200 after 0.05 s. Records what was opened and closed."""

    clock: FakeClock
    release: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    loser_cancelled: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    opened: list[int] = dataclasses.field(default_factory=list)
    closed: list[int] = dataclasses.field(default_factory=list)
    started: int = 0

    def __call__(
        self, endpoint: yarl.URL, request: Request, deadline: Deadline, priority: Priority
    ) -> AbstractAsyncContextManager[ResponseWithVerdict[ClosableResponse]]:
        index, self.started = self.started, self.started + 1
        return _Attempt(self, index)


class _Attempt(AbstractAsyncContextManager[ResponseWithVerdict[ClosableResponse]]):
    def __init__(self, attempts: _Attempts, index: int) -> None:
        self.attempts = attempts
        self.index = index

    async def __aenter__(self) -> ResponseWithVerdict[ClosableResponse]:
        attempts = self.attempts
        if self.index == 0:
            try:
                await attempts.clock.sleep(60)
            except asyncio.CancelledError:
                # Like closing a connection: cleanup that takes a few loop turns.
                attempts.loser_cancelled.set()
                await attempts.release.wait()
                raise
        await attempts.clock.sleep(0.05)
        attempts.opened.append(self.index)
        response = EmptyResponse(status=200)
        return ResponseWithVerdict(response, DefaultResponseClassifier().classify(response))

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.attempts.closed.append(self.index)


async def test_caller_cancelled_while_the_losers_finish_still_closes_the_winner() -> None:
    """The winner is chosen, the race waits for a slow-to-cancel loser, the caller is cancelled:
    the winner will never reach the caller, so it must be closed before CancelledError."""
    clock = FakeClock()
    attempts = _Attempts(clock)
    strategy = aio_request.parallel_strategy(
        attempts_count=2, delays_provider=aio_request.constant_delays(delay=0.1)
    )
    deadline = Deadline.from_timeout(10, clock=clock)

    async def call() -> None:
        async with strategy.request(attempts, ENDPOINT, aio_request.get("x"), deadline, Priority.NORMAL):
            pytest.fail("the caller was cancelled before the block")

    task = asyncio.create_task(call())
    await clock.advance(0.2)
    await asyncio.wait_for(attempts.loser_cancelled.wait(), 1)
    assert attempts.opened == [1], "attempt 1 won and the race is waiting for attempt 0"

    task.cancel()
    for _ in range(5):
        await asyncio.sleep(0)
    attempts.release.set()

    with pytest.raises(asyncio.CancelledError):
        await task
    assert attempts.closed == [1]


@pytest.mark.parametrize(
    "strategy_name",
    [
        "parallel",
        "sequential",
        "until-deadline",
    ],
)
async def test_a_delays_provider_that_fails_closes_the_response_it_would_have_retried(
    strategy_name: str,
) -> None:
    def broken(attempt: int) -> float:
        return math.nan if attempt >= 1 else 0.01

    strategies = {
        "parallel": aio_request.parallel_strategy(delays_provider=broken),
        "sequential": aio_request.sequential_strategy(delays_provider=broken),
        "until-deadline": aio_request.retry_until_deadline_expired(
            aio_request.single_attempt_strategy(), delays_provider=broken
        ),
    }
    clock = FakeClock()
    transport = TrackingTransport(clock, [(503, 0.01)])
    client = aio_request.setup(
        transport=transport,
        endpoint=ENDPOINT,
        clock=clock,
        safe_method_strategy=strategies[strategy_name],
        retry_budget=None,
        hedge_budget=None,
    )

    async def call() -> None:
        async with client.request(aio_request.get("x")):
            pass

    task = asyncio.create_task(call())
    await clock.advance(1)
    with pytest.raises(ValueError, match="delays provider returned nan"):
        await task
    assert transport.open == set()
