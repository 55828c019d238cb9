"""The event listener that turns client and server events into spans and metrics."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import Token
from typing import Final

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
_MAX_CACHED_ENDPOINTS: Final = 1024


_endpoints: dict[str, Attributes] = {}


def _endpoint_attributes(endpoint: str) -> Attributes:
    attributes = _endpoints.get(endpoint)
    if attributes is None:
        url = yarl.URL(endpoint)
        attributes = {}
        if url.host is not None:
            attributes["server.address"] = url.host
        if url.port is not None:
            attributes["server.port"] = url.port
        if len(_endpoints) >= _MAX_CACHED_ENDPOINTS:
            _endpoints.clear()
        _endpoints[endpoint] = attributes
    return attributes


def _full_url(request: Request, endpoint: str) -> str:
    url = request.build_url(yarl.URL(endpoint))
    if url.user is not None or url.password is not None:
        url = url.with_user(None)
    return str(url)


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
            meter = otel_metrics.get_meter(SCOPE_NAME, __version__, self._meter_provider)
            instruments = self._instruments = _Instruments(meter)
        return instruments

    def _start(self, key: object, name: str, kind: SpanKind, attributes: Attributes) -> None:
        span = self._get_tracer().start_span(name, kind=kind, attributes=attributes)
        token = otel_context.attach(trace.set_span_in_context(span))
        self._open[key] = (span, token)

    def _finish(
        self,
        key: object,
        attributes: Attributes,
        extra: Attributes,
        failed: bool,
        error: BaseException | None,
    ) -> None:
        opened = self._open.pop(key, None)
        if opened is None:
            return
        span, token = opened
        span.set_attributes(attributes)
        span.set_attributes(extra)
        if error is not None:
            span.record_exception(error)
        if failed:
            span.set_status(Status(StatusCode.ERROR))
        span.end()
        otel_context.detach(token)

    # client calls

    def _request_started(self, event: RequestStarted) -> None:
        attributes: Attributes = {
            "http.request.method": event.method,
            "url.template": event.path,
            **_endpoint_attributes(event.endpoint),
            "aio_request.endpoint": event.endpoint,
            "aio_request.priority": event.priority,
            "aio_request.timeout": event.timeout,
        }
        self._start(event.request_id, f"{event.method} {event.path}", SpanKind.INTERNAL, attributes)

    def _request_finished(self, event: RequestFinished) -> None:
        attributes: Attributes = {
            "http.request.method": event.method,
            **_endpoint_attributes(event.endpoint),
            "url.template": event.path,
            "aio_request.circuit_breaker": event.circuit_breaker,
        }
        failed = _outcome(
            attributes,
            status=event.status,
            failure=event.failure,
            cancelled=event.cancelled,
            error=event.error,
        )
        if self._metrics:
            self._get_instruments().client_duration.record(event.duration, attributes)
        if self._traces:
            extra: Attributes = {"aio_request.attempts": event.attempts}
            if event.cancelled:
                extra["aio_request.cancelled"] = True
            self._finish(event.request_id, attributes, extra, failed, event.error)

    # attempts

    def _attempt_started(self, event: AttemptStarted) -> None:
        attributes: Attributes = {
            "http.request.method": event.method,
            "url.template": event.path,
            "url.full": _full_url(event.request, event.endpoint),
            **_endpoint_attributes(event.endpoint),
            "aio_request.attempt": event.attempt,
            "aio_request.attempt.kind": event.kind,
            "aio_request.timeout": event.timeout,
        }
        if event.attempt > 1:
            attributes["http.request.resend_count"] = event.attempt - 1
        self._start(
            (event.request_id, event.attempt), f"{event.method} {event.path}", SpanKind.CLIENT, attributes
        )

    def _attempt_finished(self, event: AttemptFinished) -> None:
        attributes: Attributes = {
            "http.request.method": event.method,
            **_endpoint_attributes(event.endpoint),
            "url.template": event.path,
        }
        failed = _outcome(
            attributes,
            status=event.status,
            failure=event.failure,
            cancelled=event.cancelled,
            error=event.error,
        )
        if self._metrics:
            instruments = self._get_instruments()
            instruments.attempt_duration.record(event.duration, attributes)
            outcome = "cancelled" if event.cancelled else event.verdict or "error"
            instruments.attempts.add(
                1,
                {
                    "http.request.method": event.method,
                    **_endpoint_attributes(event.endpoint),
                    "url.template": event.path,
                    "aio_request.attempt.kind": event.kind,
                    "aio_request.attempt.outcome": outcome,
                },
            )
        if self._traces:
            extra: Attributes = {}
            if event.verdict is not None:
                extra["aio_request.verdict"] = event.verdict
            if event.cancelled:
                extra["aio_request.cancelled"] = True
            self._finish((event.request_id, event.attempt), attributes, extra, failed, event.error)

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
