"""Concurrency limits: how many requests a server should run at once, learned from latency.

A limit is told of every handler that finished (:meth:`ConcurrencyLimit.on_sample`): how long
the handler ran (never the time it waited in the queue, which says nothing about the server's
capacity), how many requests were running when it started and whether it failed in a way that
means "overloaded". A cancelled handler is never reported: its latency is unknown.

* :class:`VegasLimit` (the default): TCP Vegas' estimate of the queue inside the server,
  ``limit * (1 - rtt_noload / rtt)``; grows while that is small, shrinks when it is large.
* :class:`Gradient2Limit`: the ratio of a long-term to the short-term latency; shrinks when
  latency rises above the long-term average, grows by a square-root queue allowance otherwise.
* :class:`AimdLimit`: additive increase, multiplicative decrease on a "dropped" sample.
* :class:`FixedLimit`: a constant.

All of them are pure (no I/O, no clock): the caller measures the latency.
"""

from __future__ import annotations

import abc
import math
from typing import Final

from aio_request._core.validate import at_least, between, fraction, positive

__all__ = ["AimdLimit", "ConcurrencyLimit", "FixedLimit", "Gradient2Limit", "VegasLimit"]

DEFAULT_INITIAL_LIMIT: Final = 20
DEFAULT_MAX_LIMIT: Final = 1000
_NOLOAD_SMOOTHING: Final = 0.1


class ConcurrencyLimit(abc.ABC):
    """The role: the current limit, adjusted by samples of finished handlers."""

    __slots__ = ()

    @property
    @abc.abstractmethod
    def limit(self) -> int:
        """How many requests may run at once now (always >= 1)."""

    @abc.abstractmethod
    def on_sample(self, *, rtt: float, in_flight: int, dropped: bool) -> None:
        """Learn from a handler that ran ``rtt`` seconds with ``in_flight`` requests running
        (itself included) when it started; ``dropped`` when it failed from overload."""


def _check_bounds(initial_limit: int, min_limit: int, max_limit: int) -> None:
    at_least("min_limit", min_limit, 1)
    at_least("max_limit", max_limit, min_limit)
    if isinstance(initial_limit, bool) or not isinstance(initial_limit, int):
        raise ValueError(f"initial_limit must be an int, got {initial_limit!r}")
    if not min_limit <= initial_limit <= max_limit:
        raise ValueError(f"initial_limit must be in [{min_limit}, {max_limit}], got {initial_limit!r}")


class FixedLimit(ConcurrencyLimit):
    """A limit that never moves: ``limit`` (an int >= 1)."""

    __slots__ = ("_limit",)

    def __init__(self, limit: int) -> None:
        self._limit = at_least("limit", limit, 1)

    @property
    def limit(self) -> int:
        """The fixed limit."""
        return self._limit

    def on_sample(self, *, rtt: float, in_flight: int, dropped: bool) -> None:
        """Ignored."""


