"""The per-attempt pipeline: modules folded once at setup, ending in the transport.

``build_pipeline([m1, m2, ..., TransportModule(...)])`` returns one function; each module gets the
next one's function and may short-circuit (the low-timeout guard, a circuit breaker) or change
what is passed on.
"""

from __future__ import annotations

import abc
import inspect
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Final, TypeAlias

import yarl
from multidict import CIMultiDict, CIMultiDictProxy

from aio_request._errors import FailureKind, TransportFailure
from aio_request._validate import non_negative
from aio_request.deadline import Deadline
from aio_request.headers import MAX_SENT_TIMEOUT, Header, format_request_timeout
from aio_request.priority import Priority
from aio_request.request import Request
from aio_request.response import ClosableResponse, EmptyResponse
from aio_request.transport import Transport

NextModuleFunc: TypeAlias = Callable[[yarl.URL, Request, Deadline, Priority], Awaitable[ClosableResponse]]
"""(endpoint, request, deadline, priority) → the response of the rest of the pipeline."""

RequestEnricher: TypeAlias = Callable[[Request], Request | Awaitable[Request]]
"""A sync or async function applied to every attempt's request before it is sent."""


class RequestModule(abc.ABC):
    """One step of the pipeline."""

    __slots__ = ()

    @abc.abstractmethod
    async def execute(
        self,
        next: NextModuleFunc,
        *,
        endpoint: yarl.URL,
        request: Request,
        deadline: Deadline,
        priority: Priority,
    ) -> ClosableResponse:
        """Produce the attempt's response, usually by calling ``next``."""


class BypassModule(RequestModule):
    """Passes everything on unchanged (a placeholder for a disabled feature)."""

    __slots__ = ()

    async def execute(
        self,
        next: NextModuleFunc,
        *,
        endpoint: yarl.URL,
        request: Request,
        deadline: Deadline,
        priority: Priority,
    ) -> ClosableResponse:
        """Call ``next``."""
        return await next(endpoint, request, deadline, priority)


_DO_NOT_RETRY_HEADERS: Final = CIMultiDictProxy(CIMultiDict({Header.X_DO_NOT_RETRY: "1"}))


class LowTimeoutModule(RequestModule):
    """Sends nothing when the deadline is expired or below ``low_timeout_threshold`` seconds.

    Instead it returns a ``408`` with ``X-Do-Not-Retry`` (its ``failure`` kind is DEADLINE).
    """

    __slots__ = ("_threshold",)

    def __init__(self, low_timeout_threshold: float) -> None:
        self._threshold = non_negative("low_timeout_threshold", low_timeout_threshold)

    async def execute(
        self,
        next: NextModuleFunc,
        *,
        endpoint: yarl.URL,
        request: Request,
        deadline: Deadline,
        priority: Priority,
    ) -> ClosableResponse:
        """Short-circuit with 408 when too little time is left, else call ``next``."""
        if deadline.timeout <= self._threshold:
            return EmptyResponse(
                status=408, headers=_DO_NOT_RETRY_HEADERS, failure=TransportFailure(FailureKind.DEADLINE)
            )
        return await next(endpoint, request, deadline, priority)


class TransportModule(RequestModule):
    """The last module: enriches the request, adds the system headers and calls the transport.

    With ``emit_system_headers``, ``X-Request-Timeout`` (the attempt's remaining seconds) and
    ``X-Request-Priority`` are set. The transport gets the attempt's remaining timeout, always
    finite.
    """

    __slots__ = ("_emit_system_headers", "_request_enricher", "_transport")

    def __init__(
        self,
        transport: Transport,
        *,
        emit_system_headers: bool = True,
        request_enricher: RequestEnricher | None = None,
    ) -> None:
        self._transport = transport
        self._emit_system_headers = emit_system_headers
        self._request_enricher = request_enricher

    async def execute(
        self,
        next: NextModuleFunc,
        *,
        endpoint: yarl.URL,
        request: Request,
        deadline: Deadline,
        priority: Priority,
    ) -> ClosableResponse:
        """Send the attempt through the transport."""
        if self._request_enricher is not None:
            enriched = self._request_enricher(request)
            request = await enriched if inspect.isawaitable(enriched) else enriched
        timeout = deadline.timeout
        if not math.isfinite(timeout) or timeout > MAX_SENT_TIMEOUT:
            timeout = MAX_SENT_TIMEOUT
        if self._emit_system_headers:
            request = request.with_system_headers(format_request_timeout(timeout), priority.value)
        return await self._transport.send(endpoint, request, timeout)


async def _no_module_sent_it(
    endpoint: yarl.URL, request: Request, deadline: Deadline, priority: Priority
) -> ClosableResponse:
    # NotImplementedError (a RuntimeError) as in aio-request 0.2.9, whose users match on it.
    raise NotImplementedError(
        "the pipeline ended without a module that sends the request (add a TransportModule)"
    )


def _bind(module: RequestModule, next_func: NextModuleFunc) -> NextModuleFunc:
    execute = module.execute

    def call(
        endpoint: yarl.URL, request: Request, deadline: Deadline, priority: Priority
    ) -> Awaitable[ClosableResponse]:
        return execute(next_func, endpoint=endpoint, request=request, deadline=deadline, priority=priority)

    return call


def build_pipeline(modules: Sequence[RequestModule]) -> NextModuleFunc:
    """Fold ``modules`` (first runs first) into one function."""
    next_func: NextModuleFunc = _no_module_sent_it
    for module in reversed(modules):
        next_func = _bind(module, next_func)
    return next_func
