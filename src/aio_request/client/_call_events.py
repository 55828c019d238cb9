"""The events of one ``client.request`` call and of its attempts.

The client builds a :class:`CallTelemetry` only when its hub is :attr:`~EventHub.active`, so a
client nobody listens to pays one truth test per call (and one ``is None`` test per attempt).
When it does, the call's attempt sender hands it to every attempt, which reports its start and
end to it, in the task that runs the attempt. Handlers are looked up once per call, and an event
nobody takes is never built (a Prometheus-only hub gets the two ``*Finished`` events of a call).

An attempt's kind is the one its strategy gave when starting it (see
:class:`~aio_request._core.outcomes.AttemptKind`); nothing here guesses it.
"""

from __future__ import annotations

import asyncio
import itertools

from aio_request._core.clock import Clock
from aio_request._core.outcomes import (
    CANCELLED_STATUS,
    ERROR_STATUS,
    AttemptKind,
    FailureKind,
    ResponseVerdict,
)
from aio_request.events import (
    AttemptFinished,
    AttemptStarted,
    EventHub,
    RequestFinished,
    RequestStarted,
    deliver,
)
from aio_request.http.deadline import Deadline
from aio_request.http.priority import Priority
from aio_request.http.request import Request
from aio_request.http.response import Response

_request_ids = itertools.count(1)


AttemptStart = tuple[int, AttemptKind, float]
"""An attempt's number, kind and start time, from :meth:`CallTelemetry.attempt_started`."""


class CallTelemetry:
    """The shared state of one observed call; emits :class:`RequestStarted` when built.

    ``endpoint`` is the endpoint URL as a string (the label of every event of the call).
    """

    __slots__ = (
        "_attempts",
        "_clock",
        "_endpoint",
        "_method",
        "_on_attempt_finished",
        "_on_attempt_started",
        "_on_request_finished",
        "_path",
        "_request_id",
        "_started_at",
    )

    def __init__(
        self,
        hub: EventHub,
        clock: Clock,
        endpoint: str,
        request: Request,
        deadline: Deadline,
        priority: Priority,
    ) -> None:
        routes = hub.listeners_by_type
        self._on_attempt_started = routes[AttemptStarted]
        self._on_attempt_finished = routes[AttemptFinished]
        self._on_request_finished = routes[RequestFinished]
        self._clock = clock
        self._request_id = next(_request_ids)
        self._endpoint = endpoint
        self._method = request.method
        self._path = request.url.path
        self._attempts = 0
        handlers = routes[RequestStarted]
        if handlers:
            deliver(
                handlers,
                RequestStarted(
                    request_id=self._request_id,
                    endpoint=endpoint,
                    method=self._method,
                    path=self._path,
                    timeout=deadline.timeout,
                    priority=priority,
                    request=request,
                ),
            )
        self._started_at = clock.now()

    def attempt_started(self, request: Request, deadline: Deadline, kind: AttemptKind) -> AttemptStart:
        """Count a new attempt of ``kind`` and emit :class:`AttemptStarted`; pass the result to
        :meth:`attempt_finished` or :meth:`attempt_failed` (exactly once)."""
        self._attempts += 1
        number = self._attempts
        handlers = self._on_attempt_started
        if handlers:
            deliver(
                handlers,
                AttemptStarted(
                    request_id=self._request_id,
                    endpoint=self._endpoint,
                    method=self._method,
                    path=self._path,
                    attempt=number,
                    kind=kind,
                    timeout=deadline.timeout,
                    request=request,
                ),
            )
        return number, kind, self._clock.now()

    def attempt_finished(self, started: AttemptStart, response: Response, verdict: ResponseVerdict) -> None:
        """Emit :class:`AttemptFinished` for an attempt's response and verdict."""
        handlers = self._on_attempt_finished
        if handlers:
            number, kind, started_at = started
            failure = response.failure
            # Positional, in the fields' declared order: keywords make building an event about
            # two thirds dearer, and this runs for every attempt.
            event = AttemptFinished(
                self._request_id,
                self._endpoint,
                self._method,
                self._path,
                number,
                kind,
                response.status,
                verdict,
                None if failure is None else failure.kind,
                False,
                None,
                self._clock.now() - started_at,
            )
            deliver(handlers, event)

    def attempt_failed(self, started: AttemptStart, error: BaseException) -> None:
        """Emit :class:`AttemptFinished` for an attempt that raised or was cancelled."""
        if self._on_attempt_finished:
            number, kind, started_at = started
            cancelled = isinstance(error, asyncio.CancelledError)
            deliver(
                self._on_attempt_finished,
                AttemptFinished(
                    request_id=self._request_id,
                    endpoint=self._endpoint,
                    method=self._method,
                    path=self._path,
                    attempt=number,
                    kind=kind,
                    status=_error_status(error),
                    verdict=None,
                    failure=None,
                    cancelled=cancelled,
                    error=None if cancelled else error,
                    duration=self._clock.now() - started_at,
                ),
            )

    def finished(self, response: Response) -> None:
        """Emit :class:`RequestFinished` for the response handed to the caller."""
        handlers = self._on_request_finished
        if handlers:
            failure = response.failure
            failure_kind = None if failure is None else failure.kind
            # Positional, in the fields' declared order (see attempt_finished).
            event = RequestFinished(
                self._request_id,
                self._endpoint,
                self._method,
                self._path,
                response.status,
                failure_kind,
                failure_kind is FailureKind.CIRCUIT_OPEN,
                self._attempts,
                False,
                None,
                self._clock.now() - self._started_at,
            )
            deliver(handlers, event)

    def failed(self, error: BaseException) -> None:
        """Emit :class:`RequestFinished` for a call that raised or was cancelled."""
        if self._on_request_finished:
            cancelled = isinstance(error, asyncio.CancelledError)
            deliver(
                self._on_request_finished,
                RequestFinished(
                    request_id=self._request_id,
                    endpoint=self._endpoint,
                    method=self._method,
                    path=self._path,
                    status=_error_status(error),
                    failure=None,
                    circuit_breaker=False,
                    attempts=self._attempts,
                    cancelled=cancelled,
                    error=None if cancelled else error,
                    duration=self._clock.now() - self._started_at,
                ),
            )


def _error_status(error: BaseException) -> int:
    """The status recorded for a call or attempt that raised: 499 when cancelled, else 0."""
    return CANCELLED_STATUS if isinstance(error, asyncio.CancelledError) else ERROR_STATUS
