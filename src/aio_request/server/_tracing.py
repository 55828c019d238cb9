"""Optional OpenTelemetry ``SERVER`` spans for both middlewares (their ``tracing=True`` option).

The span is a child of the trace context the caller sent (W3C ``traceparent``), current while
the handler runs — so the handler's own outgoing calls, when their client injects the trace
context, continue the same trace — and ends with the response's status.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.trace import Span


class ServerTracing:
    """Starts and finishes server spans; needs the ``otel`` extra (``opentelemetry-api``)."""

    __slots__ = ("_server_span", "_set_response_status", "_tracer_provider")

    def __init__(self, tracer_provider: Any = None) -> None:
        try:
            from aio_request.telemetry.otel import server_span, set_response_status
        except ImportError as error:
            raise ImportError(
                "tracing=True needs OpenTelemetry: pip install 'aio-request-ng[otel]'"
            ) from error
        self._server_span = server_span
        self._set_response_status = set_response_status
        self._tracer_provider = tracer_provider

    @contextlib.contextmanager
    def span(self, headers: Any, *, method: str, route: str, client: str) -> Iterator[Span]:
        """A server span for one request, current for the block."""
        with self._server_span(
            headers, method=method, route=route, client=client, tracer_provider=self._tracer_provider
        ) as span:
            yield span

    def finish(self, span: Span, status: int, *, method: str, route: str | None = None) -> None:
        """Record the final status, and the route when it was only known after routing."""
        if route is not None:
            span.update_name(f"{method} {route}")
            span.set_attribute("http.route", route)
        self._set_response_status(span, status)


def load_tracing(tracing: object) -> ServerTracing | None:
    """``None`` for ``False``; a :class:`ServerTracing` on the global tracer provider for ``True``,
    or on ``tracing`` itself when it is a tracer provider. Nothing is imported when off."""
    if tracing is False:
        return None
    return ServerTracing(None if tracing is True else tracing)
