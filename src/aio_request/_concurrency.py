"""The one place that creates tasks: a staggered race of attempts.

Why not :class:`asyncio.TaskGroup`: a task group re-raises attempt errors wrapped in an
``ExceptionGroup`` and gives no hook to release the results of attempts that finished in the
same instant as the winner. The race below keeps the same discipline by hand — every task it
creates is cancelled if still running and awaited before it returns or raises, and every result
that is not returned is handed to ``discard`` — and re-raises the first error unwrapped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class _Race(Generic[T]):
    __slots__ = ("best", "discard", "has_best", "running", "timer", "winner")

    def __init__(self, discard: Callable[[T], Awaitable[None]]) -> None:
        self.discard = discard
        self.running: set[asyncio.Task[T]] = set()
        self.timer: asyncio.Task[None] | None = None
        self.winner: T | None = None
        self.best: T | None = None
        self.has_best = False

    def stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    async def keep_best(self, result: T) -> None:
        previous, had = self.best, self.has_best
        self.best, self.has_best = result, True
        if had:
            await self.discard(previous)  # type: ignore[arg-type]

    async def finish(self, returning: T | None) -> None:
        """Cancel and await everything still running; discard every result but ``returning``."""
        leftovers = list(self.running)
        if self.timer is not None:
            leftovers.append(self.timer)  # type: ignore[arg-type]
        self.running.clear()
        self.timer = None
        for task in leftovers:
            task.cancel()
        cancelled_again = False
        while leftovers:
            try:
                await asyncio.wait(leftovers)
                break
            except asyncio.CancelledError:
                cancelled_again = True
        to_discard: list[T] = []
        if self.has_best and self.best is not returning:
            to_discard.append(self.best)  # type: ignore[arg-type]
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
            raise asyncio.CancelledError


async def staggered_race(
    start: Callable[[int], Coroutine[Any, Any, T]],
    *,
    count: int,
    delay_before: Callable[[int], float],
    is_winner: Callable[[T], bool],
    discard: Callable[[T], Awaitable[None]],
    may_start_another: Callable[[T | None], bool],
    sleep: Callable[[float], Coroutine[Any, Any, None]],
) -> T:
    """Start ``start(0)``, then ``start(k)`` after ``delay_before(k)`` or as soon as one loses.

    Returns the first result for which ``is_winner`` is true; if none wins, the last result to
    finish. ``may_start_another(last_loser_or_None)`` is asked before every attempt after the
    first. Everything else is cancelled, awaited and discarded before this returns or raises.
    """
    loop = asyncio.get_running_loop()
    race: _Race[T] = _Race(discard)
    started = 1
    returning: T | None = None
    try:
        race.running.add(loop.create_task(start(0)))
        while True:
            if race.timer is None and started < count:
                race.timer = loop.create_task(sleep(delay_before(started)))
            waiting: set[asyncio.Future[Any]] = set(race.running)
            if race.timer is not None:
                waiting.add(race.timer)
            if not waiting:
                break
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            start_next = False
            if race.timer is not None and race.timer in done:
                race.timer = None
                start_next = True
            for task in done:
                if task not in race.running:
                    continue
                race.running.discard(task)
                result: T = task.result()
                if race.winner is None and is_winner(result):
                    race.winner = result
                else:
                    await race.keep_best(result)
                    start_next = True
            if race.winner is not None:
                returning = race.winner
                return returning
            if start_next and started < count:
                race.stop_timer()
                if may_start_another(race.best if race.has_best else None):
                    race.running.add(loop.create_task(start(started)))
                    started += 1
                else:
                    started = count
        returning = race.best
        return race.best  # type: ignore[return-value]
    finally:
        await race.finish(returning)
