"""OpenTelemetry for clients and servers: spans, metrics and W3C trace-context propagation.

Needs only ``opentelemetry-api`` (the ``otel`` extra); the application configures the SDK and
its exporters as usual. Opt in once at start-up::

    aio_request.telemetry.otel.install()            # global tracer and meter providers

and inject the trace context into every attempt, either as a pipeline module
(:class:`TraceContextModule`) or with ``setup(request_enricher=inject_trace_context)``.

Client spans. Each ``client.request`` call gets an ``INTERNAL`` span named
``"{method} {url template}"``; each attempt a ``CLIENT`` child span of the same name, current
while the attempt runs, so the ``traceparent`` header sent with an attempt names that attempt's
span. Attempt spans carry the HTTP semantic-convention attributes (``http.request.method``,
``server.address``, ``server.port``, ``url.full``, ``url.template``,
``http.response.status_code``, ``http.request.resend_count``, ``error.type``) and
``aio_request.attempt`` (1, 2, ...), ``aio_request.attempt.kind`` (first, retry, hedge),
``aio_request.verdict`` (accept, reject) and ``aio_request.status`` (synthetic statuses
included). A response the transport synthesised (timeout, connection failure, ...) has no
``http.response.status_code``; its ``error.type`` names the cause (``timeout``, ``connect``).
4xx, 5xx, local failures and exceptions end the span with an ``ERROR`` status; a losing hedge
(or any attempt cancelled) ends with an unset status and ``aio_request.cancelled = true``.

Server spans. Both middlewares can call :func:`extract_context` (or use :func:`server_span`),
so a trace runs through every service: A's attempt span is the parent of B's server span, whose
calls to C carry it on.

Metrics (instruments are created on first use, with the 5 ms to 20 s buckets as advice):
``aio_request.client.duration`` (a whole call, s), ``http.client.request.duration`` (each
attempt, s), ``aio_request.client.attempts`` (by ``aio_request.attempt.kind`` and
``aio_request.attempt.outcome``), ``aio_request.client.budget_exhausted``,
``aio_request.circuit_breaker.transitions``, the gauge ``aio_request.circuit_breaker.state``
(0 closed, 1 half-open, 2 open) and ``http.server.request.duration`` (s); for servers with
overload protection the gauges ``aio_request.server.concurrency_limit`` and
``aio_request.server.in_flight`` (by ``aio_request.priority``), the counter
``aio_request.server.shed`` (by ``aio_request.shed.reason``, ``aio_request.priority`` and
``http.route``) and the histogram ``aio_request.server.queue_time`` (s), all with
``aio_request.protection``. Client durations
carry ``http.request.method``, ``server.address``, ``server.port``, ``url.template``,
``aio_request.status`` (the status Prometheus would record), ``http.response.status_code``
(real responses only) and ``error.type``; ``docs/observability.md`` lists them all.
Balanced clients add the replica telemetry of :mod:`aio_request.telemetry.otel.replicas`.
"""

from aio_request.telemetry.otel.listener import OpenTelemetryListener, install
from aio_request.telemetry.otel.propagation import (
    IncomingHeaders,
    TraceContextModule,
    extract_context,
    inject_trace_context,
)
from aio_request.telemetry.otel.server import server_span, set_response_status

__all__ = [
    "IncomingHeaders",
    "OpenTelemetryListener",
    "TraceContextModule",
    "extract_context",
    "inject_trace_context",
    "install",
    "server_span",
    "set_response_status",
]