class VegasLimit(ConcurrencyLimit):
    """TCP Vegas applied to a server: keep the estimated queue between ``alpha`` and ``beta``.

    ``rtt_noload`` is the no-load latency: the shortest latency of the last probe (below), and
    followed downwards by an exponential average (weight 0.1) when samples are shorter, so one
    lucky sample on a noisy machine does not make every later one look queued. For each
    sample, ``queue = limit * (1 - rtt_noload / rtt)`` estimates how many requests waited
    inside the server. With ``L`` the limit and ``lg = log10(L)``:

    * ``queue <= max(alpha, 2*lg)``: grow by ``max(1, lg)``;
    * ``queue >= max(beta, 4*lg)``: shrink by ``max(1, lg)``;
    * a dropped sample shrinks it the same way; a sample taken while fewer than half of the
      limit were running (the server was not busy enough to learn anything) is ignored.

    The thresholds are lower than Netflix concurrency-limits' server defaults (``3*lg`` and
    ``6*lg``): for a CPU-bound handler every request running beyond the first adds a whole
    service time, so a queue of a couple of requests is already the knee.

    **Probing.** ``rtt_noload`` must be re-measured, or a server that became slower (a slower
    dependency) would look queued forever and be throttled to nothing. Every
    ``probe_multiplier * limit`` samples the limit is pinned to a quarter of itself (at least
    ``min_limit``) until the requests already running plus ``5`` more have finished, and the
    shortest latency of that probe becomes ``rtt_noload`` (Envoy's adaptive concurrency filter
    measures its minimum latency the same way, at a pinned low concurrency). Re-using a sample
    taken under full load instead would ratchet the limit up on a CPU-bound server.

    Defaults: ``initial_limit=20``, ``min_limit=1``, ``max_limit=1000``, ``alpha=1``,
    ``beta=2``, ``probe_multiplier=30``. Raises ``ValueError`` naming a bad option.
    """

    __slots__ = (
        "_alpha",
        "_beta",
        "_limit",
        "_max",
        "_min",
        "_probe_every",
        "_probe_left",
        "_probe_min",
        "_probe_multiplier",
        "_rtt_noload",
        "_samples",
        "_saved_limit",
    )

    def __init__(
        self,
        *,
        initial_limit: int = DEFAULT_INITIAL_LIMIT,
        min_limit: int = 1,
        max_limit: int = DEFAULT_MAX_LIMIT,
        alpha: float = 1.0,
        beta: float = 2.0,
        probe_multiplier: int = 30,
    ) -> None:
        _check_bounds(initial_limit, min_limit, max_limit)
        self._alpha = between("alpha", alpha, 0.0, 1000.0)
        self._beta = between("beta", beta, 0.0, 1000.0)
        if self._beta <= self._alpha:
            raise ValueError(f"beta must be > alpha ({alpha!r}), got {beta!r}")
        self._probe_multiplier = at_least("probe_multiplier", probe_multiplier, 1)
        self._min = min_limit
        self._max = max_limit
        self._limit = float(initial_limit)
        self._rtt_noload = 0.0
        self._samples = 0
        self._probe_every = self._probe_multiplier * initial_limit
        self._probe_left = 0
        self._probe_min = math.inf
        self._saved_limit = float(initial_limit)

    @property
    def limit(self) -> int:
        """The current limit (pinned low while probing)."""
        return int(self._limit)

    @property
    def rtt_noload(self) -> float:
        """The shortest latency known (0 before the first sample)."""
        return self._rtt_noload

    @property
    def probing(self) -> bool:
        """Whether the limit is pinned to re-measure ``rtt_noload``."""
        return self._probe_left > 0

    def on_sample(self, *, rtt: float, in_flight: int, dropped: bool) -> None:
        """Adjust the limit (see the class docstring)."""
        if not rtt > 0:
            return
        if self._probe_left > 0:
            self._probe_min = min(self._probe_min, rtt)
            self._probe_left -= 1
            if self._probe_left == 0:
                self._rtt_noload = self._probe_min
                self._limit = self._saved_limit
            return
        self._samples += 1
        if self._samples >= self._probe_every:
            self._samples = 0
            self._saved_limit = self._limit
            self._probe_every = self._probe_multiplier * max(1, int(self._limit))
            self._probe_left = int(self._limit) + 5
            self._probe_min = math.inf
            self._limit = float(max(self._min, int(self._limit) // 4))
            return
        if self._rtt_noload == 0.0:
            self._rtt_noload = rtt
            return
        if rtt < self._rtt_noload:
            # Followed, not jumped to: one lucky sample would make every later one look queued.
            self._rtt_noload += (rtt - self._rtt_noload) * _NOLOAD_SMOOTHING
        limit = self._limit
        lg = math.log10(limit)
        step = max(1.0, lg)
        if dropped:
            self._limit = max(float(self._min), limit - step)
            return
        if in_flight * 2 < limit:
            return
        queue = limit * (1.0 - self._rtt_noload / rtt)
        if queue <= max(self._alpha, 2.0 * lg):
            self._limit = min(float(self._max), limit + step)
        elif queue >= max(self._beta, 4.0 * lg):
            self._limit = max(float(self._min), limit - step)


class Gradient2Limit(ConcurrencyLimit):
    """Netflix's Gradient2: follow the ratio of the long-term to the current latency.

    ``long_rtt`` is an exponential average over ``long_window`` samples; when it is more than
    twice the sample it decays faster (recovering from a past overload). On each sample taken
    while at least half of the limit ran::

        gradient = clamp(tolerance * long_rtt / rtt, 0.5, 1)
        new = limit * gradient + sqrt(limit)                 # the queue allowance
        limit = limit * (1 - smoothing) + new * smoothing

    Defaults: ``initial_limit=20``, ``min_limit=1``, ``max_limit=1000``, ``tolerance=1.5``,
    ``smoothing=0.2``, ``long_window=600``. Raises ``ValueError`` naming a bad option.
    """

    __slots__ = ("_limit", "_long_rtt", "_long_window", "_max", "_min", "_smoothing", "_tolerance")

    def __init__(
        self,
        *,
        initial_limit: int = DEFAULT_INITIAL_LIMIT,
        min_limit: int = 1,
        max_limit: int = DEFAULT_MAX_LIMIT,
        tolerance: float = 1.5,
        smoothing: float = 0.2,
        long_window: int = 600,
    ) -> None:
        _check_bounds(initial_limit, min_limit, max_limit)
        self._tolerance = between("tolerance", tolerance, 1.0, 100.0)
        self._smoothing = fraction("smoothing", smoothing, low_inclusive=False, high_inclusive=True)
        self._long_window = at_least("long_window", long_window, 1)
        self._min = min_limit
        self._max = max_limit
        self._limit = float(initial_limit)
        self._long_rtt = 0.0

    @property
    def limit(self) -> int:
        """The current limit."""
        return int(self._limit)

    def on_sample(self, *, rtt: float, in_flight: int, dropped: bool) -> None:
        """Adjust the limit (see the class docstring)."""
        if not rtt > 0:
            return
        if self._long_rtt == 0.0:
            self._long_rtt = rtt
        else:
            factor = 2.0 / (self._long_window + 1)
            self._long_rtt += (rtt - self._long_rtt) * factor
            if self._long_rtt / rtt > 2.0:
                self._long_rtt *= 0.95
        limit = self._limit
        if in_flight * 2 < limit and not dropped:
            return
        gradient = max(0.5, min(1.0, self._tolerance * self._long_rtt / rtt))
        if dropped:
            gradient = 0.5
        new_limit = limit * gradient + math.sqrt(limit)
        new_limit = limit * (1.0 - self._smoothing) + new_limit * self._smoothing
        self._limit = max(float(self._min), min(float(self._max), new_limit))


class AimdLimit(ConcurrencyLimit):
    """Additive increase, multiplicative decrease.

    A dropped sample, or one slower than ``timeout`` seconds, multiplies the limit by
    ``backoff_ratio``; any other sample taken while at least half of the limit ran adds 1.

    Defaults: ``initial_limit=20``, ``min_limit=1``, ``max_limit=1000``, ``backoff_ratio=0.9``,
    ``timeout=5.0``. Raises ``ValueError`` naming a bad option.
    """

    __slots__ = ("_backoff", "_limit", "_max", "_min", "_timeout")

    def __init__(
        self,
        *,
        initial_limit: int = DEFAULT_INITIAL_LIMIT,
        min_limit: int = 1,
        max_limit: int = DEFAULT_MAX_LIMIT,
        backoff_ratio: float = 0.9,
        timeout: float = 5.0,
    ) -> None:
        _check_bounds(initial_limit, min_limit, max_limit)
        self._backoff = fraction("backoff_ratio", backoff_ratio, low_inclusive=False, high_inclusive=False)
        self._timeout = positive("timeout", timeout)
        self._min = min_limit
        self._max = max_limit
        self._limit = float(initial_limit)

    @property
    def limit(self) -> int:
        """The current limit."""
        return int(self._limit)

    def on_sample(self, *, rtt: float, in_flight: int, dropped: bool) -> None:
        """Adjust the limit (see the class docstring)."""
        if dropped or rtt > self._timeout:
            self._limit = max(float(self._min), self._limit * self._backoff)
        elif in_flight * 2 >= self._limit:
            self._limit = min(float(self._max), self._limit + 1.0)
