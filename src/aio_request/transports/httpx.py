"""The httpx transport.

httpx's timeouts apply to each connect, read and write separately, so a server trickling a byte
now and then could keep an attempt alive forever; the whole attempt is therefore run under one
deadline (which also covers connect retries and redirects), and the body of an unbuffered
response is read under what is left of that same deadline.

Redirects are followed here rather than by httpx, because httpx only knows a per-client
``max_redirects`` while a :class:`~aio_request.http.request.Request` carries its own; each hop is
still built by httpx (``Response.next_request``), so method and header rewriting are httpx's.

Cancellation goes through anyio, never straight into httpx code: httpcore shields the
bookkeeping of its connection pool with anyio's shielded cancel scopes, which stop anyio's
cancellation but not asyncio's ``Task.cancel()``. A native cancellation that lands while a
response is being closed (right after its body was read, or in ``aclose()``) leaves that
connection counted as in use by the pool for good, until the pool is exhausted. So every httpx
operation runs in a task of its own under an anyio cancel scope (:func:`_in_cancel_scope`),
whose deadline is the attempt's, and which is cancelled when the caller is.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import anyio
import httpx
import yarl
from multidict import CIMultiDict, CIMultiDictProxy

from aio_request._core.clock import MONOTONIC_CLOCK
from aio_request._core.errors import FailureKind
from aio_request._core.validate import at_least
from aio_request.http.headers import Header
from aio_request.http.request import Request
from aio_request.http.response import BufferedResponse, ClosableResponse
from aio_request.http.transport import Transport
from aio_request.transports._synthetic import NO_TIMEOUT_LEFT, failed_response

__all__ = ["HttpxTransport"]

_log = logging.getLogger(__name__)

T = TypeVar("T")


class _TooManyRedirectsError(Exception):
    """Raised inside :meth:`HttpxTransport.send` only; carries the ``Location`` chain."""

    def __init__(self, max_redirects: int, locations: list[str]) -> None:
        super().__init__(f"more than {max_redirects} redirects")
        self.locations = locations


class HttpxTransport(Transport):
    """Sends attempts through an :class:`httpx.AsyncClient` the caller owns (and closes).

    - ``network_errors_code`` (489): status of the synthetic response for a connect failure, a
      reset connection or invalid HTTP (bad status line, truncated body, bad chunked encoding).
    - ``too_many_redirects_code`` (488): status when a request needs more than its
      ``max_redirects`` redirects; its headers repeat the ``Location`` of every redirect
      response received, in order.
    - a timeout gives ``408``. Synthetic responses are :class:`EmptyResponse` objects whose
      ``failure`` keeps the kind and the exception.
    - ``buffer_payload`` (True): read the whole body within the timeout and return a
      :class:`BufferedResponse`, the connection released at once. With ``False`` the live
      response is returned as soon as its headers arrive; its ``read()`` runs under what is
      left of the attempt's deadline (raising :class:`TimeoutError` when it runs out) and its
      ``close()`` releases the connection, so the caller must close it.
    - ``connection_attempts`` (3): how many times to try when the connection cannot be
      established (nothing was sent yet). All tries share the attempt's single timeout.

    A request's ``max_redirects`` is the number of redirects followed (the client's own
    ``max_redirects`` and ``follow_redirects`` are not used); ``allow_redirects=False``
    returns the 3xx response. httpx's per-operation timeouts are set to the attempt's timeout.

    Header values are sent as UTF-8 without surrounding spaces and tabs, as aiohttp sends them.

    Raises :class:`ValueError` for ``connection_attempts < 1``. :meth:`send` never raises for
    network failures; it lets :class:`asyncio.CancelledError` through after closing the
    response.
    """

    __slots__ = (
        "_buffer_payload",
        "_client",
        "_connection_attempts",
        "_network_errors_code",
        "_too_many_redirects_code",
    )

    def __init__(
        self,
        client: httpx.AsyncClient,
        network_errors_code: int = 489,
        too_many_redirects_code: int = 488,
        buffer_payload: bool = True,
        connection_attempts: int = 3,
    ) -> None:
        self._client = client
        self._network_errors_code = network_errors_code
        self._too_many_redirects_code = too_many_redirects_code
        self._buffer_payload = buffer_payload
        self._connection_attempts = at_least("connection_attempts", connection_attempts, 1)

    async def send(self, endpoint: yarl.URL, request: Request, timeout: float) -> ClosableResponse:
        """Send ``request`` to ``endpoint``; the whole attempt takes at most ``timeout`` seconds."""
        url = request.build_url(endpoint)
        started = MONOTONIC_CLOCK.now()
        if not timeout > 0:
            exc = TimeoutError(NO_TIMEOUT_LEFT)
            return failed_response(408, FailureKind.TIMEOUT, exc, started)
        deadline: float | None = None
        if math.isfinite(timeout):
            # anyio's cancel scopes take their deadline in the loop's own time.
            deadline = asyncio.get_running_loop().time() + timeout  # noqa: TID251
        try:
            return await _in_cancel_scope(
                self._send(url, request, timeout, started, deadline), deadline, _close
            )
        except (TimeoutError, httpx.TimeoutException) as exc:
            return failed_response(408, FailureKind.TIMEOUT, exc, started)
        except _TooManyRedirectsError as exc:
            locations: CIMultiDict[str] = CIMultiDict((Header.LOCATION, value) for value in exc.locations)
            return failed_response(
                self._too_many_redirects_code, FailureKind.TOO_MANY_REDIRECTS, exc, started, locations
            )
        except httpx.ConnectError as exc:
            return failed_response(self._network_errors_code, FailureKind.CONNECT, exc, started)
        except (httpx.NetworkError, OSError) as exc:
            return failed_response(self._network_errors_code, FailureKind.RESET, exc, started)
        except httpx.RequestError as exc:
            # ProtocolError (invalid HTTP, truncated or badly chunked body), DecodingError, and
            # UnsupportedProtocol for a redirect to a non-HTTP URL.
            return failed_response(self._network_errors_code, FailureKind.PROTOCOL, exc, started)

    async def _send(
        self, url: yarl.URL, request: Request, timeout: float, started: float, deadline: float | None
    ) -> ClosableResponse:
        response = await self._send_following_redirects(url, request, timeout)
        if not self._buffer_payload:
            return _HttpxResponse(response, MONOTONIC_CLOCK.now() - started, deadline)
        try:
            body = await response.aread()
        finally:
            await response.aclose()
        return BufferedResponse(
            status=response.status_code,
            headers=_headers(response),
            body=body,
            elapsed=MONOTONIC_CLOCK.now() - started,
        )

    async def _send_following_redirects(
        self, url: yarl.URL, request: Request, timeout: float
    ) -> httpx.Response:
        next_request = self._client.build_request(
            request.method,
            str(url),
            headers=_wire_headers(request),
            content=request.body,
            timeout=httpx.Timeout(timeout if math.isfinite(timeout) else None),
        )
        locations: list[str] = []
        redirects = 0
        while True:
            response = await self._send_with_connect_retries(next_request)
            if not request.allow_redirects or response.next_request is None:
                return response
            locations.extend(response.headers.get_list(Header.LOCATION))
            try:
                # Reading the (small) redirect body lets the connection be reused.
                await response.aread()
            finally:
                await response.aclose()
            if redirects >= request.max_redirects:
                raise _TooManyRedirectsError(request.max_redirects, locations)
            redirects += 1
            next_request = response.next_request

    async def _send_with_connect_retries(self, request: httpx.Request) -> httpx.Response:
        attempt = 1
        while True:
            # The same debug line per connection attempt as aio-request 0.2.9 (its users count them).
            _log.debug("Sending request %s %s (connection attempt %d)", request.method, request.url, attempt)
            try:
                return await self._client.send(request, stream=True, follow_redirects=False)
            except httpx.ConnectError:
                if attempt >= self._connection_attempts:
                    raise
                attempt += 1


class _HttpxResponse(ClosableResponse):
    """A live httpx response whose body is read under the attempt's deadline."""

    __slots__ = ("_deadline", "_elapsed", "_headers", "_response")

    def __init__(self, response: httpx.Response, elapsed: float, deadline: float | None) -> None:
        self._response = response
        self._elapsed = elapsed
        self._deadline = deadline
        self._headers = _headers(response)

    @property
    def status(self) -> int:
        """The status code."""
        return self._response.status_code

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        """The headers."""
        return self._headers

    @property
    def elapsed(self) -> float:
        """Seconds until the response headers arrived."""
        return self._elapsed

    async def read(self) -> bytes:
        """The body; raises :class:`TimeoutError` when the attempt's deadline passes first."""
        try:
            return await _in_cancel_scope(self._response.aread(), self._deadline)
        except httpx.TimeoutException as exc:
            raise TimeoutError(str(exc)) from exc

    async def close(self) -> None:
        """Close the response: the connection goes back to the pool if the body was read."""
        await _in_cancel_scope(self._response.aclose(), None)


