"""W3C trace-context propagation: read it from incoming headers, write it into each attempt."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, TypeAlias

import yarl
from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry.propagators.textmap import Getter, TextMapPropagator

from aio_request.http.deadline import Deadline
from aio_request.http.priority import Priority
from aio_request.http.request import Request
from aio_request.http.response import ClosableResponse
from aio_request.pipeline import NextModuleFunc, RequestModule

IncomingHeaders: TypeAlias = Mapping[str, str] | Iterable[tuple[bytes, bytes]] | Iterable[tuple[str, str]]
"""Request headers as servers have them: a mapping (aiohttp's and Starlette's are
case-insensitive multidicts) or the raw ``(name, value)`` pairs of an ASGI scope."""


class _HeadersGetter(Getter[Any]):
    """Reads header values case-insensitively from any :data:`IncomingHeaders`."""

    def get(self, carrier: Any, key: str) -> list[str] | None:
        if isinstance(carrier, Mapping):
            getall = getattr(carrier, "getall", None) or getattr(carrier, "getlist", None)
            if getall is not None:
                values = getall(key, None) if hasattr(carrier, "getall") else getall(key)
                if values:
                    return [str(value) for value in values]
            value = carrier.get(key)
            if value is not None:
                return [str(value)]
            lowered = key.lower()
            found = [str(v) for name, v in carrier.items() if str(name).lower() == lowered]
            return found or None
        lowered = key.lower()
        found = [_text(value) for name, value in carrier if _text(name).lower() == lowered]
        return found or None

    def keys(self, carrier: Any) -> list[str]:
        if isinstance(carrier, Mapping):
            return [str(name) for name in carrier]
        return [_text(name) for name, _ in carrier]


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


_GETTER: Final = _HeadersGetter()


def extract_context(
    headers: IncomingHeaders, *, propagator: TextMapPropagator | None = None
) -> otel_context.Context:
    """The trace context a caller sent in ``headers`` (W3C ``traceparent``/``tracestate``).

    Uses the global propagator (W3C Trace Context and Baggage unless configured otherwise)
    or ``propagator``. With no trace headers the result is an empty context: spans started in
    it begin a new trace. Attach it for the handler, or start the server span in it::

        token = opentelemetry.context.attach(extract_context(request.headers))
        try:
            return await handler(request)
        finally:
            opentelemetry.context.detach(token)
    """
    if propagator is None:
        return propagate.extract(headers, getter=_GETTER)
    return propagator.extract(headers, getter=_GETTER)


def _trace_headers(propagator: TextMapPropagator | None) -> dict[str, str]:
    carrier: dict[str, str] = {}
    if propagator is None:
        propagate.inject(carrier)
    else:
        propagator.inject(carrier)
    return carrier


def inject_trace_context(request: Request) -> Request:
    """A request enricher adding the current trace context (``traceparent``...) to ``request``.

    Use it as ``setup(request_enricher=inject_trace_context)``; enrichers run inside the
    attempt, so the header names the attempt's span. Without a current span it adds nothing.
    """
    headers = _trace_headers(None)
    return request.update_headers(headers) if headers else request


class TraceContextModule(RequestModule):
    """A pipeline module adding the current trace context to every attempt's headers.

    Place it anywhere before the :class:`~aio_request.pipeline.TransportModule`; it uses the
    global propagator unless given one.
    """

    __slots__ = ("_propagator",)

    def __init__(self, propagator: TextMapPropagator | None = None) -> None:
        self._propagator = propagator

    async def execute(
        self,
        next: NextModuleFunc,
        *,
        endpoint: yarl.URL,
        request: Request,
        deadline: Deadline,
        priority: Priority,
    ) -> ClosableResponse:
        """Add the trace headers, then call ``next``."""
        headers = _trace_headers(self._propagator)
        if headers:
            request = request.update_headers(headers)
        return await next(endpoint, request, deadline, priority)
