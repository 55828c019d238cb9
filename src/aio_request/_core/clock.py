"""Monotonic time and sleeping behind one small protocol.

Deadlines, delays, circuit breakers and budgets read time only through a :class:`Clock`, so
tests can drive a fake clock instead of sleeping. The default is :data:`MONOTONIC_CLOCK`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable


class Timer(Protocol):
    """A pending :meth:`Clock.call_later` callback."""

    def cancel(self) -> object:
        """Do not call the callback (if it was not called yet)."""
        ...


@runtime_checkable
class Clock(Protocol):
    """A source of monotonic time in seconds and a way to wait on it."""

    def now(self) -> float:
        """Return the current monotonic time in seconds."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...

    def call_later(self, seconds: float, callback: Callable[[], object]) -> Timer:
        """Call ``callback()`` from the running event loop once ``seconds`` of this clock passed."""
        ...


class MonotonicClock:
    """The real clock: :func:`time.monotonic` and :func:`asyncio.sleep`."""

    __slots__ = ()

    # time.monotonic itself rather than a method calling it: ``clock.now()`` runs several
    # times per request, and this way no Python frame is involved.
    now = staticmethod(time.monotonic)
    """Return :func:`time.monotonic`."""

    async def sleep(self, seconds: float) -> None:
        """Sleep with :func:`asyncio.sleep` (negative values sleep zero)."""
        await asyncio.sleep(max(seconds, 0.0))

    def call_later(self, seconds: float, callback: Callable[[], object]) -> Timer:
        """The running loop's :meth:`~asyncio.loop.call_later` (its clock is monotonic too)."""
        return asyncio.get_running_loop().call_later(max(seconds, 0.0), callback)


MONOTONIC_CLOCK: Clock = MonotonicClock()
"""The clock used everywhere unless a test injects another one."""


def wall_time() -> float:
    """Seconds since the epoch: only for absolute times a peer sends (``Retry-After`` HTTP dates)."""
    return time.time()
