"""What the aiohttp and ASGI middlewares share: options, the incoming deadline, the finished event.

Deadline rules (one place, so both middlewares agree):

* the *route timeout* is the route's own (``aiohttp_timeout``/``asgi_timeout``), else the
  middleware's ``timeout``: it is the deadline when the caller sends no ``X-Request-Timeout``;
* a caller's ``X-Request-Timeout`` (parsed by :func:`aio_request.http.headers.parse_request_timeout`)
  takes priority over the route timeout, capped at the *limit*: ``max_timeout`` (whose default is
  the middleware's ``timeout``), or the route's own timeout when that is longer. Huge or infinite
  headers are capped, so a caller can never switch the server's deadline off (as Envoy caps
  ``grpc-timeout`` by ``grpc_timeout_header_max``);
* the deadline is measured from the moment the middleware saw the request;
* a deadline of zero or below ``low_timeout_threshold`` is answered at once with ``408`` and
  ``X-Do-Not-Retry``, without running the handler.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import Any, Final, TypeVar

from multidict import istr

from aio_request._core.clock import MONOTONIC_CLOCK, Clock
from aio_request._core.validate import non_negative, positive
from aio_request.events import EventHub, ServerRequestFinished
from aio_request.http.headers import parse_request_timeout
from aio_request.http.priority import Priority

UNMATCHED_ROUTE: Final = "<unmatched>"
"""The ``route`` of events for requests that matched no route (never the raw path)."""

CLIENT_CLOSED_REQUEST: Final = 499
"""The status recorded when the handler was cancelled because the client went away."""

TIMEOUT_STATUS: Final = 408
"""The status answered when the deadline is spent."""

DO_NOT_RETRY_HEADERS: Final = (("X-Do-Not-Retry", "1"),)
"""Headers of the 408 answers: retrying a spent deadline is pointless."""

MAX_CLIENT_NAME_LENGTH: Final = 64
"""A longer (or non-printable, non-ASCII) ``X-Service-Name`` is recorded as ``""``."""

_ROUTE_TIMEOUT_ATTRIBUTE: Final = "__aio_request_timeout__"
_TCHARS: Final = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")

_T = TypeVar("_T")


def check_route_timeout(seconds: float) -> float:
    """Validate a per-route timeout: a finite number > 0 (``ValueError`` naming ``seconds``)."""
    return positive("seconds", seconds)


def mark_route_timeout(target: _T, seconds: float) -> _T:
    """Attach a per-route timeout to a handler; ``TypeError`` if it cannot carry attributes."""
    try:
        setattr(target, _ROUTE_TIMEOUT_ATTRIBUTE, seconds)
    except (AttributeError, TypeError) as e:
        raise TypeError(f"cannot set a route timeout on {target!r}: it does not accept attributes") from e
    return target


def route_timeout_of(target: Any) -> float | None:
    """The per-route timeout attached to ``target`` (a handler), or ``None``."""
    value = getattr(target, _ROUTE_TIMEOUT_ATTRIBUTE, None)
    return value if isinstance(value, float) else None


def _check_header_name(name: str) -> istr:
    if not isinstance(name, str) or not name or any(ch not in _TCHARS for ch in name):
        raise ValueError(f"client_header_name must be a non-empty HTTP header name, got {name!r}")
    return istr(name)


def client_name(value: str | None) -> str:
    """The caller's name for telemetry: stripped, else ``""`` when absent or not a sane label."""
    if value is None:
        return ""
    name = value.strip(" \t")
    if len(name) > MAX_CLIENT_NAME_LENGTH or not name.isascii() or not name.isprintable():
        return ""
    return name


@dataclasses.dataclass(frozen=True, slots=True)
class ServerOptions:
    """The validated options of a server middleware (see :meth:`create` for the defaults)."""

    timeout: float
    priority: Priority
    low_timeout_threshold: float
    client_header_name: istr
    cancel_on_timeout: bool
    max_timeout: float | None
    event_hub: EventHub
    clock: Clock

    @staticmethod
    def create(
        *,
        timeout: float,
        priority: Priority | str,
        low_timeout_threshold: float,
        client_header_name: str,
        cancel_on_timeout: bool,
        max_timeout: float | None,
        event_hub: EventHub,
        clock: Clock = MONOTONIC_CLOCK,
    ) -> ServerOptions:
        """Validate the options; ``ValueError`` names the bad parameter and its value."""
        checked_timeout = positive("timeout", timeout)
        parsed_priority = priority if isinstance(priority, Priority) else None
        if parsed_priority is None and isinstance(priority, str):
            parsed_priority = Priority.try_parse(priority)
        if parsed_priority is None:
            raise ValueError(f"priority must be a Priority (high, normal or low), got {priority!r}")
        threshold = non_negative("low_timeout_threshold", low_timeout_threshold)
        if threshold >= checked_timeout:
            raise ValueError(
                f"low_timeout_threshold must be < timeout ({checked_timeout!r}), "
                f"got {low_timeout_threshold!r}"
            )
        if not isinstance(cancel_on_timeout, bool):
            raise ValueError(f"cancel_on_timeout must be a bool, got {cancel_on_timeout!r}")
        checked_max: float | None = None
        if max_timeout is not None:
            checked_max = positive("max_timeout", max_timeout)
            if checked_max < checked_timeout:
                raise ValueError(f"max_timeout must be >= timeout ({checked_timeout!r}), got {max_timeout!r}")
        if not isinstance(event_hub, EventHub):
            raise ValueError(f"event_hub must be an EventHub, got {event_hub!r}")
        return ServerOptions(
            timeout=checked_timeout,
            priority=parsed_priority,
            low_timeout_threshold=threshold,
            client_header_name=_check_header_name(client_header_name),
            cancel_on_timeout=cancel_on_timeout,
            max_timeout=checked_max,
            event_hub=event_hub,
            clock=clock,
        )

    def limit(self, route_timeout: float | None) -> float:
        """The longest deadline a caller may ask for on a route with ``route_timeout``."""
        cap = self.timeout if self.max_timeout is None else self.max_timeout
        return cap if route_timeout is None or route_timeout <= cap else route_timeout

    def deadline_seconds(self, timeout_values: Iterable[str], route_timeout: float | None) -> float:
        """Seconds the handler gets: the header capped at the limit, else the route timeout.

        Always finite and within ``0 <= seconds <= limit(route_timeout)``.
        """
        parsed = parse_request_timeout(timeout_values, limit=self.limit(route_timeout))
        if parsed is not None:
            return parsed
        return self.timeout if route_timeout is None else route_timeout

    def too_late(self, seconds: float) -> bool:
        """Whether ``seconds`` left is too little to start the handler (answer 408 at once)."""
        return seconds <= 0 or math.isnan(seconds) or seconds < self.low_timeout_threshold

    def finished(self, *, route: str, method: str, status: int, client: str, started_at: float) -> None:
        """Emit :class:`ServerRequestFinished`; callers test ``event_hub.active`` first, so that
        nothing (not even the route template) is computed when nobody listens."""
        duration = self.clock.now() - started_at
        self.event_hub.emit(
            ServerRequestFinished(route=route, method=method, status=status, client=client, duration=duration)
        )
