"""Server spans: one ``SERVER`` span per incoming request, child of the caller's attempt span."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from aio_request._version import __version__
from aio_request.telemetry.otel._common import SCOPE_NAME, Attributes
from aio_request.telemetry.otel.propagation import IncomingHeaders, extract_context


@contextlib.contextmanager
def server_span(
    headers: IncomingHeaders,
    *,
    method: str,
    route: str,
    client: str = "",
    tracer_provider: trace.TracerProvider | None = None,
) -> Iterator[Span]:
    """A ``SERVER`` span for one incoming request, current for the block, child of the caller's.

    ``route`` is the route pattern (never the raw path); ``client`` the caller's service name.
    Call :func:`set_response_status` with the final status before the block ends. An exception
    leaving the block is recorded on the span (its status follows the response status, so a
    raised 404 is not an error); a cancellation sets ``aio_request.cancelled``.
    """
    tracer = trace.get_tracer(SCOPE_NAME, __version__, tracer_provider)
    attributes: Attributes = {"http.request.method": method, "http.route": route}
    if client:
        attributes["aio_request.client"] = client
    parent = extract_context(headers)
    span = tracer.start_span(f"{method} {route}", context=parent, kind=SpanKind.SERVER, attributes=attributes)
    token = otel_context.attach(trace.set_span_in_context(span, parent))
    try:
        yield span
    except asyncio.CancelledError:
        span.set_attribute("aio_request.cancelled", True)
        raise
    except BaseException as error:
        span.record_exception(error)
        raise
    finally:
        span.end()
        otel_context.detach(token)


def set_response_status(span: Span, status: int) -> None:
    """Record a server response's status: 5xx is an error, 499 (client gone) a cancellation."""
    span.set_attribute("http.response.status_code", status)
    if status == 499:
        span.set_attribute("aio_request.cancelled", True)
    elif status >= 500:
        span.set_attribute("error.type", str(status))
        span.set_status(Status(StatusCode.ERROR))
