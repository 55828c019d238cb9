"""Deadline and priority propagation for ASGI servers (Starlette, FastAPI, any ASGI app).

A pure ASGI middleware, so nothing here imports a framework::

    app = starlette.applications.Starlette(routes=..., middleware=[Middleware(AsgiMiddleware)])
    app = fastapi.FastAPI(); app.add_middleware(AsgiMiddleware, timeout=10)
    app = AsgiMiddleware(any_asgi_app)

It applies the same rules as the aiohttp middleware (:mod:`aio_request.server._incoming`).

Per-route timeouts: routing happens *inside* the wrapped app, after the middleware has run, and
Starlette offers no hook between routing and the endpoint. So :func:`asgi_timeout` wraps the
endpoint itself: when called during a request handled by the middleware, the wrapper recomputes
the deadline with the route's timeout (measured from when the request arrived), sets it in the
context and, with ``cancel_on_timeout``, moves the middleware's cancellation to it. The wrapper
keeps the endpoint's signature (``functools.wraps``) and its sync/async nature, so FastAPI's
parameter injection and Starlette's threadpool for sync endpoints work unchanged.

Telemetry labels: the route template is ``scope["route"].path`` as set by Starlette's router
(with the prefixes of the ``Mount``\\s it went through), never the raw path.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import functools
import inspect
from collections.abc import Awaitable, Callable, Iterator, MutableMapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

from aio_request._core.clock import MONOTONIC_CLOCK, Clock
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
)
from aio_request.server._starlette_routes import matched_route_template, route_template
from aio_request.server._tracing import load_tracing
from aio_request.server.overload.protection import OverloadProtection, Refusal

if TYPE_CHECKING:
    from opentelemetry.trace import Span, TracerProvider

__all__ = ["ASGIApp", "AsgiMiddleware", "Message", "Receive", "Scope", "Send", "asgi_timeout"]

Scope = MutableMapping[str, Any]
"""An ASGI connection scope."""
Message = MutableMapping[str, Any]
"""An ASGI event message."""
Receive = Callable[[], Awaitable[Message]]
"""The ASGI ``receive`` callable."""
Send = Callable[[Message], Awaitable[None]]
"""The ASGI ``send`` callable."""
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
"""An ASGI 3 application."""

_F = TypeVar("_F", bound=Callable[..., Any])

_TIMEOUT_NAME: Final = Header.X_REQUEST_TIMEOUT.lower().encode("latin-1")
_PRIORITY_NAME: Final = Header.X_REQUEST_PRIORITY.lower().encode("latin-1")
_TIMEOUT_RESPONSE_HEADERS: Final = [
    *((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in DO_NOT_RETRY_HEADERS),
    (b"content-length", b"0"),
]


class _RouteDeadlineExpired(Exception):
    """Raised by an :func:`asgi_timeout` wrapper when the route's deadline is already spent."""


@dataclasses.dataclass(slots=True)
class _RequestState:
    """What an :func:`asgi_timeout` wrapper needs from the middleware handling the request."""

    options: ServerOptions
    started_at: float
    timeout_values: Sequence[str]
    loop: asyncio.AbstractEventLoop
    guard: asyncio.Timeout | None = None
    route_applied: bool = False

    def move_guard(self, deadline: Deadline) -> None:
        """Reschedule the middleware's cancellation to ``deadline`` (from any thread)."""
        guard = self.guard
        if guard is None:
            return
        try:
            # A sync route runs in a worker thread: the guard must be moved from the loop's thread.
            in_loop = asyncio.get_running_loop() is self.loop  # noqa: TID251
        except RuntimeError:
            in_loop = False
        if in_loop:
            _reschedule(guard, self.loop, deadline)
        else:
            self.loop.call_soon_threadsafe(_reschedule, guard, self.loop, deadline)


def _reschedule(guard: asyncio.Timeout, loop: asyncio.AbstractEventLoop, deadline: Deadline) -> None:
    # Raises RuntimeError once the guard is expiring or exited: then there is nothing to move.
    with contextlib.suppress(RuntimeError):
        guard.reschedule(loop.time() + deadline.timeout)


_state: contextvars.ContextVar[_RequestState | None] = contextvars.ContextVar(
    "aio_request_asgi_request", default=None
)


@contextlib.contextmanager
def _route_deadline(seconds: float) -> Iterator[None]:
    state = _state.get()
    if state is None or state.route_applied:
        yield
        return
    state.route_applied = True
    options = state.options
    deadline = Deadline(
        state.started_at + options.deadline_seconds(state.timeout_values, seconds), clock=options.clock
    )
    if options.too_late(deadline.timeout):
        raise _RouteDeadlineExpired
    state.move_guard(deadline)
    with set_context(deadline=deadline):
        yield


