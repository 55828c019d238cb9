"""How long to wait before attempt ``k``: constant, linear backoff, or a per-request provider.

A delays provider is a ``Callable[[int], float]`` (attempt number → seconds; attempt 0 is the
first) or a :class:`RequestAttemptDelaysProvider`, which also sees the request.
"""

from __future__ import annotations

import abc
import math
import random
from collections.abc import Callable
from typing import TypeAlias

from aio_request._core.validate import fraction, non_negative
from aio_request.http.request import Request


class RequestAttemptDelaysProvider(abc.ABC):
    """A delays provider that can choose per request (e.g. from learned latencies)."""

    __slots__ = ()

    @abc.abstractmethod
    def __call__(self, request: Request, attempt: int) -> float:
        """Seconds to wait before ``attempt`` of ``request``."""


DelaysProvider: TypeAlias = Callable[[int], float] | RequestAttemptDelaysProvider
"""Anything the strategies accept as ``delays_provider``."""


def constant_delays(*, delay: float = 0) -> Callable[[int], float]:
    """The same ``delay`` seconds before every attempt."""
    value = non_negative("delay", delay)

    def provide(_attempt: int) -> float:
        return value

    return provide


def linear_backoff_delays(
    *, min_delay_seconds: float = 0, delay_multiplier: float = 0.05, jitter: float = 0.2
) -> Callable[[int], float]:
    """``min_delay_seconds + attempt * delay_multiplier``, moved randomly by up to ``±jitter`` of itself.

    ``jitter`` is a fraction in ``[0, 1]``; 0 makes the delays exact.
    """
    base = non_negative("min_delay_seconds", min_delay_seconds)
    step = non_negative("delay_multiplier", delay_multiplier)
    spread = fraction("jitter", jitter, low_inclusive=True, high_inclusive=True)
    uniform = random.uniform

    def provide(attempt: int) -> float:
        delay = base + attempt * step
        if spread:
            delay *= 1 + uniform(-spread, spread)
        return delay

    return provide


linear_delays = linear_backoff_delays
"""An alias of :func:`linear_backoff_delays`."""


def resolve_delays(provider: DelaysProvider, request: Request) -> Callable[[int], float]:
    """Bind ``provider`` to ``request`` and guard its values: NaN raises, negatives become 0."""
    if isinstance(provider, RequestAttemptDelaysProvider):
        per_request = provider

        def bound(attempt: int) -> float:
            return _checked(per_request(request, attempt), attempt)

        return bound
    plain = provider

    def checked(attempt: int) -> float:
        return _checked(plain(attempt), attempt)

    return checked


def delay_for(provider: DelaysProvider, request: Request, attempt: int) -> float:
    """``provider``'s delay before ``attempt`` of ``request``, guarded as in :func:`resolve_delays`."""
    if isinstance(provider, RequestAttemptDelaysProvider):
        return _checked(provider(request, attempt), attempt)
    return _checked(provider(attempt), attempt)


def _checked(delay: float, attempt: int) -> float:
    if math.isnan(delay):
        raise ValueError(f"delays provider returned nan for attempt {attempt}")
    return delay if delay > 0 else 0.0
