"""Deadline-aware admission: refuse at once a request that cannot finish before its deadline.

:class:`ServiceTimes` learns each route's typical service time (how long its handler runs, not
the queue wait) as an exponential average of the handlers that finished normally. A request
whose remaining deadline is below that is answered ``408`` with ``X-Do-Not-Retry`` without
running: its caller would give up before the answer arrives, and the slot is worth more to a
request that can still be served.

Until a route has ``min_samples`` samples nothing is refused for it. Routes are keyed by their
template (never a raw path); at most ``max_routes`` are remembered, the least recently updated
forgotten first.
"""

from __future__ import annotations

from typing import Final

from aio_request._core.validate import at_least, fraction

__all__ = ["ServiceTimes"]

_UNKNOWN: Final = 0.0


class ServiceTimes:
    """The typical handler latency per route.

    Defaults: ``smoothing=0.1`` (weight of a new sample), ``min_samples=10``,
    ``max_routes=1024``. Raises ``ValueError`` naming a bad option.
    """

    __slots__ = ("_longest", "_max_routes", "_min_samples", "_routes", "_smoothing")

    def __init__(self, *, smoothing: float = 0.1, min_samples: int = 10, max_routes: int = 1024) -> None:
        self._smoothing = fraction("smoothing", smoothing, low_inclusive=False, high_inclusive=True)
        self._min_samples = at_least("min_samples", min_samples, 1)
        self._max_routes = at_least("max_routes", max_routes, 1)
        # route -> [average seconds, samples]
        self._routes: dict[str, list[float]] = {}
        self._longest = _UNKNOWN

    def observe(self, route: str, seconds: float) -> None:
        """A handler of ``route`` ran ``seconds`` and finished normally."""
        if not seconds >= 0:
            return
        entry = self._routes.pop(route, None)
        if entry is None:
            if len(self._routes) >= self._max_routes:
                del self._routes[next(iter(self._routes))]
            entry = [seconds, 0.0]
        else:
            entry[0] += (seconds - entry[0]) * self._smoothing
        entry[1] += 1.0
        self._routes[route] = entry  # re-inserted: the dict's order is least recently updated first
        if entry[1] >= self._min_samples and entry[0] > self._longest:
            self._longest = entry[0]

    def typical(self, route: str) -> float:
        """The typical service time of ``route``, 0 while it has too few samples."""
        entry = self._routes.get(route)
        if entry is None or entry[1] < self._min_samples:
            return _UNKNOWN
        return entry[0]

    def longest_bound(self) -> float:
        """At least the typical time of every route (0 when none is known): a request with more
        time left than this is never refused, so the route need not be looked up."""
        return self._longest

    def too_late(self, route: str, remaining: float) -> bool:
        """Whether ``remaining`` seconds are below the typical service time of ``route``."""
        return remaining < self.typical(route)
