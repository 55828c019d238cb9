"""The event listener that turns client and server events into spans and metrics."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import Token
from typing import Final, NamedTuple, TypeVar

import yarl
from opentelemetry import context as otel_context
from opentelemetry import metrics as otel_metrics
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from aio_request._version import __version__
from aio_request.events import (
    DEFAULT_EVENT_HUB,
    AttemptFinished,
    AttemptStarted,
    BudgetExhausted,
    CircuitStateChanged,
    Event,
    EventHandler,
    EventHub,
    OverloadAdmitted,
    OverloadLimitChanged,
    OverloadReleased,
    OverloadShed,
    RequestFinished,
    RequestStarted,
    ServerRequestFinished,
)
from aio_request.http.request import Request
from aio_request.telemetry import LATENCY_BUCKETS
from aio_request.telemetry.otel._common import SCOPE_NAME, Attributes
from aio_request.telemetry.otel.replicas import ReplicaTelemetry

_CIRCUIT_STATE_VALUES: Final = {"closed": 0, "half_open": 1, "open": 2}
_MAX_CACHED: Final = 1024
"""Entries per cache (endpoints, URLs, label sets); a full cache is emptied and starts over."""

_ERROR_STATUS: Final = Status(StatusCode.ERROR)

_K = TypeVar("_K")
_V = TypeVar("_V")


def _remember(cache: dict[_K, _V], key: _K, value: _V) -> _V:
    if len(cache) >= _MAX_CACHED:
        cache.clear()
    cache[key] = value
    return value


class _Endpoint(NamedTuple):
    url: yarl.URL
    attributes: Attributes  # server.address and server.port


_endpoints: dict[str, _Endpoint] = {}
_full_urls: dict[yarl.URL, str] = {}


def _endpoint(endpoint: str) -> _Endpoint:
    cached = _endpoints.get(endpoint)
    if cached is None:
        url = yarl.URL(endpoint)
        attributes: Attributes = {}
        if url.host is not None:
            attributes["server.address"] = url.host
        if url.port is not None:
            attributes["server.port"] = url.port
        cached = _remember(_endpoints, endpoint, _Endpoint(url, attributes))
    return cached


def _full_url(request: Request, endpoint: str) -> str:
    url = request.build_url(_endpoint(endpoint).url)
    full = _full_urls.get(url)
    if full is None:
        full = _remember(
            _full_urls,
            url,
            str(url.with_user(None) if url.user is not None or url.password is not None else url),
        )
    return full


def _outcome(
    attributes: Attributes,
    *,
    status: int,
    failure: str | None,
    cancelled: bool,
    error: BaseException | None,
) -> bool:
    """Add the outcome attributes; return whether it counts as an error."""
    attributes["aio_request.status"] = status
    if cancelled:
        return False
    if error is not None:
        attributes["error.type"] = type(error).__qualname__
        return True
    if failure is not None:
        attributes["error.type"] = failure
        return True
    attributes["http.response.status_code"] = status
    if status >= 400:
        attributes["error.type"] = str(status)
        return True
    return False


class _Start(NamedTuple):
    """A span's name and the attributes at its start that every call of a label set shares."""

    name: str
    attributes: Attributes


class _CallEnd(NamedTuple):
    """What a call's end records, the same for every call of a label set."""

    duration: Attributes  # the call duration's attributes
    span: Attributes  # added to the call span (the rest was set at its start)
    failed: bool


class _AttemptEnd(NamedTuple):
    """What an attempt's end records, the same for every attempt of a label set."""

    duration: Attributes  # the attempt duration's attributes
    counted: Attributes  # the attempts counter's attributes
    span: Attributes  # added to the attempt span (the rest was set at its start)
    failed: bool


def _call_start(event: RequestStarted) -> _Start:
    return _Start(
        f"{event.method} {event.path}",
        {
            "http.request.method": event.method,
            "url.template": event.path,
            **_endpoint(event.endpoint).attributes,
            "aio_request.endpoint": event.endpoint,
            "aio_request.priority": event.priority,
        },
    )


def _call_end(event: RequestFinished) -> _CallEnd:
    outcome: Attributes = {"aio_request.circuit_breaker": event.circuit_breaker}
    failed = _outcome(
        outcome, status=event.status, failure=event.failure, cancelled=event.cancelled, error=event.error
    )
    duration: Attributes = {
        "http.request.method": event.method,
        **_endpoint(event.endpoint).attributes,
        "url.template": event.path,
        **outcome,
    }
    span: Attributes = {**outcome, "aio_request.attempts": event.attempts}
    if event.cancelled:
        span["aio_request.cancelled"] = True
    return _CallEnd(duration, span, failed)


