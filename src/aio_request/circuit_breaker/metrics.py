"""The rolling health window: successes and failures over the last ``sampling_duration``.

The window is cut into ``windows_count`` consecutive sub-windows. A result is added to the newest
sub-window; a sub-window is forgotten as a whole once it started ``sampling_duration`` ago or
more, so the counts always cover between ``sampling_duration - sampling_duration/windows_count``
and ``sampling_duration`` seconds. More sub-windows forget more smoothly at a small memory cost.

The metrics never read a clock: the caller passes ``now`` (monotonic seconds), so the same class
works with the real clock and with a test's fake one.
"""

from __future__ import annotations

import abc
import dataclasses
from collections import deque
from typing import Final

from aio_request._core.validate import int_between, positive

MAX_WINDOWS_COUNT: Final = 10_000
"""The most windows a rolling sampling period may be cut into."""


@dataclasses.dataclass(frozen=True, slots=True)
class CircuitBreakerMetricsSnapshot:
    """Counts of one (sub-)window: when it started, and its successes and failures."""

    started_at: float
    successes: int
    failures: int

    @property
    def total(self) -> int:
        """``successes + failures``."""
        return self.successes + self.failures

    @property
    def failure_rate(self) -> float:
        """``failures / total``; 0 when nothing was counted."""
        total = self.successes + self.failures
        return self.failures / total if total else 0.0


class CircuitBreakerMetrics(abc.ABC):
    """Counts the results of one circuit; the breaker decides from :meth:`snapshot`."""

    __slots__ = ()

    @abc.abstractmethod
    def add(self, *, is_successful: bool, now: float) -> None:
        """Count one result observed at ``now``."""

    @abc.abstractmethod
    def snapshot(self, now: float) -> CircuitBreakerMetricsSnapshot:
        """The totals over the window ending at ``now`` (``started_at`` of the oldest part)."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget everything counted so far."""


class _Window:
    __slots__ = ("failures", "started_at", "successes")

    def __init__(self, started_at: float) -> None:
        self.started_at = started_at
        self.successes = 0
        self.failures = 0


class RollingCircuitBreakerMetrics(CircuitBreakerMetrics):
    """Results over a rolling ``sampling_duration`` seconds made of ``windows_count`` windows.

    ``sampling_duration`` must be > 0 and ``windows_count`` an int >= 1, else ``ValueError``.

    >>> metrics = RollingCircuitBreakerMetrics(sampling_duration=10, windows_count=10)
    >>> metrics.add(is_successful=False, now=0.0)
    >>> metrics.add(is_successful=True, now=5.0)
    >>> metrics.snapshot(now=5.0).failures, metrics.snapshot(now=10.5).failures
    (1, 0)
    """

    __slots__ = ("_sampling_duration", "_window_duration", "_windows", "_windows_count")

    def __init__(self, sampling_duration: float, windows_count: int = 10) -> None:
        self._sampling_duration = positive("sampling_duration", sampling_duration)
        self._windows_count = int_between("windows_count", windows_count, 1, MAX_WINDOWS_COUNT)
        self._window_duration = self._sampling_duration / self._windows_count
        self._windows: deque[_Window] = deque()

    @property
    def sampling_duration(self) -> float:
        """Seconds the counts cover."""
        return self._sampling_duration

    @property
    def windows_count(self) -> int:
        """How many sub-windows the sampling duration is cut into."""
        return self._windows_count

    def _expire(self, now: float) -> None:
        windows = self._windows
        oldest_kept = now - self._sampling_duration
        while windows and windows[0].started_at <= oldest_kept:
            windows.popleft()

    def add(self, *, is_successful: bool, now: float) -> None:
        """Count one result in the newest window (opening a new one when it is full)."""
        self._expire(now)
        windows = self._windows
        if not windows or now >= windows[-1].started_at + self._window_duration:
            windows.append(_Window(now))
        if is_successful:
            windows[-1].successes += 1
        else:
            windows[-1].failures += 1

    def snapshot(self, now: float) -> CircuitBreakerMetricsSnapshot:
        """Totals over the live windows; ``started_at`` is ``now`` when there are none."""
        self._expire(now)
        windows = self._windows
        if not windows:
            return CircuitBreakerMetricsSnapshot(started_at=now, successes=0, failures=0)
        return CircuitBreakerMetricsSnapshot(
            started_at=windows[0].started_at,
            successes=sum(w.successes for w in windows),
            failures=sum(w.failures for w in windows),
        )

    def windows(self, now: float) -> tuple[CircuitBreakerMetricsSnapshot, ...]:
        """The live windows, oldest first (for inspection and tests)."""
        self._expire(now)
        return tuple(
            CircuitBreakerMetricsSnapshot(started_at=w.started_at, successes=w.successes, failures=w.failures)
            for w in self._windows
        )

    def reset(self) -> None:
        """Forget every window."""
        self._windows.clear()