def asgi_timeout(*, seconds: float) -> Callable[[_F], _F]:
    """Give one Starlette or FastAPI endpoint its own default deadline (finite, > 0).

    Starlette (function endpoints or ``HTTPEndpoint`` methods)::

        @asgi_timeout(seconds=60)
        async def export(request): ...

        routes = [Route("/export", export)]

    FastAPI (put it *below* the route decorator, so the route registers the wrapper)::

        @app.get("/export")
        @asgi_timeout(seconds=60)
        async def export(limit: int = 10): ...

    The deadline of a request to that endpoint is then the caller's ``X-Request-Timeout`` (capped
    at the middleware's ``max_timeout``, or at 60 s when that is longer), else 60 s. Outside a
    request handled by :class:`AsgiMiddleware` the wrapper only calls the endpoint. Raises
    ``ValueError`` for a bad ``seconds`` and ``TypeError`` for something that is not a function.
    """
    checked = check_route_timeout(seconds)

    def decorate(endpoint: _F) -> _F:
        if not inspect.isfunction(endpoint):
            raise TypeError(f"asgi_timeout decorates functions, got {endpoint!r}")
        if inspect.iscoroutinefunction(endpoint):

            @functools.wraps(endpoint)
            async def async_endpoint(*args: Any, **kwargs: Any) -> Any:
                with _route_deadline(checked):
                    return await endpoint(*args, **kwargs)

            return mark_route_timeout(cast(_F, async_endpoint), checked)

        @functools.wraps(endpoint)
        def sync_endpoint(*args: Any, **kwargs: Any) -> Any:
            with _route_deadline(checked):
                return endpoint(*args, **kwargs)

        return mark_route_timeout(cast(_F, sync_endpoint), checked)

    return decorate


class _Exchange:
    """Wraps ``receive``/``send`` to learn the status and whether the client went away."""

    __slots__ = ("_receive", "_send", "complete", "disconnected", "started", "status")

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self.status = 500
        self.started = False
        self.complete = False
        self.disconnected = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message.get("type") == "http.disconnect":
            self.disconnected = True
        return message

    async def send(self, message: Message) -> None:
        kind = message.get("type")
        if kind == "http.response.start":
            self.status = int(message.get("status", 500))
            self.started = True
        elif kind == "http.response.body" and not message.get("more_body", False):
            # Servers drop what is sent after a disconnect: that response was never delivered.
            self.complete = not self.disconnected
        await self._send(message)


async def _send_timeout(send: Send) -> None:
    await send(
        {"type": "http.response.start", "status": TIMEOUT_STATUS, "headers": _TIMEOUT_RESPONSE_HEADERS}
    )
    await send({"type": "http.response.body", "body": b""})


