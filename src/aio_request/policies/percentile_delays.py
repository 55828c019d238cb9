"""Hedging delays learned from recent latencies: the p-th percentile per request template.

:class:`PercentileBasedRequestAttemptDelaysProvider` is both a delays provider and a
:class:`~aio_request.policies.observer.RequestResponseObserver`: the client tells it the latency of every
attempt, and it answers ``clamp(p-th percentile) * attempt`` for the next hedge.

How latencies are kept — a small exact windowed histogram, not a sketch:

* per key (method + URL template such as ``GET users/{id}``, never the rendered path with
  ids), latencies fall into fixed log-spaced bins between ``min_delay_seconds`` and
  ``max_delay_seconds``, 16 bins per doubling (each bin 4.4 % wider than the one before). Values
  outside the range fall into an underflow or overflow bin: the answer is clamped to that range
  anyway, so nothing outside it needs resolving;
* the window of ``window_size_seconds`` is cut into ``buckets_count`` time buckets, each with its
  own counts; when a bucket's time is over, the oldest one is dropped as a whole (so the data
  covers between ``window * (1 - 1/buckets_count)`` and ``window`` seconds);
* the window's total per bin lives in a Fenwick (binary indexed) tree, so recording a latency
  and finding the bin of the p-th percentile each cost ``O(log bins)`` — about 7 steps with the
  defaults — with no sorting and no merging of buckets per query. Dropping a bucket rebuilds the
  tree in ``O(bins)``, once per ``window / buckets_count`` seconds.

The answer is the upper edge of the bin holding the percentile, kept within the smallest and the
largest latency seen in the window: never below the true value, at most 4.4 % above it, and exact
when every sample is the same (1.0 s of samples gives 1.0). A t-digest answers queries in hundreds
of microseconds in pure Python, and sketches from PyPI (DDSketch, HdrHistogram) would still need a
merge of the buckets per query to slide a window; this costs about 1-2 µs per observation and per
query (``benchmarks/percentile_cost.py``) with no dependency.

Which attempts are learned from: responses the server produced normally — no local failure
(``Response.failure is None``), not 5xx, 408 or 429 — with an ``elapsed`` that is a finite
number >= 0 (NaN, negative and infinite values are ignored). Attempts cancelled
before they finished (the losers of a hedge race) are not observed. Keys are per provider: give
each client its own provider, since the keys do not include the endpoint.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Final

from aio_request._core.clock import MONOTONIC_CLOCK, Clock
from aio_request._core.validate import between, fraction, int_between, non_negative
from aio_request.http.request import Request
from aio_request.http.response import Response
from aio_request.policies.delays import RequestAttemptDelaysProvider
from aio_request.policies.observer import RequestResponseObserver

BINS_PER_DOUBLING: Final = 16
"""Histogram resolution: bin edges grow by ``2 ** (1 / 16)``, about 4.4 %."""

MAX_KEYS: Final = 1024
"""The most request templates one provider keeps; the oldest is forgotten first."""

_LOWEST_EDGE: Final = 1e-4
MAX_DELAY_LIMIT: Final = 86_400.0
"""The largest ``max_delay_seconds`` accepted (a day)."""
MIN_WINDOW_SECONDS: Final = 0.001
MAX_WINDOW_SECONDS: Final = 30 * 86_400.0
"""``window_size_seconds`` must lie between a millisecond and 30 days."""
MAX_BUCKETS_COUNT: Final = 1_000
"""The most time buckets per template: each learned template holds one histogram per bucket."""
_UNLEARNED_STATUSES: Final = frozenset({408, 429})


class _WindowedHistogram:
    """Latency counts per log-spaced bin over a window of rotating time buckets."""

    __slots__ = (
        "_buckets",
        "_count",
        "_current",
        "_highs",
        "_lows",
        "_size",
        "_top_step",
        "_total",
        "_tree",
        "highest",
        "lowest",
        "slot",
    )

    def __init__(self, size: int, buckets_count: int, slot: int) -> None:
        self._size = size
        self._buckets = [[0] * size for _ in range(buckets_count)]
        # The smallest and largest value per time bucket, and over the window.
        self._lows = [math.inf] * buckets_count
        self._highs = [-math.inf] * buckets_count
        self.lowest = math.inf
        self.highest = -math.inf
        self._tree = [0] * (size + 1)
        self._total = 0
        self.slot = slot
        self._count = buckets_count
        self._top_step = 1 << (size.bit_length() - 1)
        self._current = self._buckets[slot % buckets_count]

    @property
    def total(self) -> int:
        return self._total

    def rotate(self, slot: int) -> None:
        """Drop the buckets whose time is over by the time bucket ``slot`` begins."""
        passed = slot - self.slot
        if passed <= 0:
            return
        self.slot = slot
        count = self._count
        buckets = self._buckets
        for step in range(min(passed, count)):
            index = (slot - step) % count
            counts = buckets[index]
            self._total -= sum(counts)
            buckets[index] = [0] * self._size
            self._lows[index] = math.inf
            self._highs[index] = -math.inf
        self._current = buckets[slot % count]
        self.lowest = min(self._lows)
        self.highest = max(self._highs)
        self._rebuild()

    def _rebuild(self) -> None:
        size = self._size
        tree = [0] * (size + 1)
        for counts in self._buckets:
            for index, value in enumerate(counts, 1):
                tree[index] += value
        for index in range(1, size + 1):
            parent = index + (index & -index)
            if parent <= size:
                tree[parent] += tree[index]
        self._tree = tree

    def add(self, bin_index: int, value: float) -> None:
        index = self.slot % self._count
        if value < self._lows[index]:
            self._lows[index] = value
            self.lowest = min(self.lowest, value)
        if value > self._highs[index]:
            self._highs[index] = value
            self.highest = max(self.highest, value)
        self._current[bin_index] += 1
        self._total += 1
        tree = self._tree
        size = self._size
        position = bin_index + 1
        while position <= size:
            tree[position] += 1
            position += position & -position

    def bin_of_rank(self, rank: int) -> int:
        """The bin holding the ``rank``-th smallest value (1-based; ``rank <= total``)."""
        tree = self._tree
        size = self._size
        position = 0
        step = self._top_step
        while step:
            following = position + step
            if following <= size and tree[following] < rank:
                position = following
                rank -= tree[following]
            step >>= 1
        return position


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_negative(value: object) -> bool:
    """Whether ``value`` is a number below zero (anything else is left to the option's check)."""
    return _is_number(value) and value < 0  # type: ignore[operator]


@contextlib.contextmanager
def _reason_when(applies: bool, reason: str) -> Iterator[None]:
    """Prefix a ``ValueError`` raised in the block with ``reason`` when ``applies``."""
    try:
        yield
    except ValueError as error:
        if not applies:
            raise
        raise ValueError(f"{reason}: {error}") from None


class PercentileBasedRequestAttemptDelaysProvider(RequestAttemptDelaysProvider, RequestResponseObserver):
    """Delays that follow the ``percentile`` of recent latencies per method + URL template.

    ``provider(request, attempt)`` returns ``clamp(p) * attempt``, where ``p`` is the
    ``percentile`` (0.95) of the latencies of that request's template seen over the last
    ``window_size_seconds`` (300 s, in ``buckets_count`` = 2 time buckets) and ``clamp`` keeps it
    within ``[min_delay_seconds, max_delay_seconds]`` (0.005 s and 10 s). Before any data for
    the template it returns ``min_delay_seconds * attempt``. (aio-request 0.2.9's floor was
    0.05 s: no hedge could start before 50 ms, whatever the service's latencies.) See the module
    docstring for how latencies are kept and which responses count.

    Use it as a strategy's ``delays_provider``: the strategy reports it as an observer
    (:meth:`~aio_request.strategies.RequestStrategy.observers`), however deeply it is wrapped,
    and the client feeds it every attempt of the calls using that strategy.

    Raises ``ValueError`` naming the option when ``percentile`` is not in ``(0, 1]``, a delay is
    negative or not finite, ``max_delay_seconds < min_delay_seconds``, ``window_size_seconds`` is
    not > 0 or ``buckets_count`` is not an int >= 1.

    >>> provider = PercentileBasedRequestAttemptDelaysProvider()
    >>> from aio_request.http.builders import get
    >>> provider(get("users/{id}", path_parameters={"id": 1}), 1)
    0.005
    """

    __slots__ = (
        "_bucket_duration",
        "_buckets_count",
        "_clock",
        "_histograms",
        "_inv_log_step",
        "_low",
        "_max_delay",
        "_min_delay",
        "_percentile",
        "_size",
        "_top_edge",
    )

    def __init__(
        self,
        *,
        percentile: float = 0.95,
        min_delay_seconds: float = 0.005,
        max_delay_seconds: float = 10,
        window_size_seconds: float = 300,
        buckets_count: int = 2,
        clock: Clock = MONOTONIC_CLOCK,
    ) -> None:
        # Each message starts with aio-request 0.2.9's wording (code matches on it), then names
        # the option and the value.
        self._percentile = fraction("percentile", percentile, low_inclusive=False, high_inclusive=True)
        with _reason_when(_is_negative(min_delay_seconds), "Delays must be non-negative"):
            self._min_delay = non_negative("min_delay_seconds", min_delay_seconds)
        with _reason_when(_is_negative(max_delay_seconds), "Delays must be non-negative"):
            self._max_delay = between("max_delay_seconds", max_delay_seconds, 0, MAX_DELAY_LIMIT)
        if self._max_delay < self._min_delay:
            raise ValueError(
                f"min_delay must be less than or equal to max_delay: max_delay_seconds must be >= "
                f"min_delay_seconds ({min_delay_seconds!r}), got {max_delay_seconds!r}"
            )
        window_not_positive = _is_number(window_size_seconds) and window_size_seconds <= 0
        with _reason_when(window_not_positive, "window_size_seconds must be positive"):
            window = between(
                "window_size_seconds", window_size_seconds, MIN_WINDOW_SECONDS, MAX_WINDOW_SECONDS
            )
        with _reason_when(_is_number(buckets_count) and buckets_count <= 0, "buckets_count must be positive"):
            self._buckets_count = int_between("buckets_count", buckets_count, 1, MAX_BUCKETS_COUNT)
        self._bucket_duration = window / self._buckets_count
        self._clock = clock
        self._low = max(self._min_delay, _LOWEST_EDGE)
        high = max(self._max_delay, self._low)
        edges = math.ceil(math.log2(high / self._low) * BINS_PER_DOUBLING - 1e-9)
        # bin 0: <= low; bins 1..edges: (low·s^(i-1), low·s^i]; bin edges+1: above the top edge
        self._size = edges + 2
        self._top_edge = self._low * 2 ** (edges / BINS_PER_DOUBLING)
        self._inv_log_step = BINS_PER_DOUBLING / math.log(2)
        self._histograms: dict[tuple[str, str], _WindowedHistogram] = {}

    def _value_of(self, bin_index: int, histogram: _WindowedHistogram) -> float:
        if bin_index >= self._size - 1:
            value = self._max_delay
        else:
            value = self._low * 2 ** (bin_index / BINS_PER_DOUBLING)
        # The bin's edge, but never outside what was seen: exact when all samples are equal.
        if value > histogram.highest:
            value = histogram.highest
        if value < histogram.lowest:
            value = histogram.lowest
        if value < self._min_delay:
            return self._min_delay
        return value if value < self._max_delay else self._max_delay

    def observe(self, request: Request, response: Response) -> None:
        """Learn ``response.elapsed`` when the server answered normally (see the module doc)."""
        elapsed = response.elapsed
        status = response.status
        if not 0 <= elapsed < math.inf:
            return  # NaN, negative or infinite: not a latency
        if status >= 500 or status in _UNLEARNED_STATUSES or response.failure is not None:
            return
        key = (request.method, request.url.path)
        slot = int(self._clock.now() // self._bucket_duration)
        histogram = self._histograms.get(key)
        if histogram is None:
            if len(self._histograms) >= MAX_KEYS:
                del self._histograms[next(iter(self._histograms))]
            histogram = _WindowedHistogram(self._size, self._buckets_count, slot)
            self._histograms[key] = histogram
        elif slot != histogram.slot:
            histogram.rotate(slot)
        if elapsed <= self._low:
            bin_index = 0
        elif elapsed > self._top_edge:
            bin_index = self._size - 1
        else:
            bin_index = math.ceil(math.log(elapsed / self._low) * self._inv_log_step) or 1
        histogram.add(bin_index, elapsed)

    def percentile_of(self, request: Request) -> float | None:
        """The clamped percentile learned for ``request``'s template, ``None`` before any data."""
        histogram = self._histograms.get((request.method, request.url.path))
        if histogram is None:
            return None
        slot = int(self._clock.now() // self._bucket_duration)
        if slot != histogram.slot:
            histogram.rotate(slot)
        total = histogram.total
        if not total:
            return None
        rank = math.ceil(self._percentile * total)
        return self._value_of(histogram.bin_of_rank(rank if rank > 0 else 1), histogram)

    def __call__(self, request: Request, attempt: int) -> float:
        """``clamp(percentile) * attempt`` for ``request``'s template (``min_delay_seconds`` first)."""
        learned = self.percentile_of(request)
        return (self._min_delay if learned is None else learned) * attempt