def _attempt_start(event: AttemptStarted) -> _Start:
    attributes: Attributes = {
        "http.request.method": event.method,
        "url.template": event.path,
        **_endpoint(event.endpoint).attributes,
        "aio_request.attempt": event.attempt,
        "aio_request.attempt.kind": event.kind,
    }
    if event.attempt > 1:
        attributes["http.request.resend_count"] = event.attempt - 1
    return _Start(f"{event.method} {event.path}", attributes)


def _attempt_end(event: AttemptFinished) -> _AttemptEnd:
    outcome: Attributes = {}
    failed = _outcome(
        outcome, status=event.status, failure=event.failure, cancelled=event.cancelled, error=event.error
    )
    labels: Attributes = {
        "http.request.method": event.method,
        **_endpoint(event.endpoint).attributes,
        "url.template": event.path,
    }
    counted: Attributes = {
        **labels,
        "aio_request.attempt.kind": event.kind,
        "aio_request.attempt.outcome": "cancelled" if event.cancelled else event.verdict or "error",
    }
    span = dict(outcome)
    if event.verdict is not None:
        span["aio_request.verdict"] = event.verdict
    if event.cancelled:
        span["aio_request.cancelled"] = True
    return _AttemptEnd({**labels, **outcome}, counted, span, failed)


def _duration_histogram(meter: otel_metrics.Meter, name: str, description: str) -> otel_metrics.Histogram:
    """A histogram in seconds advising :data:`LATENCY_BUCKETS` (the advice needs API 1.30+)."""
    try:
        return meter.create_histogram(
            name, unit="s", description=description, explicit_bucket_boundaries_advisory=list(LATENCY_BUCKETS)
        )
    except TypeError:  # opentelemetry-api < 1.30: no bucket advice, the SDK's defaults apply
        return meter.create_histogram(name, unit="s", description=description)


class _Instruments:
    """The OpenTelemetry instruments, created on first use."""

    def __init__(self, meter: otel_metrics.Meter) -> None:
        self.client_duration = _duration_histogram(
            meter,
            "aio_request.client.duration",
            "Duration of client calls (all attempts, until the response is chosen)",
        )
        self.attempt_duration = _duration_histogram(
            meter, "http.client.request.duration", "Duration of HTTP client requests (each attempt)"
        )
        self.attempts = meter.create_counter(
            "aio_request.client.attempts",
            unit="{attempt}",
            description="Attempts of client calls by kind and outcome",
        )
        self.budget_exhausted = meter.create_counter(
            "aio_request.client.budget_exhausted",
            unit="{attempt}",
            description="Retries and hedges not sent because a budget was empty",
        )
        self.circuit_transitions = meter.create_counter(
            "aio_request.circuit_breaker.transitions",
            unit="{transition}",
            description="Circuit breaker transitions, by the state entered",
        )
        self.circuit_state = meter.create_gauge(
            "aio_request.circuit_breaker.state",
            unit="1",
            description="Circuit state per endpoint: 0 closed, 1 half-open, 2 open",
        )
        self.server_duration = _duration_histogram(
            meter, "http.server.request.duration", "Duration of HTTP server requests"
        )
        self.concurrency_limit = meter.create_gauge(
            "aio_request.server.concurrency_limit",
            unit="{request}",
            description="The adaptive concurrency limit of a server's overload protection",
        )
        self.in_flight = meter.create_gauge(
            "aio_request.server.in_flight",
            unit="{request}",
            description="Requests running under overload protection, by priority",
        )
        self.shed = meter.create_counter(
            "aio_request.server.shed",
            unit="{request}",
            description="Requests answered without running by overload protection, by reason",
        )
        self.queue_time = _duration_histogram(
            meter,
            "aio_request.server.queue_time",
            "Time requests waited for a slot under overload protection",
        )


