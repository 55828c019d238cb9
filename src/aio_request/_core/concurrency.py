"""The one place that creates tasks: a staggered race of attempts.

Why not :class:`asyncio.TaskGroup` or :func:`asyncio.wait`: a task group re-raises attempt
errors wrapped in an ``ExceptionGroup`` and gives no hook to release the results of attempts
that finished in the same instant as the winner, and ``asyncio.wait`` costs several loop
iterations per call, which dominated the price of a hedged request. The race below keeps the
same discipline by hand — every task it creates is cancelled if still running and awaited
before it returns or raises, every result that is not returned is handed to ``discard`` — and
wakes on one future poked by task callbacks and by a timer (``loop.call_later`` on the real
clock; a sleeping task, also owned and awaited, on any other clock).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar

from aio_request._core.clock import Clock, MonotonicClock

T = TypeVar("T")

_log = logging.getLogger(__name__)


class _Race(Generic[T]):
    __slots__ = (
        "best",
        "clock",
        "discard",
        "has_best",
        "loop",
        "retired_timers",
        "running",
        "timer_fired",
        "timer_handle",
        "timer_task",
        "wake",
    )

    def __init__(self, discard: Callable[[T], Awaitable[None]], clock: Clock) -> None:
        self.loop = asyncio.get_running_loop()
        self.discard = discard
        self.clock = clock
        self.running: list[asyncio.Task[T]] = []
        self.retired_timers: list[asyncio.Task[None]] = []
        self.wake: asyncio.Future[None] = self.loop.create_future()
        self.timer_handle: asyncio.TimerHandle | None = None
        self.timer_task: asyncio.Task[None] | None = None
        self.timer_fired = False
        self.best: T | None = None
        self.has_best = False

    def poke(self, _: object = None) -> None:
        if not self.wake.done():
            self.wake.set_result(None)

    def start(self, coroutine: Coroutine[Any, Any, T]) -> None:
        task = self.loop.create_task(coroutine)
        task.add_done_callback(self.poke)
        self.running.append(task)

    def _fire(self) -> None:
        self.timer_fired = True
        self.poke()

    async def _sleep_then_fire(self, delay: float) -> None:
        await self.clock.sleep(delay)
        self._fire()

    def start_timer(self, delay: float) -> None:
        self.timer_fired = False
        if isinstance(self.clock, MonotonicClock):
            self.timer_handle = self.loop.call_later(delay, self._fire)
        else:
            self.timer_task = self.loop.create_task(self._sleep_then_fire(delay))

    @property
    def timer_armed(self) -> bool:
        return self.timer_handle is not None or self.timer_task is not None

    def stop_timer(self) -> None:
        """Disarm the timer; a cancelled timer task is kept to be awaited in :meth:`finish`."""
        if self.timer_handle is not None:
            self.timer_handle.cancel()
            self.timer_handle = None
        task, self.timer_task = self.timer_task, None
        if task is not None and not task.done():
            task.cancel()
            self.retired_timers.append(task)

    async def keep_best(self, result: T) -> None:
        previous, had = self.best, self.has_best
        self.best, self.has_best = result, True
        if had:
            await self.discard(previous)  # type: ignore[arg-type]

    async def finish(self, returning: T | None) -> None:
        """Cancel and await everything still running; discard every result but ``returning``."""
        self.stop_timer()
        leftovers: list[asyncio.Future[Any]] = [*self.running, *self.retired_timers]
        self.running.clear()
        self.retired_timers.clear()
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
        if self.has_best and self.best is not returning:
            to_discard.append(self.best)
        for task in leftovers:
            if task.cancelled():
                continue
            if task.exception() is None and task.result() is not None:
                to_discard.append(task.result())
        for result in to_discard:
            try:
                await self.discard(result)
            except asyncio.CancelledError:
                cancelled_again = True
        if cancelled_again:
            if returning is not None:
                # The CancelledError replaces the return value: nobody else will release it.
                with contextlib.suppress(asyncio.CancelledError):
                    await self.discard(returning)
            raise asyncio.CancelledError


async def staggered_race(
    start: Callable[[int], Coroutine[Any, Any, T]],
    *,
    count: int,
    delay_before: Callable[[int], float],
    is_winner: Callable[[T], bool],
    discard: Callable[[T], Awaitable[None]],
    may_start_another: Callable[[T | None], bool],
    clock: Clock,
) -> T:
    """Start ``start(0)``, then ``start(k)`` after ``delay_before(k)`` or as soon as one loses.

    Returns the first result for which ``is_winner`` is true; if none wins, the last result to
    finish. ``may_start_another(last_loser_or_None)`` is asked before every attempt after the
    first. Everything else is cancelled, awaited and discarded before this returns or raises.
    """
    race: _Race[T] = _Race(discard, clock)
    started = 1
    returning: T | None = None
    try:
        race.start(start(0))
        while True:
            if not race.timer_armed and started < count:
                race.start_timer(delay_before(started))
            if not race.running and not race.timer_armed:
                break
            await race.wake
            race.wake = race.loop.create_future()
            start_next = False
            if race.timer_fired:
                race.timer_fired = False
                race.timer_handle = None
                race.timer_task = None
                start_next = True
            finished = [task for task in race.running if task.done()]
            for task in finished:
                race.running.remove(task)
                result: T = task.result()
                if is_winner(result):
                    returning = result
                    return result
                await race.keep_best(result)
                start_next = True
            if start_next and started < count:
                race.stop_timer()
                if may_start_another(race.best if race.has_best else None):
                    race.start(start(started))
                    started += 1
                else:
                    started = count
        returning = race.best
        return race.best  # type: ignore[return-value]
    finally:
        await race.finish(returning)


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
