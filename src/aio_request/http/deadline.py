"""An absolute point in monotonic time by which a request must be done.

A :class:`Deadline` is created from a relative timeout and travels between services as the
relative number of seconds left (``X-Request-Timeout``), so clock skew between hosts does not
matter. Deadlines nest: the effective one is always the earliest (:func:`earliest`).
"""

from __future__ import annotations

import math

from aio_request._core.clock import MONOTONIC_CLOCK, Clock


def _check_seconds(seconds: float) -> float:
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        raise TypeError(f"seconds must be a number, got {seconds!r}")
    try:
        value = float(seconds)
    except OverflowError:  # an int beyond the float range
        raise ValueError(f"seconds must be >= 0 and fit a float, got {seconds!r}") from None
    if math.isnan(value) or value < 0:
        raise ValueError(f"seconds must be >= 0, got {seconds!r}")
    return value


class Deadline:
    """A point in monotonic time; ``timeout`` is what is left of it.

    >>> deadline = Deadline.from_timeout(5)
    >>> 0 < deadline.timeout <= 5
    True
    """

    __slots__ = ("_clock", "_deadline_at")

    def __init__(self, deadline_at: float, *, clock: Clock = MONOTONIC_CLOCK) -> None:
        self._deadline_at = deadline_at
        self._clock = clock

    @staticmethod
    def from_timeout(seconds: float, *, clock: Clock = MONOTONIC_CLOCK) -> Deadline:
        """A deadline ``seconds`` from now. Raises ``ValueError`` for negative or NaN seconds.

        ``math.inf`` is accepted and means "no deadline of its own": the client caps it with its
        default timeout, so nothing unbounded is ever sent or waited for.
        """
        return Deadline(clock.now() + _check_seconds(seconds), clock=clock)

    @property
    def deadline_at(self) -> float:
        """The deadline in the clock's monotonic seconds."""
        return self._deadline_at

    @property
    def clock(self) -> Clock:
        """The clock this deadline is measured against."""
        return self._clock

    @property
    def timeout(self) -> float:
        """Seconds left, never below 0."""
        remaining = self._deadline_at - self._clock.now()
        return remaining if remaining > 0 else 0.0

    @property
    def expired(self) -> bool:
        """Whether no time is left."""
        return self._deadline_at <= self._clock.now()

    def __truediv__(self, divisor: float) -> Deadline:
        """A new deadline with ``timeout / divisor`` seconds left (``divisor`` > 0)."""
        if not isinstance(divisor, int | float) or isinstance(divisor, bool):
            return NotImplemented
        try:
            number = float(divisor)
        except OverflowError:  # an int beyond the float range divides as infinity
            number = math.inf if divisor > 0 else -math.inf
        if math.isnan(number) or number <= 0:
            raise ValueError(f"divisor must be > 0, got {divisor!r}")
        now = self._clock.now()
        remaining = max(self._deadline_at - now, 0.0)
        return Deadline(now + remaining / number, clock=self._clock)

    def __float__(self) -> float:
        """The seconds left, as :attr:`timeout`."""
        return self.timeout

    def __lt__(self, other: Deadline) -> bool:
        return self._deadline_at < other._deadline_at

    def __le__(self, other: Deadline) -> bool:
        return self._deadline_at <= other._deadline_at

    def __repr__(self) -> str:
        if self.expired:
            return "<Deadline [expired]>"
        return f"<Deadline [timeout={self.timeout:.3f}]>"


def earliest(first: Deadline, *others: Deadline | None) -> Deadline:
    """The earliest of the given deadlines, ignoring ``None``."""
    result = first
    for other in others:
        if other is not None and other._deadline_at < result._deadline_at:
            result = other
    return result


def earliest_within(
    timeout: float, clock: Clock, first: Deadline | None, second: Deadline | None
) -> Deadline:
    """The earliest of ``first`` and ``second`` (ignoring ``None``), capped at ``timeout`` seconds
    from now on ``clock``.

    Same as ``earliest(Deadline(clock.now() + timeout, clock=clock), first, second)`` (the cap
    wins a tie), but the capping deadline is only built when it is the earliest.
    """
    result = first
    if second is not None and (result is None or second._deadline_at < result._deadline_at):
        result = second
    limit = clock.now() + timeout
    if result is None or result._deadline_at >= limit:
        return Deadline(limit, clock=clock)
    return result
