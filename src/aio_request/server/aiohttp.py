"""Deadline and priority propagation for ``aiohttp.web`` servers.

>>> import aiohttp.web, aio_request
>>> app = aiohttp.web.Application(middlewares=[aio_request.aiohttp_middleware_factory()])

The middleware reads ``X-Request-Timeout`` and ``X-Request-Priority`` (rules in
:mod:`aio_request.http.headers` and :mod:`aio_request.server._incoming`), sets
:func:`aio_request.get_context` for the handler so that outgoing ``Client.request`` calls inherit
the deadline and priority, answers ``408`` at once when the deadline is already spent and emits
:class:`~aio_request.events.ServerRequestFinished` when the request is done.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, Final, TypeVar

from aiohttp import web
from aiohttp.abc import AbstractView
from aiohttp.typedefs import Handler, Middleware

from aio_request._core.clock import MONOTONIC_CLOCK, Clock
from aio_request._core.deprecation import MetricsProvider, warn_metrics_provider
from aio_request.events import DEFAULT_EVENT_HUB, EventHub
from aio_request.http.context import set_context
from aio_request.http.deadline import Deadline
from aio_request.http.headers import Header, parse_priority
from aio_request.http.priority import Priority
from aio_request.server._incoming import (
    CLIENT_CLOSED_REQUEST,
    DO_NOT_RETRY_HEADERS,
    TIMEOUT_STATUS,
    UNMATCHED_ROUTE,
    ServerOptions,
    check_route_timeout,
    client_name,
    mark_route_timeout,
    route_timeout_of,
)
from aio_request.server._tracing import load_tracing
from aio_request.server.overload.protection import OverloadProtection, Refusal

if TYPE_CHECKING:
    from opentelemetry.trace import Span, TracerProvider

__all__ = ["aiohttp_middleware_factory", "aiohttp_timeout"]

_T = TypeVar("_T")
_NO_VALUES: Final[tuple[str, ...]] = ()
_GATEWAY_TIMEOUT: Final = 504


def aiohttp_timeout(*, seconds: float) -> Callable[[_T], _T]:
    """Give one handler its own default deadline (``seconds``, finite and > 0).

    Works on handler functions, on methods of an :class:`aiohttp.web.View` and on a whole ``View``
    class (every method). The handler is returned unchanged, with the timeout attached; the
    middleware uses it when the request carries no ``X-Request-Timeout``; a caller's header takes
    priority over it, capped by the middleware's ``max_timeout`` (or this timeout when longer).

    >>> @aiohttp_timeout(seconds=60)
    ... async def export(request): ...

    Raises ``ValueError`` for a bad ``seconds`` and ``TypeError`` when the target cannot carry
    attributes.
    """
    checked = check_route_timeout(seconds)

    def decorate(handler: _T) -> _T:
        return mark_route_timeout(handler, checked)

    return decorate


def _route_timeout(request: web.Request) -> float | None:
    handler: Any = request.match_info.handler
    if inspect.isclass(handler) and issubclass(handler, AbstractView):
        method = getattr(handler, request.method.lower(), None)
        own = route_timeout_of(method) if method is not None else None
        return own if own is not None else route_timeout_of(handler)
    return route_timeout_of(handler)


def _route_template(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return UNMATCHED_ROUTE if resource is None else resource.canonical


def _timeout_response() -> web.Response:
    return web.Response(status=TIMEOUT_STATUS, headers=dict(DO_NOT_RETRY_HEADERS))


async def _run_until(handler: Handler, request: web.Request, deadline: Deadline) -> web.StreamResponse:
    """Run the handler, cancelling it at ``deadline`` and answering ``408`` instead.

    Raises :class:`_DeadlineExpired` when the handler had already started sending its own
    response: a second status line cannot be sent, so aiohttp closes the connection.
    """
    guard = asyncio.timeout(deadline.timeout)
    try:
        async with guard:
            return await handler(request)
    except TimeoutError as e:
        # Only our own expiry means "deadline"; a TimeoutError of the handler is its own error.
        if not guard.expired():
            raise
        if request.writer.output_size > 0:
            raise _DeadlineExpired("the deadline expired after the response was started") from e
        return _timeout_response()


class _DeadlineExpired(Exception):
    """The handler was cancelled at its deadline after its response had started."""


async def _refusal_response(refusal: Refusal) -> web.StreamResponse:
    return web.Response(status=refusal.status, headers=refusal.headers)


async def _run_protected(
    protection: OverloadProtection,
    handler: Handler,
    request: web.Request,
    deadline: Deadline | None,
    priority: Priority,
    seconds: float,
) -> web.StreamResponse:
    """Run the handler (cancelled at ``deadline`` when given) under ``protection``'s admission."""

    async def call() -> web.StreamResponse:
        if deadline is not None:
            return await _run_until(handler, request, deadline)
        return await handler(request)

    return await protection.run(
        call,
        _refusal_response,
        path=request.path,
        route_of=lambda: _route_template(request),
        priority=priority,
        remaining=seconds,
    )


