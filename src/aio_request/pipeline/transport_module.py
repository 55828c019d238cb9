"""The last module of the pipeline: enrichment, system headers, then the transport."""

from __future__ import annotations

import inspect
import math
from collections.abc import Awaitable

import yarl

from aio_request.http.deadline import Deadline
from aio_request.http.headers import MAX_SENT_TIMEOUT, format_request_timeout
from aio_request.http.priority import Priority
from aio_request.http.request import Request
from aio_request.http.response import ClosableResponse
from aio_request.http.transport import Transport
from aio_request.pipeline.module import NextModuleFunc, RequestEnricher, RequestModule


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
        return await self._send(endpoint, request, deadline, priority)

    def _send(
        self, endpoint: yarl.URL, request: Request, deadline: Deadline, priority: Priority
    ) -> Awaitable[ClosableResponse]:
        timeout = deadline.timeout
        if not math.isfinite(timeout) or timeout > MAX_SENT_TIMEOUT:
            timeout = MAX_SENT_TIMEOUT
        if self._emit_system_headers:
            # _value_ is the member's value as a plain attribute (.value is a Python-level property).
            request = request.with_system_headers(format_request_timeout(timeout), priority._value_)
        return self._transport.send(endpoint, request, timeout)

    def _plain_call(self, next: NextModuleFunc) -> NextModuleFunc | None:
        # Without an enricher, which may be async, nothing here awaits: the transport's own
        # coroutine is the attempt's.
        if type(self) is not TransportModule or self._request_enricher is not None:
            return None
        return self._send
