"""Log lines from the events of :mod:`aio_request.events` (standard library ``logging`` only).

Opt in with ``aio_request.telemetry.logging.install()``. Levels:

* a finished call: ``DEBUG`` (``WARNING`` when it raised);
* a finished attempt: ``DEBUG``;
* a retry or hedge refused by a budget: ``WARNING``;
* a circuit opening: ``WARNING``; half-opening or closing: ``INFO``;
* a finished server request: ``DEBUG`` (``WARNING`` for 5xx).

Each line is built only when its level is enabled on the logger, so a quiet logger costs a
level check per event. Fields are also passed as ``extra`` (``aio_request_event``) for
structured handlers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from aio_request.events import (
    DEFAULT_EVENT_HUB,
    AttemptFinished,
    BudgetExhausted,
    CircuitStateChanged,
    Event,
    EventHandler,
    EventHub,
    RequestFinished,
    ServerRequestFinished,
)

__all__ = ["LoggingListener", "install"]


class LoggingListener:
    """An event listener writing one log line per call, attempt, refusal or transition.

    ``logger`` defaults to ``logging.getLogger("aio_request")``.
    """

    __slots__ = ("_logger", "event_handlers")

    event_handlers: Mapping[type, EventHandler]
    """The function for each event class it logs; the hub calls these directly."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._logger = logger if logger is not None else logging.getLogger("aio_request")
        self.event_handlers = {
            RequestFinished: self._request_finished,
            AttemptFinished: self._attempt_finished,
            BudgetExhausted: self._budget_exhausted,
            CircuitStateChanged: self._circuit_state_changed,
            ServerRequestFinished: self._server_request_finished,
        }

    def __call__(self, event: Event) -> None:
        """Log ``event`` if its level is enabled."""
        handler = self.event_handlers.get(type(event))
        if handler is not None:
            handler(event)

    def _log(self, level: int, event: Event, message: str, *args: object) -> None:
        if self._logger.isEnabledFor(level):
            self._logger.log(level, message, *args, extra={"aio_request_event": event})

    def _request_finished(self, event: RequestFinished) -> None:
        level = logging.WARNING if event.error is not None else logging.DEBUG
        self._log(
            level,
            event,
            "%s %s%s -> %s%s in %.1f ms after %d attempt(s)%s",
            event.method,
            event.endpoint,
            event.path,
            event.status,
            f" ({event.failure})" if event.failure else "",
            event.duration * 1000,
            event.attempts,
            f": {event.error!r}" if event.error is not None else " (cancelled)" if event.cancelled else "",
        )

    def _attempt_finished(self, event: AttemptFinished) -> None:
        self._log(
            logging.DEBUG,
            event,
            "%s %s%s attempt %d (%s) -> %s%s %s in %.1f ms",
            event.method,
            event.endpoint,
            event.path,
            event.attempt,
            event.kind,
            event.status,
            f" ({event.failure})" if event.failure else "",
            "cancelled" if event.cancelled else event.verdict or "error",
            event.duration * 1000,
        )

    def _budget_exhausted(self, event: BudgetExhausted) -> None:
        self._log(
            logging.WARNING,
            event,
            "%s not sent to %s: %s budget exhausted",
            event.kind,
            event.scope,
            event.budget,
        )

    def _circuit_state_changed(self, event: CircuitStateChanged) -> None:
        level = logging.WARNING if str(event.new) == "open" else logging.INFO
        self._log(level, event, "circuit of %s: %s -> %s", event.scope, event.old, event.new)

    def _server_request_finished(self, event: ServerRequestFinished) -> None:
        level = logging.WARNING if event.status >= 500 else logging.DEBUG
        self._log(
            level,
            event,
            "served %s %s to %r -> %s in %.1f ms",
            event.method,
            event.route,
            event.client,
            event.status,
            event.duration * 1000,
        )


def install(
    logger: logging.Logger | None = None, *, event_hub: EventHub = DEFAULT_EVENT_HUB
) -> Callable[[], None]:
    """Subscribe a :class:`LoggingListener` to ``event_hub``; returns its unsubscriber."""
    return event_hub.subscribe(LoggingListener(logger))
