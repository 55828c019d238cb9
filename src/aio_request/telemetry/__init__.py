"""Telemetry adapters: they turn the events of :mod:`aio_request.events` into metrics, spans, logs.

* :mod:`aio_request.telemetry.prometheus` (extra ``prometheus``): Prometheus histograms and
  counters. On by itself when ``prometheus-client`` is installed (the default event hub loads it
  the first time a client or middleware is built); ``install(registry)`` picks the registry.
* :mod:`aio_request.telemetry.otel` (extra ``otel``, only ``opentelemetry-api`` at run time):
  a span per call with a child span per attempt, metrics after the HTTP semantic conventions,
  W3C trace-context injection (``TraceContextModule`` or ``inject_trace_context``) and
  extraction for servers (``extract_context``, ``server_span``). Opt in with ``install()``.
* :mod:`aio_request.telemetry.logging`: one log line per call, attempt, budget refusal and
  circuit transition. Opt in with ``install()``.

Each adapter module imports its integration at the top, so import only the ones whose extra is
installed. This package imports none of them; ``docs/observability.md`` has the full tables.
"""

from __future__ import annotations

from typing import Final

__all__ = ["LATENCY_BUCKETS"]

LATENCY_BUCKETS: Final[tuple[float, ...]] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    20.0,
)
"""Latency histogram bounds in seconds, 5 ms to 20 s (the longest default deadline), then +Inf."""
