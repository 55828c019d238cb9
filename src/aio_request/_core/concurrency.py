"""The one place that creates tasks: a staggered race of attempts.

Why not :class:`asyncio.TaskGroup` or :func:`asyncio.wait`: a task group re-raises attempt
errors wrapped in an ``ExceptionGroup`` and gives no hook to release the results of attempts
that finished in the same instant as the winner, and ``asyncio.wait`` costs several loop
iterations per call, which dominated the price of a hedged request. The race below keeps the
same discipline by hand — every task it creates is cancelled if still running and awaited
before it returns or raises, every result that is not returned is handed to ``discard`` — and
wakes on one future poked by the tasks' done callbacks and by a timer of the injected clock
(:meth:`~aio_request._core.clock.Clock.call_later`: a loop timer on the real clock, no task).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar

from aio_request._core.clock import Clock, Timer

T = TypeVar("T")

_log = logging.getLogger(__name__)


class _Race(Generic[T]):
    """The state of one staggered race; :meth:`run` is the whole race."""

    __slots__ = (
        "_best",
        "_clock",
        "_count",
        "_delay_before",
        "_discard",
        "_gives_up",
        "_has_best",
        "_is_winner",
        "_loop",
        "_may_start",
        "_postponed",
        "_running",
        "_start",
        "_started",
        "_starts_next_at_once",
        "_timer",
        "_timer_fired",
        "_wake",
    )

    def __init__(
        self,
        start: Callable[[int, int], Coroutine[Any, Any, T]],
        *,
        count: int,
        delay_before: Callable[[int, int], float | None],
        is_winner: Callable[[T], bool],
        discard: Callable[[T], Awaitable[None]],
        may_start: Callable[[int], bool],
        gives_up: Callable[[T], bool],
        starts_next_at_once: Callable[[T], bool],
        clock: Clock,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._start = start
        self._count = count
        self._delay_before = delay_before
        self._is_winner = is_winner
        self._discard = discard
        self._may_start = may_start
        self._gives_up = gives_up
        self._starts_next_at_once = starts_next_at_once
        self._clock = clock
        self._started = 0
        self._postponed = 0
        self._running: list[asyncio.Task[T]] = []
        self._timer: Timer | None = None
        self._timer_fired = False
        self._wake: asyncio.Future[None] = self._loop.create_future()
        self._best: T | None = None
        self._has_best = False

    def _poke(self, _: object = None) -> None:
        if not self._wake.done():
            self._wake.set_result(None)

    def _launch(self) -> None:
        """Start attempt number ``self._started``; ``start`` learns how many are in flight."""
        task = self._loop.create_task(self._start(self._started, len(self._running)))
        task.add_done_callback(self._poke)
        self._running.append(task)
        self._started += 1
        self._postponed = 0

    def _arm_timer(self) -> None:
        delay = self._delay_before(self._started, self._postponed)
        if delay is None:
            self._started = self._count  # no further attempt is due
            return
        self._timer_fired = False
        self._timer = self._clock.call_later(delay, self._fire)

    def _fire(self) -> None:
        self._timer_fired = True
        self._poke()

    def _disarm_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _stop_starting(self) -> None:
        self._disarm_timer()
        self._started = self._count

    def _try_launch(self) -> None:
        """Start the next attempt if allowed; if refused, ask again later or start no more."""
        if self._may_start(len(self._running)):
            self._launch()
        elif not self._running:
            self._stop_starting()
        else:
            # Refused while attempts are in flight: the loop re-arms the timer and asks again
            # for the same attempt later (a budget refills as calls arrive).
            self._postponed += 1

    async def _keep_best(self, result: T) -> None:
        previous, had = self._best, self._has_best
        self._best, self._has_best = result, True
        if had:
            await self._discard(previous)  # type: ignore[arg-type]

    async def run(self) -> T:
        """Race the attempts (see :func:`staggered_race`)."""
        returning: T | None = None
        try:
            self._launch()
            while True:
                if self._timer is None and self._started < self._count:
                    self._arm_timer()
                if not self._running and self._timer is None:
                    break
                await self._wake
                self._wake = self._loop.create_future()
                start_next = self._timer_fired
                if start_next:
                    self._timer_fired = False
                    self._timer = None
                for task in [task for task in self._running if task.done()]:
                    self._running.remove(task)
                    result = task.result()
                    if self._is_winner(result):
                        returning = result
                        return result
                    await self._keep_best(result)
                    if self._gives_up(result):
                        self._stop_starting()
                        start_next = False
                    elif self._starts_next_at_once(result):
                        start_next = True
                if start_next and self._started < self._count:
                    self._disarm_timer()
                    self._try_launch()
            returning = self._best
            return self._best  # type: ignore[return-value]
        finally:
            await self._finish(returning)

    async def _finish(self, returning: T | None) -> None:
        """Cancel and await everything still running; discard every result but ``returning``."""
        self._disarm_timer()
        leftovers: list[asyncio.Future[Any]] = [*self._running]
        self._running.clear()
        for task in leftovers:
            task.cancel()
        cancelled_again = False
        while leftovers:
            try:
                await asyncio.wait(leftovers)
                break
            except asyncio.CancelledError:
                cancelled_again = True
        to_discard: list[Any] = []
        if self._has_best and self._best is not returning:
            to_discard.append(self._best)
        for task in leftovers:
            if task.cancelled():
                continue
            if task.exception() is None and task.result() is not None:
                to_discard.append(task.result())
        for result in to_discard:
            try:
                await self._discard(result)
            except asyncio.CancelledError:
                cancelled_again = True
        if cancelled_again:
            if returning is not None:
                # The CancelledError replaces the return value: nobody else will release it.
                with contextlib.suppress(asyncio.CancelledError):
                    await self._discard(returning)
            raise asyncio.CancelledError


async def staggered_race(
    start: Callable[[int, int], Coroutine[Any, Any, T]],
    *,
    count: int,
    delay_before: Callable[[int, int], float | None],
    is_winner: Callable[[T], bool],
    discard: Callable[[T], Awaitable[None]],
    may_start: Callable[[int], bool],
    gives_up: Callable[[T], bool],
    starts_next_at_once: Callable[[T], bool],
    clock: Clock,
) -> T:
    """Start ``start(0, 0)``, then ``start(k, in_flight)`` ``delay_before(k)`` after attempt ``k-1``.

    ``in_flight`` is the number of earlier attempts still running when attempt ``k`` starts;
    ``delay_before(k, 0)`` is asked when attempt ``k-1`` starts, and ``None`` means no attempt
    ``k``. Before every attempt after the first, ``may_start(in_flight)`` is asked; ``False``
    ends the starting when nothing is in flight, and otherwise postpones that attempt by
    ``delay_before(k, n)`` for its ``n``-th postponement.
    A result for which ``is_winner`` is true is returned at once; a losing result for which
    ``gives_up`` is true starts no further attempt; one for which ``starts_next_at_once`` is true
    starts the next attempt at once instead of at its scheduled time. Without a winner, the last result to
    finish is returned. Everything else is cancelled, awaited and discarded before this returns
    or raises.
    """
    race = _Race(
        start,
        count=count,
        delay_before=delay_before,
        is_winner=is_winner,
        discard=discard,
        may_start=may_start,
        gives_up=gives_up,
        starts_next_at_once=starts_next_at_once,
        clock=clock,
    )
    return await race.run()


def start_background_task(coroutine: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None]:
    """Start a long-lived task (a refresh loop) for an owner that ends it with
    :func:`stop_background_task` when it closes."""
    return asyncio.get_running_loop().create_task(coroutine, name=name)


async def stop_background_task(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait until it has ended; the caller's own cancellation propagates."""
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled() and task.exception() is not None:
        _log.error("background task %s failed", task.get_name(), exc_info=task.exception())
