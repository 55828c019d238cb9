"""The events of one ``client.request`` call and of its attempts.

The client builds a :class:`CallTelemetry` only when its hub is :attr:`~EventHub.active`, so a
client nobody listens to pays one truth test per call (and one ``is None`` test per attempt).
When it does, the call's attempt sender hands it to every attempt, which reports its start and
end to it, in the task that runs the attempt.

This is the hot path of every observed request, hence its shape: handlers are looked up once per
call, an event nobody takes is never built (a Prometheus-only hub gets the two ``*Finished``
events of a call and nothing else), hot events are delivered inline rather than through
:func:`~aio_request.events.deliver`, the real clock is read through :func:`time.monotonic`
directly, and the status and failure of the response handed to the caller are taken from its
attempt rather than read again.

The attempt kind is what can be observed rather than what was asked for: a *hedge* is an
attempt started while another attempt of the same call is still waiting for its response, a
*retry* one started when none is. A hedged strategy whose attempt was rejected early starts
the next one at once; with nothing else in flight that attempt is reported as a retry.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import Final

import yarl

from aio_request._core.clock import Clock
from aio_request._core.errors import FailureKind
from aio_request.events import (
    AttemptFinished,
    AttemptStarted,
    EventHandler,
    EventHub,
    RequestFinished,
    RequestStarted,
    deliver,
)
from aio_request.http.deadline import Deadline
from aio_request.http.priority import Priority
from aio_request.http.request import Request
from aio_request.http.response import Response
from aio_request.policies.classify import ResponseVerdict

_log = logging.getLogger("aio_request.events")

CANCELLED_STATUS: Final = 499
"""The status recorded for a call or an attempt that was cancelled."""
ERROR_STATUS: Final = 0
"""The status recorded for a call or an attempt that raised instead of producing a response."""

AttemptStart = tuple[int, str, float]
"""An attempt's number, kind and start time, from :meth:`CallTelemetry.attempt_started`."""

_request_ids = itertools.count(1)
_endpoint_labels: dict[yarl.URL, str] = {}
_MAX_ENDPOINT_LABELS: Final = 1024
_last_endpoint: tuple[yarl.URL | None, str] = (None, "")


def endpoint_label(endpoint: yarl.URL) -> str:
    """``str(endpoint)``, cached: formatting a URL costs more than a whole event.

    The last endpoint is remembered by identity (a static endpoint provider returns the same URL
    object every time), others by value in a bounded dict.
    """
    global _last_endpoint
    last, label = _last_endpoint
    if endpoint is last:
        return label
    found = _endpoint_labels.get(endpoint)
    if found is None:
        if len(_endpoint_labels) >= _MAX_ENDPOINT_LABELS:
            _endpoint_labels.clear()
        found = _endpoint_labels[endpoint] = str(endpoint)
    _last_endpoint = (endpoint, found)
    return found


def _failure_name(response: Response) -> str | None:
    failure = response.failure
    return None if failure is None else failure.kind.value


def _deliver_inline_failed(handler: EventHandler) -> None:
    _log.exception("telemetry listener %r failed", handler)


