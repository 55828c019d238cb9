"""Client-side adaptive throttling: reject locally in proportion to the backend's recent refusals.

The breaker of the Google SRE book ("Handling Overload"). Per scope it counts, over a rolling
``window_seconds``, the *requests* the client attempted (those it rejected itself included) and
the *accepts*, the requests the backend answered successfully. Each new request is rejected
locally, without being sent, with probability::

    max(0, (requests - k * accepts) / (requests + 1))

While the backend accepts at least one request in ``k`` (2 by default), nothing is rejected;
when it accepts none, almost every request is rejected locally — but never all of them, so the
client keeps sampling the backend and the probability falls as soon as accepts come back.
Unlike an open circuit, there is no fixed break: recovery starts with the first success, and
each accept lets more requests through, so the throttle lets go within several windows of the
backend healing (about 8 at 100 requests per window in the tests; fewer at low traffic, where
``requests + 1`` lets more through). The window sets both speeds: how fast the throttle
follows an incident, and how fast it lets go after one; how many requests fall in a window sets
how hard it throttles (at most ``requests / (requests + 1)`` are rejected).

Counted per request: a rejected one as a request without accept; a finished one as a request,
and an accept when ``is_successful``; one that raised as a request without accept. A cancelled
request is not counted (cancellation says nothing about the backend: hedging cancels losers).

States, for :attr:`state` and :class:`~aio_request.events.CircuitStateChanged`: ``CLOSED``
while the rejection probability is 0, ``HALF_OPEN`` while it is above 0 (some requests are let
through to test the backend). ``OPEN`` is never reported: the throttle always lets some through.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Final

from aio_request._core.clock import MONOTONIC_CLOCK, Clock
from aio_request._core.validate import between, int_between, positive
from aio_request.circuit_breaker.breaker import CircuitBreaker, TResult, TScope
from aio_request.circuit_breaker.metrics import MAX_WINDOWS_COUNT, RollingCircuitBreakerMetrics
from aio_request.circuit_breaker.state import CircuitState
from aio_request.events import DEFAULT_EVENT_HUB, CircuitStateChanged, EventHub

MAX_K: Final = 1000.0
"""The largest ``k`` accepted."""

DEFAULT_K: Final = 2.0
"""The SRE book's multiplier: the backend may refuse up to half the requests before throttling."""


class _Throttle:
    """The counts and the reported state of one scope."""

    __slots__ = ("metrics", "state")

    def __init__(self, window_seconds: float, windows_count: int) -> None:
        self.metrics = RollingCircuitBreakerMetrics(window_seconds, windows_count)
        self.state = CircuitState.CLOSED


class AdaptiveThrottlingCircuitBreaker(CircuitBreaker[TScope, TResult]):
    """Rejects requests locally with the SRE book's probability (see the module docstring).

    ``k`` (2.0, in ``[1, 1000]``): how many requests per accept the backend may see before throttling
    starts; lower is more aggressive. ``window_seconds`` (10 s, > 0) in ``windows_count`` (10)
    parts: how long results count — the shorter, the faster the throttle follows an incident
    and a recovery. ``rng`` draws uniformly from ``[0, 1)`` (inject a seeded one in tests).
    Transitions are announced as :class:`~aio_request.events.CircuitStateChanged` events on
    ``event_hub``. Invalid options raise ``ValueError`` naming the option.

    >>> breaker = AdaptiveThrottlingCircuitBreaker[str, int](window_seconds=5.0)
    """

    __slots__ = ("_clock", "_event_hub", "_k", "_rng", "_throttles", "_window_seconds", "_windows_count")

    def __init__(
        self,
        *,
        k: float = DEFAULT_K,
        window_seconds: float = 10.0,
        windows_count: int = 10,
        clock: Clock = MONOTONIC_CLOCK,
        event_hub: EventHub = DEFAULT_EVENT_HUB,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._k = between("k", k, 1.0, MAX_K)
        self._window_seconds = positive("window_seconds", window_seconds)
        self._windows_count = int_between("windows_count", windows_count, 1, MAX_WINDOWS_COUNT)
        self._clock = clock
        self._event_hub = event_hub
        self._rng = rng
        self._throttles: dict[TScope, _Throttle] = {}

    def _throttle(self, scope: TScope) -> _Throttle:
        throttle = self._throttles.get(scope)
        if throttle is None:
            throttle = self._throttles[scope] = _Throttle(self._window_seconds, self._windows_count)
        return throttle

    def rejection_probability(self, scope: TScope) -> float:
        """The probability that a request to ``scope`` made now is rejected locally."""
        throttle = self._throttles.get(scope)
        if throttle is None:
            return 0.0
        return self._probability(throttle, self._clock.now())

    def _probability(self, throttle: _Throttle, now: float) -> float:
        counts = throttle.metrics.snapshot(now)
        requests = counts.total
        return max(0.0, (requests - self._k * counts.successes) / (requests + 1))

    def _report(self, scope: TScope, throttle: _Throttle, probability: float) -> None:
        new = CircuitState.HALF_OPEN if probability > 0 else CircuitState.CLOSED
        old = throttle.state
        if new is not old:
            throttle.state = new
            hub = self._event_hub
            if hub.active:
                hub.emit(CircuitStateChanged(scope=scope, old=old, new=new))

    async def execute(
        self,
        *,
        scope: TScope,
        operation: Callable[[], Awaitable[TResult]],
        fallback: TResult,
        is_successful: Callable[[TResult], bool],
    ) -> TResult:
        """Run ``operation``, or return ``fallback`` with the rejection probability.

        An exception from ``operation`` or ``is_successful`` counts as a request the backend
        did not accept, and propagates.
        """
        throttle = self._throttle(scope)
        now = self._clock.now()
        probability = self._probability(throttle, now)
        self._report(scope, throttle, probability)
        if probability > 0 and self._rng() < probability:
            self._count(scope, throttle, accepted=False, now=now)
            return fallback
        try:
            result = await operation()
            successful = bool(is_successful(result))
        except asyncio.CancelledError:
            raise
        except BaseException:
            self._count(scope, throttle, accepted=False, now=self._clock.now())
            raise
        self._count(scope, throttle, accepted=successful, now=self._clock.now())
        return result

    def _count(self, scope: TScope, throttle: _Throttle, *, accepted: bool, now: float) -> None:
        throttle.metrics.add(is_successful=accepted, now=now)
        self._report(scope, throttle, self._probability(throttle, now))

    @property
    def state(self) -> Mapping[TScope, CircuitState]:
        """A read-only snapshot: scope → ``HALF_OPEN`` while throttling, else ``CLOSED``."""
        now = self._clock.now()
        return MappingProxyType(
            {
                scope: CircuitState.HALF_OPEN if self._probability(throttle, now) > 0 else CircuitState.CLOSED
                for scope, throttle in self._throttles.items()
            }
        )