class OpenTelemetryListener:
    """An event listener producing OpenTelemetry spans and metrics (see the module docstring).

    ``tracer_provider`` and ``meter_provider`` default to the global ones, resolved at first
    use. ``traces`` and ``metrics`` (both on) turn either half off. Span state is bound on the
    ``*Started`` events and released on the matching ``*Finished`` ones, which the client emits
    in the same task.
    """

    __slots__ = (
        "_attempt_ends",
        "_attempt_starts",
        "_call_ends",
        "_call_starts",
        "_instruments",
        "_meter_provider",
        "_metrics",
        "_open",
        "_tracer",
        "_tracer_provider",
        "_traces",
        "event_handlers",
    )

    event_handlers: Mapping[type, EventHandler]
    """The function for each event class it handles; the hub calls these directly."""

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: otel_metrics.MeterProvider | None = None,
        traces: bool = True,
        metrics: bool = True,
    ) -> None:
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._traces = traces
        self._metrics = metrics
        self._tracer: trace.Tracer | None = None
        self._instruments: _Instruments | None = None
        self._open: dict[object, tuple[Span, Token[otel_context.Context]]] = {}
        # What every call of a label set shares, built once and never changed afterwards: the
        # SDK copies the attributes it is given, so handing it the same dicts again is safe.
        self._call_starts: dict[tuple[object, ...], _Start] = {}
        self._call_ends: dict[tuple[object, ...], _CallEnd] = {}
        self._attempt_starts: dict[tuple[object, ...], _Start] = {}
        self._attempt_ends: dict[tuple[object, ...], _AttemptEnd] = {}
        handlers: dict[type, EventHandler] = {}
        if traces:
            handlers[RequestStarted] = self._request_started
            handlers[AttemptStarted] = self._attempt_started
        if traces or metrics:
            handlers[RequestFinished] = self._request_finished
            handlers[AttemptFinished] = self._attempt_finished
        if metrics:
            handlers[ServerRequestFinished] = self._server_request_finished
            handlers[BudgetExhausted] = self._budget_exhausted
            handlers[CircuitStateChanged] = self._circuit_state_changed
            handlers[OverloadLimitChanged] = self._overload_limit_changed
            handlers[OverloadAdmitted] = self._overload_admitted
            handlers[OverloadReleased] = self._overload_released
            handlers[OverloadShed] = self._overload_shed
        handlers.update(ReplicaTelemetry(self._get_meter, traces=traces, metrics=metrics).handlers)
        self.event_handlers = handlers

    def __call__(self, event: Event) -> None:
        """Turn ``event`` into spans and measurements."""
        handler = self.event_handlers.get(type(event))
        if handler is not None:
            handler(event)

    def _get_tracer(self) -> trace.Tracer:
        tracer = self._tracer
        if tracer is None:
            tracer = self._tracer = trace.get_tracer(SCOPE_NAME, __version__, self._tracer_provider)
        return tracer

    def _get_meter(self) -> otel_metrics.Meter:
        return otel_metrics.get_meter(SCOPE_NAME, __version__, self._meter_provider)

    def _get_instruments(self) -> _Instruments:
        instruments = self._instruments
        if instruments is None:
            instruments = self._instruments = _Instruments(self._get_meter())
        return instruments

    def _start(self, key: object, name: str, kind: SpanKind, attributes: Attributes) -> None:
        span = self._get_tracer().start_span(name, kind=kind, attributes=attributes)
        token = otel_context.attach(trace.set_span_in_context(span))
        self._open[key] = (span, token)

    def _finish(self, key: object, attributes: Attributes, failed: bool, error: BaseException | None) -> None:
        opened = self._open.pop(key, None)
        if opened is None:
            return
        span, token = opened
        span.set_attributes(attributes)
        if error is not None:
            span.record_exception(error)
        if failed:
            span.set_status(_ERROR_STATUS)
        span.end()
        otel_context.detach(token)

    # client calls

    def _request_started(self, event: RequestStarted) -> None:
        key = (event.endpoint, event.method, event.path, event.priority)
        start = self._call_starts.get(key)
        if start is None:
            start = _remember(self._call_starts, key, _call_start(event))
        self._start(
            event.request_id,
            start.name,
            SpanKind.INTERNAL,
            {**start.attributes, "aio_request.timeout": event.timeout},
        )

    def _request_finished(self, event: RequestFinished) -> None:
        error = event.error
        key = (
            event.endpoint,
            event.method,
            event.path,
            event.status,
            event.failure,
            event.circuit_breaker,
            event.attempts,
            event.cancelled,
            None if error is None else type(error),
        )
        end = self._call_ends.get(key)
        if end is None:
            end = _remember(self._call_ends, key, _call_end(event))
        if self._metrics:
            self._get_instruments().client_duration.record(event.duration, end.duration)
        if self._traces:
            self._finish(event.request_id, end.span, end.failed, error)

    # attempts

    def _attempt_started(self, event: AttemptStarted) -> None:
        key = (event.endpoint, event.method, event.path, event.attempt, event.kind)
        start = self._attempt_starts.get(key)
        if start is None:
            start = _remember(self._attempt_starts, key, _attempt_start(event))
        self._start(
            (event.request_id, event.attempt),
            start.name,
            SpanKind.CLIENT,
            {
                **start.attributes,
                "url.full": _full_url(event.request, event.endpoint),
                "aio_request.timeout": event.timeout,
            },
        )

    def _attempt_finished(self, event: AttemptFinished) -> None:
        error = event.error
        key = (
            event.endpoint,
            event.method,
            event.path,
            event.kind,
            event.status,
            event.verdict,
            event.failure,
            event.cancelled,
            None if error is None else type(error),
        )
        end = self._attempt_ends.get(key)
        if end is None:
            end = _remember(self._attempt_ends, key, _attempt_end(event))
        if self._metrics:
            instruments = self._get_instruments()
            instruments.attempt_duration.record(event.duration, end.duration)
            instruments.attempts.add(1, end.counted)
        if self._traces:
            self._finish((event.request_id, event.attempt), end.span, end.failed, error)

    # servers, budgets, circuits

    def _server_request_finished(self, event: ServerRequestFinished) -> None:
        attributes: Attributes = {
            "http.request.method": event.method,
            "http.route": event.route,
            "http.response.status_code": event.status,
            "aio_request.client": event.client,
        }
        if event.status >= 500:
            attributes["error.type"] = str(event.status)
        self._get_instruments().server_duration.record(event.duration, attributes)

    def _budget_exhausted(self, event: BudgetExhausted) -> None:
        self._get_instruments().budget_exhausted.add(
            1,
            {
                "aio_request.endpoint": event.scope,
                "aio_request.attempt.kind": event.kind,
                "aio_request.budget": event.budget,
            },
        )

    def _circuit_state_changed(self, event: CircuitStateChanged) -> None:
        scope, state = str(event.scope), str(event.new)
        instruments = self._get_instruments()
        instruments.circuit_transitions.add(
            1, {"aio_request.endpoint": scope, "aio_request.circuit.state": state}
        )
        instruments.circuit_state.set(_CIRCUIT_STATE_VALUES.get(state, -1), {"aio_request.endpoint": scope})

    # overload protection

    def _overload_limit_changed(self, event: OverloadLimitChanged) -> None:
        self._get_instruments().concurrency_limit.set(
            event.limit, {"aio_request.protection": event.protection}
        )

    def _overload_admitted(self, event: OverloadAdmitted) -> None:
        instruments = self._get_instruments()
        attributes: Attributes = {
            "aio_request.protection": event.protection,
            "aio_request.priority": event.priority,
        }
        instruments.in_flight.set(event.in_flight, attributes)
        instruments.queue_time.record(event.queue_time, attributes)

    def _overload_released(self, event: OverloadReleased) -> None:
        self._get_instruments().in_flight.set(
            event.in_flight,
            {"aio_request.protection": event.protection, "aio_request.priority": event.priority},
        )

    def _overload_shed(self, event: OverloadShed) -> None:
        self._get_instruments().shed.add(
            1,
            {
                "aio_request.protection": event.protection,
                "aio_request.priority": event.priority,
                "aio_request.shed.reason": event.reason,
                "http.route": event.route,
            },
        )


def install(
    *,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: otel_metrics.MeterProvider | None = None,
    event_hub: EventHub = DEFAULT_EVENT_HUB,
    traces: bool = True,
    metrics: bool = True,
) -> Callable[[], None]:
    """Subscribe an :class:`OpenTelemetryListener` to ``event_hub``; returns its unsubscriber.

    Trace-context injection is separate: add :class:`TraceContextModule` to the pipeline or
    pass ``request_enricher=inject_trace_context`` to ``setup``.
    """
    return event_hub.subscribe(
        OpenTelemetryListener(
            tracer_provider=tracer_provider, meter_provider=meter_provider, traces=traces, metrics=metrics
        )
    )
