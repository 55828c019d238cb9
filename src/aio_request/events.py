"""Telemetry as a stream of small events, and the hub that delivers them to listeners.

The core emits events; adapters (Prometheus, OpenTelemetry, logging) subscribe to a hub and turn
them into metrics, spans or log lines. The core never imports an adapter. Emitting costs one
truth test when nobody listens, so events are free to leave on.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Final

_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class ServerRequestFinished:
    """A server middleware finished handling one request.

    ``route`` is the route's template (never the raw path), ``status`` 499 when the client went
    away and 500 for an unhandled error, ``client`` the caller's ``X-Service-Name`` (or "").
    """

    route: str
    method: str
    status: int
    client: str
    duration: float


Event = ServerRequestFinished
"""Every event type the core emits (a union that grows with the telemetry issues)."""

EventListener = Callable[[Event], None]
"""Something told of every event; it must be quick and must not raise."""


class EventHub:
    """Delivers events to its listeners, in subscription order.

    A listener that raises is logged and skipped: telemetry never breaks a request.
    """

    __slots__ = ("_listeners",)

    def __init__(self) -> None:
        self._listeners: tuple[EventListener, ...] = ()

    @property
    def active(self) -> bool:
        """Whether anyone listens; emitters test this before building an event."""
        return bool(self._listeners)

    def subscribe(self, listener: EventListener) -> Callable[[], None]:
        """Add ``listener``; returns a function that removes it again."""
        self._listeners = (*self._listeners, listener)

        def unsubscribe() -> None:
            self._listeners = tuple(x for x in self._listeners if x is not listener)

        return unsubscribe

    def emit(self, event: Event) -> None:
        """Deliver ``event`` to every listener."""
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                _log.exception("telemetry listener %r failed", listener)


DEFAULT_EVENT_HUB: Final = EventHub()
"""The hub clients and middlewares use unless they are given another one."""
