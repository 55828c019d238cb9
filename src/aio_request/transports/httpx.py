"""The httpx transport.

httpx's timeouts apply to each connect, read and write separately, so a server trickling a byte
now and then could keep an attempt alive forever; the whole attempt is therefore run under one
:func:`asyncio.timeout` deadline (which also covers connect retries and redirects), and the
body of an unbuffered response is read under what is left of that same deadline.

Redirects are followed here rather than by httpx, because httpx only knows a per-client
``max_redirects`` while a :class:`~aio_request.request.Request` carries its own; each hop is
still built by httpx (``Response.next_request``), so method and header rewriting are httpx's.
"""

from __future__ import annotations

import asyncio
import math

import httpx
import yarl
from multidict import CIMultiDict, CIMultiDictProxy

from aio_request._clock import MONOTONIC_CLOCK
from aio_request._errors import FailureKind, TransportFailure
from aio_request._validate import at_least
from aio_request.headers import Header
from aio_request.request import Request
from aio_request.response import BufferedResponse, ClosableResponse, EmptyResponse
from aio_request.transport import Transport

__all__ = ["HttpxTransport"]


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
            exc = TimeoutError("the attempt's timeout was spent before anything was sent")
            return _failed(408, FailureKind.TIMEOUT, exc, started)
        deadline: float | None = None
        if math.isfinite(timeout):
            deadline = asyncio.get_running_loop().time() + timeout
        try:
            async with asyncio.timeout_at(deadline):
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
        except (TimeoutError, httpx.TimeoutException) as exc:
            return _failed(408, FailureKind.TIMEOUT, exc, started)
        except _TooManyRedirectsError as exc:
            locations: CIMultiDict[str] = CIMultiDict((Header.LOCATION, value) for value in exc.locations)
            return _failed(
                self._too_many_redirects_code, FailureKind.TOO_MANY_REDIRECTS, exc, started, locations
            )
        except httpx.ConnectError as exc:
            return _failed(self._network_errors_code, FailureKind.CONNECT, exc, started)
        except (httpx.NetworkError, OSError) as exc:
            return _failed(self._network_errors_code, FailureKind.RESET, exc, started)
        except httpx.RequestError as exc:
            # ProtocolError (invalid HTTP, truncated or badly chunked body), DecodingError, and
            # UnsupportedProtocol for a redirect to a non-HTTP URL.
            return _failed(self._network_errors_code, FailureKind.PROTOCOL, exc, started)

    async def _send_following_redirects(
        self, url: yarl.URL, request: Request, timeout: float
    ) -> httpx.Response:
        next_request = self._client.build_request(
            request.method,
            str(url),
            headers=list(request.headers.items()),
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
            async with asyncio.timeout_at(self._deadline):
                return await self._response.aread()
        except httpx.TimeoutException as exc:
            raise TimeoutError(str(exc)) from exc

    async def close(self) -> None:
        """Close the response: the connection goes back to the pool if the body was read."""
        await self._response.aclose()


def _headers(response: httpx.Response) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(response.headers.multi_items()))


def _failed(
    status: int,
    kind: FailureKind,
    exc: BaseException,
    started: float,
    headers: CIMultiDict[str] | None = None,
) -> EmptyResponse:
    return EmptyResponse(
        status=status,
        headers=CIMultiDictProxy(headers) if headers is not None else None,
        elapsed=MONOTONIC_CLOCK.now() - started,
        failure=TransportFailure(kind, exc),
    )