class AsgiMiddleware:
    """An ASGI middleware that sets the context's deadline and priority from the headers.

    Options and defaults are those of :func:`aio_request.aiohttp_middleware_factory`:
    ``timeout=20``, ``priority=Priority.NORMAL``, ``low_timeout_threshold=0.005``,
    ``client_header_name="X-Service-Name"``, ``cancel_on_timeout=False``, ``max_timeout=None``,
    ``event_hub=DEFAULT_EVENT_HUB``, ``tracing=False``, ``clock=MONOTONIC_CLOCK``. ``ValueError``
    names an invalid option.

    ASGI specifics:

    * only ``http`` scopes are handled; ``websocket`` and ``lifespan`` pass through untouched;
    * ``cancel_on_timeout`` cancels the app's task at the deadline and answers ``408`` if no
      response was started (otherwise the response is cut). A sync endpoint running in a thread
      cannot be interrupted: its ``408`` comes when it returns;
    * ASGI servers do not cancel a handler whose client went away; ``499`` is recorded when the
      app was cancelled, or when it saw ``http.disconnect`` before completing its response;
    * the event's ``status`` is the one the app sent (500 if it raised or sent nothing);
    * ``overload_protection`` (``None``): as for aiohttp; exemptions match the ASGI ``path``,
      and the route of a refused request is found by asking the app's routes (Starlette).
    """

    __slots__ = ("_client_header", "_options", "_overload", "_tracing", "app")

    def __init__(
        self,
        app: ASGIApp,
        *,
        timeout: float = 20,
        priority: Priority = Priority.NORMAL,
        low_timeout_threshold: float = 0.005,
        client_header_name: str = "X-Service-Name",
        cancel_on_timeout: bool = False,
        max_timeout: float | None = None,
        event_hub: EventHub = DEFAULT_EVENT_HUB,
        tracing: bool | TracerProvider = False,
        overload_protection: OverloadProtection | None = None,
        clock: Clock = MONOTONIC_CLOCK,
    ) -> None:
        self.app = app
        if overload_protection is not None and not isinstance(overload_protection, OverloadProtection):
            raise ValueError(
                f"overload_protection must be an OverloadProtection, got {overload_protection!r}"
            )
        self._overload = overload_protection
        self._tracing = load_tracing(tracing)
        event_hub.load_auto_listeners()
        self._options = ServerOptions.create(
            timeout=timeout,
            priority=priority,
            low_timeout_threshold=low_timeout_threshold,
            client_header_name=client_header_name,
            cancel_on_timeout=cancel_on_timeout,
            max_timeout=max_timeout,
            event_hub=event_hub,
            clock=clock,
        )
        self._client_header = self._options.client_header_name.lower().encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        options = self._options
        started_at = options.clock.now()
        root_path = scope.get("root_path", "")
        timeout_values: list[str] = []
        priority_values: list[str] = []
        client: str | None = None
        client_header = self._client_header
        for raw_name, raw_value in scope.get("headers", ()):
            name = bytes(raw_name).lower()
            if name == _TIMEOUT_NAME:
                timeout_values.append(bytes(raw_value).decode("latin-1"))
            elif name == _PRIORITY_NAME:
                priority_values.append(bytes(raw_value).decode("latin-1"))
            elif name == client_header and client is None:
                client = bytes(raw_value).decode("latin-1")
        seconds = options.deadline_seconds(timeout_values, None)
        exchange = _Exchange(receive, send)
        route: str | None = None
        method = str(scope.get("method", ""))
        span_context: AbstractContextManager[Span | None] = (
            nullcontext(None)
            if self._tracing is None
            else self._tracing.span(
                scope.get("headers", ()), method=method, route=UNMATCHED_ROUTE, client=client_name(client)
            )
        )
        with span_context as span:
            try:
                if options.too_late(seconds):
                    if options.event_hub.active:
                        route = matched_route_template(scope, self.app)
                    exchange.status = TIMEOUT_STATUS
                    await _send_timeout(send)
                    return
                deadline = Deadline(started_at + seconds, clock=options.clock)
                state = _RequestState(options, started_at, timeout_values, asyncio.get_running_loop())  # noqa: TID251 (see move_guard)
                request_priority = parse_priority(priority_values, default=options.priority)
                with set_context(deadline=deadline, priority=request_priority):
                    token = _state.set(state)
                    try:
                        if self._overload is None:
                            await self._call_app(scope, exchange, deadline, state)
                        else:
                            await self._run_protected(
                                self._overload, scope, exchange, deadline, state, request_priority, seconds
                            )
                    finally:
                        _state.reset(token)
                if exchange.disconnected and not exchange.complete:
                    exchange.status = CLIENT_CLOSED_REQUEST
                elif not exchange.started:
                    exchange.status = 500
            except _RouteDeadlineExpired:
                if not exchange.started:
                    await _send_timeout(send)
                exchange.status = TIMEOUT_STATUS
            except asyncio.CancelledError:
                exchange.status = CLIENT_CLOSED_REQUEST
                raise
            except Exception:
                exchange.status = CLIENT_CLOSED_REQUEST if exchange.disconnected else 500
                raise
            finally:
                final_route = route or route_template(scope, root_path) or UNMATCHED_ROUTE
                if span is not None and self._tracing is not None:
                    self._tracing.finish(span, exchange.status, method=method, route=final_route)
                if options.event_hub.active:
                    options.finished(
                        route=final_route,
                        method=method,
                        status=exchange.status,
                        client=client_name(client),
                        started_at=started_at,
                    )

    async def _run_protected(
        self,
        protection: OverloadProtection,
        scope: Scope,
        exchange: _Exchange,
        deadline: Deadline,
        state: _RequestState,
        priority: Priority,
        seconds: float,
    ) -> None:
        """Call the app under ``protection``'s admission; a refusal is answered here."""
        root_path = scope.get("root_path", "")

        def route_of() -> str:
            # After the app ran, the router has said; before, ask the routes themselves.
            return (
                route_template(scope, root_path) or matched_route_template(scope, self.app) or UNMATCHED_ROUTE
            )

        async def refuse(refusal: Refusal) -> None:
            headers = [
                (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in refusal.headers
            ]
            headers.append((b"content-length", b"0"))
            await exchange.send({"type": "http.response.start", "status": refusal.status, "headers": headers})
            await exchange.send({"type": "http.response.body", "body": b""})

        await protection.run(
            lambda: self._call_app(scope, exchange, deadline, state),
            refuse,
            path=str(scope.get("path", "")),
            route_of=route_of,
            priority=priority,
            remaining=seconds,
        )

    async def _call_app(
        self, scope: Scope, exchange: _Exchange, deadline: Deadline, state: _RequestState
    ) -> None:
        if not self._options.cancel_on_timeout:
            await self.app(scope, exchange.receive, exchange.send)
            return
        guard = asyncio.timeout(deadline.timeout)
        state.guard = guard
        try:
            async with guard:
                await self.app(scope, exchange.receive, exchange.send)
        except TimeoutError:
            # Only our own expiry means "deadline"; a TimeoutError of the app is its own error.
            if not guard.expired():
                raise
            if exchange.started:
                exchange.status = TIMEOUT_STATUS  # the response is cut: the server closes it
            else:
                await _send_timeout(exchange.send)