def aiohttp_middleware_factory(
    *,
    timeout: float = 20,
    priority: Priority = Priority.NORMAL,
    low_timeout_threshold: float = 0.005,
    client_header_name: str = "X-Service-Name",
    cancel_on_timeout: bool = False,
    max_timeout: float | None = None,
    event_hub: EventHub = DEFAULT_EVENT_HUB,
    tracing: bool | TracerProvider = False,
    metrics_provider: MetricsProvider | None = None,
    overload_protection: OverloadProtection | None = None,
    clock: Clock = MONOTONIC_CLOCK,
) -> Middleware:
    """An aiohttp middleware that sets the context's deadline and priority from the headers.

    * ``timeout`` (20 s): the deadline when the request has no valid ``X-Request-Timeout`` and the
      handler no :func:`aiohttp_timeout`.
    * ``priority`` (``NORMAL``): used when ``X-Request-Priority`` is absent or unknown.
    * ``low_timeout_threshold`` (5 ms): a deadline below it (or zero, negative, NaN) is answered
      with ``408`` and ``X-Do-Not-Retry`` without running the handler.
    * ``client_header_name`` (``X-Service-Name``): where the caller's name for telemetry is read.
    * ``cancel_on_timeout`` (off): cancel the handler at the deadline (and with it every outgoing
      call it is awaiting) and answer ``408``. Off, the handler runs on; its outgoing calls still
      carry the shrinking deadline, and calls made after it are answered locally with ``408``.
    * ``max_timeout`` (``None``: ``timeout``): the longest deadline a caller's ``X-Request-Timeout``
      may ask for (a route's own longer timeout raises it for that route). The header takes
      priority over the route's :func:`aiohttp_timeout`; huge or infinite values are capped.
    * ``event_hub`` (:data:`~aio_request.events.DEFAULT_EVENT_HUB`): receives one
      :class:`~aio_request.events.ServerRequestFinished` per request: the route's canonical path,
      499 when the handler was cancelled (client gone), 500 for an unhandled error (re-raised;
      504 for a ``TimeoutError``, as aiohttp answers), the status of a raised ``web.HTTPException``.
    * ``tracing`` (off): ``True`` (or a ``TracerProvider``) opens an OpenTelemetry ``SERVER`` span
      per request, child of the caller's W3C trace context and current for the handler (needs the
      ``otel`` extra; clients continue the trace with ``request_modules=[TraceContextModule()]``).
    * ``overload_protection`` (``None``): an :class:`~aio_request.OverloadProtection` that admits,
      queues or sheds each request before its handler runs (``503`` + ``Retry-After`` +
      ``X-Request-Shed``, or ``408`` + ``X-Do-Not-Retry`` when too little time is left); see
      docs/server-overload.md. Share one instance between the middlewares of a process.
    * ``clock`` (the monotonic clock): what the handler's deadline and the recorded duration are
      measured on; tests pass :class:`aio_request.testing.FakeClock`.

    ``metrics_provider`` (deprecated, no effect) is accepted for code written for aio-request 0.2.9.

    Raises ``ValueError`` naming the parameter for an invalid option.
    """
    warn_metrics_provider("aiohttp_middleware_factory()", metrics_provider)
    options = ServerOptions.create(
        timeout=timeout,
        priority=priority,
        low_timeout_threshold=low_timeout_threshold,
        client_header_name=client_header_name,
        cancel_on_timeout=cancel_on_timeout,
        max_timeout=max_timeout,
        event_hub=event_hub,
        clock=clock,
    )
    tracing_spans = load_tracing(tracing)
    event_hub.load_auto_listeners()
    if overload_protection is not None and not isinstance(overload_protection, OverloadProtection):
        raise ValueError(f"overload_protection must be an OverloadProtection, got {overload_protection!r}")

    @web.middleware
    async def aio_request_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started_at = options.clock.now()
        headers = request.headers
        seconds = options.deadline_seconds(
            headers.getall(Header.X_REQUEST_TIMEOUT, _NO_VALUES), _route_timeout(request)
        )
        span_context: AbstractContextManager[Span | None] = (
            nullcontext(None)
            if tracing_spans is None
            else tracing_spans.span(
                headers,
                method=request.method,
                route=_route_template(request),
                client=client_name(headers.get(options.client_header_name)),
            )
        )
        with span_context as span:
            status = 500
            try:
                if options.too_late(seconds):
                    status = TIMEOUT_STATUS
                    return _timeout_response()
                deadline = Deadline(started_at + seconds, clock=options.clock)
                request_priority = parse_priority(
                    headers.getall(Header.X_REQUEST_PRIORITY, _NO_VALUES), default=options.priority
                )
                with set_context(deadline=deadline, priority=request_priority):
                    if overload_protection is not None:
                        response = await _run_protected(
                            overload_protection,
                            handler,
                            request,
                            deadline if options.cancel_on_timeout else None,
                            request_priority,
                            seconds,
                        )
                    elif options.cancel_on_timeout:
                        response = await _run_until(handler, request, deadline)
                    else:
                        response = await handler(request)
                status = response.status
                return response
            except web.HTTPException as e:
                status = e.status
                raise
            except asyncio.CancelledError:
                status = CLIENT_CLOSED_REQUEST
                raise
            except _DeadlineExpired:
                status = TIMEOUT_STATUS
                raise
            except TimeoutError:
                status = _GATEWAY_TIMEOUT  # what aiohttp answers for a TimeoutError out of a handler
                raise
            finally:
                if span is not None and tracing_spans is not None:
                    tracing_spans.finish(span, status, method=request.method)
                if options.event_hub.active:
                    options.finished(
                        route=_route_template(request),
                        method=request.method,
                        status=status,
                        client=client_name(headers.get(options.client_header_name)),
                        started_at=started_at,
                    )

    return aio_request_middleware