class CallTelemetry:
    """The shared state of one observed call; emits :class:`RequestStarted` when built."""

    __slots__ = (
        "attempts",
        "endpoint",
        "last_failure",
        "last_response",
        "last_status",
        "method",
        "now",
        "on_attempt_finished",
        "on_attempt_started",
        "on_request_finished",
        "path",
        "request_id",
        "sending",
        "started_at",
    )

    def __init__(
        self,
        hub: EventHub,
        clock: Clock,
        endpoint: yarl.URL,
        request: Request,
        deadline: Deadline,
        priority: Priority,
    ) -> None:
        routes = hub.listeners_by_type
        self.on_attempt_started = routes[AttemptStarted]
        self.on_attempt_finished = routes[AttemptFinished]
        self.on_request_finished = routes[RequestFinished]
        self.now: Callable[[], float] = clock.now
        self.request_id = next(_request_ids)
        self.endpoint = endpoint_label(endpoint)
        self.method = request.method
        self.path = request.url.path
        self.attempts = 0
        self.sending = 0
        self.last_response: Response | None = None
        self.last_status = 0
        self.last_failure: str | None = None
        handlers = routes[RequestStarted]
        if handlers:
            deliver(
                handlers,
                RequestStarted(
                    self.request_id,
                    self.endpoint,
                    self.method,
                    self.path,
                    deadline.timeout,
                    priority,
                    request,
                ),
            )
        self.started_at = self.now()

    def attempt_started(self, request: Request, deadline: Deadline) -> AttemptStart:
        """Count a new attempt and emit :class:`AttemptStarted`; pass the result to
        :meth:`attempt_finished` or :meth:`attempt_failed` (exactly once)."""
        number = self.attempts = self.attempts + 1
        kind = "first" if number == 1 else "hedge" if self.sending else "retry"
        self.sending += 1
        handlers = self.on_attempt_started
        if handlers:
            deliver(
                handlers,
                AttemptStarted(
                    self.request_id,
                    self.endpoint,
                    self.method,
                    self.path,
                    number,
                    kind,
                    deadline.timeout,
                    request,
                ),
            )
        return number, kind, self.now()

    def attempt_finished(
        self, started: AttemptStart | None, response: Response, verdict: ResponseVerdict
    ) -> None:
        """Emit :class:`AttemptFinished` for an attempt's response and verdict."""
        if started is None:
            return
        number, kind, started_at = started
        duration = self.now() - started_at
        self.sending -= 1
        handlers = self.on_attempt_finished
        if not handlers:
            return
        status = response.status
        failure_cause = response.failure
        failure = None if failure_cause is None else failure_cause.kind.value
        self.last_response, self.last_status, self.last_failure = response, status, failure
        event = AttemptFinished(
            self.request_id,
            self.endpoint,
            self.method,
            self.path,
            number,
            kind,
            status,
            "accept" if verdict is ResponseVerdict.ACCEPT else "reject",
            failure,
            False,
            None,
            duration,
        )
        for handler in handlers:
            try:
                handler(event)
            except Exception:
                _deliver_inline_failed(handler)

    def attempt_failed(self, started: AttemptStart | None, error: BaseException) -> None:
        """Emit :class:`AttemptFinished` for an attempt that raised or was cancelled."""
        if started is None:
            return
        number, kind, started_at = started
        duration = self.now() - started_at
        self.sending -= 1
        handlers = self.on_attempt_finished
        if handlers:
            cancelled = isinstance(error, asyncio.CancelledError)
            deliver(
                handlers,
                AttemptFinished(
                    self.request_id,
                    self.endpoint,
                    self.method,
                    self.path,
                    number,
                    kind,
                    CANCELLED_STATUS if cancelled else ERROR_STATUS,
                    None,
                    None,
                    cancelled,
                    None if cancelled else error,
                    duration,
                ),
            )

    def finished(self, response: Response) -> None:
        """Emit :class:`RequestFinished` for the response handed to the caller."""
        duration = self.now() - self.started_at
        handlers = self.on_request_finished
        if not handlers:
            return
        if response is self.last_response:
            status, failure = self.last_status, self.last_failure
        else:
            status, failure = response.status, _failure_name(response)
        event = RequestFinished(
            self.request_id,
            self.endpoint,
            self.method,
            self.path,
            status,
            failure,
            failure == FailureKind.CIRCUIT_OPEN.value,
            self.attempts,
            False,
            None,
            duration,
        )
        for handler in handlers:
            try:
                handler(event)
            except Exception:
                _deliver_inline_failed(handler)

    def failed(self, error: BaseException) -> None:
        """Emit :class:`RequestFinished` for a call that raised or was cancelled."""
        duration = self.now() - self.started_at
        handlers = self.on_request_finished
        if handlers:
            cancelled = isinstance(error, asyncio.CancelledError)
            deliver(
                handlers,
                RequestFinished(
                    self.request_id,
                    self.endpoint,
                    self.method,
                    self.path,
                    CANCELLED_STATUS if cancelled else ERROR_STATUS,
                    None,
                    False,
                    self.attempts,
                    cancelled,
                    None if cancelled else error,
                    duration,
                ),
            )