async def _close(response: ClosableResponse) -> None:
    await response.close()


async def _in_cancel_scope(
    work: Coroutine[Any, Any, T],
    deadline: float | None,
    abandon: Callable[[T], Awaitable[None]] | None = None,
) -> T:
    """Await ``work`` in a task of its own, under an anyio cancel scope (see the module doc).

    The scope's deadline is ``deadline`` (loop time, ``None`` for none); when it passes, the
    work is cancelled through the scope and :class:`TimeoutError` is raised. When the caller is
    cancelled, the scope is cancelled, the task is awaited (httpcore's shielded cleanup then
    completes) and the :class:`asyncio.CancelledError` is re-raised; a result the work produced
    all the same is handed to ``abandon``.
    """
    scope = anyio.CancelScope(deadline=math.inf if deadline is None else deadline)

    async def run() -> T:
        with scope:
            return await work
        raise TimeoutError("the attempt's timeout ran out")  # the scope caught its own cancellation

    task = asyncio.get_running_loop().create_task(run())  # noqa: TID251 (owned: awaited below on every path)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        scope.cancel()
        while not task.done():
            try:
                await asyncio.wait([task])
            except asyncio.CancelledError:
                continue  # cancelled again: the first cancellation is re-raised below anyway
        if not task.cancelled() and task.exception() is None and abandon is not None:
            await abandon(task.result())
        raise


def _wire_headers(request: Request) -> list[tuple[bytes, bytes]]:
    """The request headers as aiohttp sends them: values in UTF-8 (httpx would insist on ASCII)
    and without surrounding spaces and tabs (HTTP does not carry them; h11 refuses them)."""
    return [
        (name.encode("ascii"), value.strip(" \t").encode("utf-8")) for name, value in request.headers.items()
    ]


def _headers(response: httpx.Response) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(response.headers.multi_items()))
