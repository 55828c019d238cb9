"""The httpx transport.

httpx's timeouts apply to each connect, read and write separately, so a server trickling a byte
now and then could keep an attempt alive forever; the whole attempt is therefore run under one
deadline (which also covers connect retries and redirects), and the body of an unbuffered
response is read under what is left of that same deadline.

Redirects are followed here rather than by httpx, because httpx only knows a per-client
``max_redirects`` while a :class:`~aio_request.http.request.Request` carries its own, and so that
both transports follow the same rules (:mod:`._redirects`: hostile ``Location`` values,
credentials across origins, the deadline each hop carries).

Under load, httpcore's pool re-examines every waiting request each time a connection changes
state, so 1,000 requests queued on a pool of 100 cost seconds of CPU each; the transport keeps
at most the pool's size in flight (``max_in_flight``) and makes the others wait in a FIFO
semaphore, the wait counted in the attempt's timeout.

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
import zlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Final, TypeVar

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
from aio_request.transports._redirects import (
    REDIRECT_STATUSES,
    Hop,
    InvalidRedirectError,
    TooManyRedirectsError,
    announced_timeout,
    next_hop,
    redirect_location,
    same_origin,
)
from aio_request.transports._size_limit import (
    DEFAULT_MAX_RESPONSE_SIZE,
    ResponseTooLargeError,
    max_response_size_option,
)
from aio_request.transports._synthetic import NO_TIMEOUT_LEFT, do_not_retry, failed_response
from aio_request.transports._tls_name import tls_server_name

__all__ = ["HttpxTransport"]

_log = logging.getLogger(__name__)

T = TypeVar("T")

if TYPE_CHECKING:
    from httpx._client import UseClientDefault

    _ClientAuth = httpx.Auth | UseClientDefault | None


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
    - ``max_response_size`` (64 MiB): the largest body, counted after decoding, buffered with
      ``buffer_payload``; a larger one ends the attempt early in a ``network_errors_code``
      response with ``X-Do-Not-Retry`` and failure kind ``RESPONSE_TOO_LARGE``. A request's
      own ``max_response_size`` takes precedence; ``None`` means no limit. A live response
      (``buffer_payload=False``) is not limited: its reader decides how much to read.
    - ``max_in_flight`` (``None``): how many requests this transport has in flight at once.
      ``None`` means the size of the client's connection pool (``httpx.Limits.max_connections``,
      100 by default) when the client uses httpx's own transport, and no bound otherwise. An
      attempt waits for a free place at most until its timeout runs out (then ``408``), so
      thousands of concurrent calls end in time instead of piling up in httpx's pool, whose
      bookkeeping grows with the square of the waiting requests. A live response holds its
      place until it is closed.

    Redirects are followed as :mod:`aio_request.transports._redirects` describes (the same
    rules as :class:`~aio_request.transports.aiohttp.AioHttpTransport`): a request's
    ``max_redirects`` is the number of redirects followed (the client's own ``max_redirects``
    and ``follow_redirects`` are not used), ``allow_redirects=False`` returns the 3xx response,
    a ``Location`` that cannot be followed ends in a ``network_errors_code`` response with
    ``X-Do-Not-Retry`` and failure kind ``INVALID_REDIRECT``, and each hop carries the
    ``X-Request-Timeout`` left when it is sent. httpx's per-operation timeouts are set to the
    attempt's timeout.

    Header values are sent as UTF-8 without surrounding spaces and tabs, as aiohttp sends them.

    Raises :class:`ValueError` for ``connection_attempts < 1``, ``max_in_flight < 1`` or
    ``max_response_size < 0``. :meth:`send` never raises for network failures or hostile
    answers; it lets :class:`asyncio.CancelledError` through after closing the response.
    """

    __slots__ = (
        "_buffer_payload",
        "_client",
        "_connection_attempts",
        "_max_response_size",
        "_network_errors_code",
        "_slots",
        "_too_many_redirects_code",
    )

    def __init__(
        self,
        client: httpx.AsyncClient,
        network_errors_code: int = 489,
        too_many_redirects_code: int = 488,
        buffer_payload: bool = True,
        connection_attempts: int = 3,
        *,
        max_response_size: int | None = DEFAULT_MAX_RESPONSE_SIZE,
        max_in_flight: int | None = None,
    ) -> None:
        self._client = client
        self._network_errors_code = network_errors_code
        self._too_many_redirects_code = too_many_redirects_code
        self._buffer_payload = buffer_payload
        self._connection_attempts = at_least("connection_attempts", connection_attempts, 1)
        self._max_response_size = max_response_size_option(max_response_size)
        if max_in_flight is None:
            max_in_flight = _pool_size(client)
        else:
            max_in_flight = at_least("max_in_flight", max_in_flight, 1)
        self._slots = asyncio.Semaphore(max_in_flight) if max_in_flight is not None else None

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
        lease = _Lease(self._slots)
        if self._slots is not None:
            try:
                await lease.acquire(deadline)
            except TimeoutError as exc:
                return failed_response(408, FailureKind.TIMEOUT, exc, started)
        limit = self._max_response_size if request.max_response_size is None else request.max_response_size
        result: ClosableResponse | None = None
        try:
            result = await _in_cancel_scope(
                self._send(url, request, timeout, started, deadline, limit, lease), deadline, _close
            )
            return result
        except (TimeoutError, httpx.TimeoutException) as exc:
            return failed_response(408, FailureKind.TIMEOUT, exc, started)
        except TooManyRedirectsError as exc:
            locations: CIMultiDict[str] = CIMultiDict((Header.LOCATION, value) for value in exc.locations)
            return failed_response(
                self._too_many_redirects_code, FailureKind.TOO_MANY_REDIRECTS, exc, started, locations
            )
        except InvalidRedirectError as exc:
            return failed_response(
                self._network_errors_code, FailureKind.INVALID_REDIRECT, exc, started, do_not_retry()
            )
        except ResponseTooLargeError as exc:
            return failed_response(
                self._network_errors_code, FailureKind.RESPONSE_TOO_LARGE, exc, started, do_not_retry()
            )
        except httpx.ConnectError as exc:
            return failed_response(self._network_errors_code, FailureKind.CONNECT, exc, started)
        except (httpx.NetworkError, OSError) as exc:
            return failed_response(self._network_errors_code, FailureKind.RESET, exc, started)
        except httpx.RequestError as exc:
            # ProtocolError (invalid HTTP, truncated or badly chunked body), DecodingError.
            return failed_response(self._network_errors_code, FailureKind.PROTOCOL, exc, started)
        finally:
            if not isinstance(result, _HttpxResponse):
                lease.release()  # a live response releases its place when it is closed

    async def _send(
        self,
        url: yarl.URL,
        request: Request,
        timeout: float,
        started: float,
        deadline: float | None,
        limit: int | None,
        lease: _Lease,
    ) -> ClosableResponse:
        response = await self._send_following_redirects(url, request, timeout, limit)
        if not self._buffer_payload:
            return _HttpxResponse(response, MONOTONIC_CLOCK.now() - started, deadline, lease)
        try:
            body = await _read_limited(response, limit)
        finally:
            await response.aclose()
        return BufferedResponse(
            status=response.status_code,
            headers=_headers(response),
            body=body,
            elapsed=MONOTONIC_CLOCK.now() - started,
        )

    async def _send_following_redirects(
        self, url: yarl.URL, request: Request, timeout: float, limit: int | None
    ) -> httpx.Response:
        """Send the hops of the request (see :mod:`._redirects`); the last response is returned."""
        started = MONOTONIC_CLOCK.now()
        hop = Hop(request.method, url, request.headers, request.body)
        locations: list[str] = []
        redirects = 0
        announced: float | None = None
        while True:
            seconds_left = timeout - (MONOTONIC_CLOCK.now() - started)
            # The client's own auth goes only to the origin the request was sent to.
            auth: _ClientAuth = httpx.USE_CLIENT_DEFAULT if same_origin(hop.url, url) else None
            response = await self._send_with_connect_retries(hop, seconds_left, auth, first=redirects == 0)
            if not request.allow_redirects or response.status_code not in REDIRECT_STATUSES:
                return response
            try:
                hop_locations = response.headers.get_list(Header.LOCATION)
                location = redirect_location(response.status_code, hop_locations)
                if location is not None:
                    locations.extend(hop_locations)
                    # Reading the (small) redirect body lets the connection be reused.
                    await _read_limited(response, limit)
            except BaseException:
                await response.aclose()
                raise
            if location is None:
                return response
            await response.aclose()
            if redirects >= request.max_redirects:
                raise TooManyRedirectsError(request.max_redirects, locations)
            if redirects == 0:
                announced = announced_timeout(request.headers)
            redirects += 1
            left = None if announced is None else announced - (MONOTONIC_CLOCK.now() - started)
            hop = next_hop(hop, response.status_code, location, left)

    async def _send_with_connect_retries(
        self, hop: Hop, timeout: float, auth: _ClientAuth, *, first: bool
    ) -> httpx.Response:
        try:
            server_name = tls_server_name(hop.url, hop.headers)
            request = self._client.build_request(
                hop.method,
                str(hop.url),
                headers=_wire_headers(hop.headers),
                content=hop.body,
                timeout=httpx.Timeout(timeout if math.isfinite(timeout) else None),
                extensions=None if server_name is None else {"sni_hostname": server_name},
            )
        except httpx.InvalidURL as exc:
            if first:
                raise
            raise InvalidRedirectError(str(hop.url), str(exc)) from exc
        attempt = 1
        while True:
            # The same debug line per connection attempt as aio-request 0.2.9 (its users count them).
            _log.debug("Sending request %s %s (connection attempt %d)", request.method, request.url, attempt)
            try:
                return await self._client.send(request, stream=True, follow_redirects=False, auth=auth)
            except httpx.ConnectError:
                if attempt >= self._connection_attempts:
                    raise
                attempt += 1
            except httpx.InvalidURL as exc:
                # httpx prepares the next hop of a redirect response inside send() (even when
                # not following it) and raises when it cannot: the Location is unusable.
                raise InvalidRedirectError(str(exc), "httpx cannot build a request for it") from exc
            except httpx.RemoteProtocolError as exc:
                if str(exc).startswith("Invalid URL in location header"):
                    raise InvalidRedirectError(str(exc), "httpx cannot parse it") from exc
                raise


class _HttpxResponse(ClosableResponse):
    """A live httpx response whose body is read under the attempt's deadline."""

    __slots__ = ("_deadline", "_elapsed", "_headers", "_lease", "_response")

    def __init__(
        self, response: httpx.Response, elapsed: float, deadline: float | None, lease: _Lease
    ) -> None:
        self._response = response
        self._elapsed = elapsed
        self._deadline = deadline
        self._lease = lease
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
        try:
            await _in_cancel_scope(self._response.aclose(), None)
        finally:
            self._lease.release()


class _Lease:
    """A place among the transport's ``max_in_flight`` (a no-op without a bound)."""

    __slots__ = ("_held", "_semaphore")

    def __init__(self, semaphore: asyncio.Semaphore | None) -> None:
        self._semaphore = semaphore
        self._held = False

    async def acquire(self, deadline: float | None) -> None:
        """Take a place, waiting at most until ``deadline`` (loop time); else :class:`TimeoutError`."""
        assert self._semaphore is not None
        if not self._semaphore.locked():
            await self._semaphore.acquire()  # returns at once: a place is free
        else:
            try:
                async with asyncio.timeout_at(deadline):
                    await self._semaphore.acquire()
            except TimeoutError:
                raise TimeoutError(
                    "the attempt's timeout ran out waiting for a connection of the pool"
                ) from None
        self._held = True

    def release(self) -> None:
        """Give the place back; only the first call does anything."""
        if self._held:
            self._held = False
            assert self._semaphore is not None
            self._semaphore.release()


def _pool_size(client: httpx.AsyncClient) -> int | None:
    """``max_connections`` of the client's pool when it uses httpx's own transport, else ``None``."""
    transport = getattr(client, "_transport", None)
    if not isinstance(transport, httpx.AsyncHTTPTransport):
        return None
    size = getattr(getattr(transport, "_pool", None), "_max_connections", None)
    return size if isinstance(size, int) and size >= 1 else None


async def _read_limited(response: httpx.Response, limit: int | None) -> bytes:
    """The whole (decoded) body; :class:`ResponseTooLargeError` once it grows past ``limit``."""
    if limit is None:
        return await response.aread()
    length = response.headers.get("Content-Length")
    announced = int(length) if length is not None and length.isdigit() else None
    encoded = "Content-Encoding" in response.headers
    # A HEAD response announces the size of a body it does not carry.
    if announced is not None and announced > limit and not encoded and response.request.method != "HEAD":
        raise ResponseTooLargeError(limit, announced)  # refused before reading anything
    if response.headers.get("Content-Encoding", "").strip().lower() in _GZIP:
        return await _read_gzip_limited(response, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise ResponseTooLargeError(limit, size)
        chunks.append(chunk)
    return b"".join(chunks)


_GZIP: Final = frozenset({"gzip", "x-gzip"})
_INFLATE_STEP: Final = 1 << 20
"""Bytes inflated at most per step (zlib grows its output buffer by copying)."""


async def _read_gzip_limited(response: httpx.Response, limit: int) -> bytes:
    """A gzip body inflated a megabyte at a time, until it is complete or over ``limit``.

    httpx's own decoder inflates each network chunk whole: 64 KiB of a gzip bomb become ~64 MB
    before anything can be counted. Other encodings go through httpx's decoders.
    """
    decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)
    chunks: list[bytes] = []
    size = 0
    try:
        async for raw in response.aiter_raw():
            data = raw
            while data:
                chunk = decompressor.decompress(data, min(limit - size + 1, _INFLATE_STEP))
                size += len(chunk)
                if size > limit:
                    raise ResponseTooLargeError(limit, size)
                chunks.append(chunk)
                data = decompressor.unconsumed_tail
        chunk = decompressor.flush()
    except zlib.error as exc:
        raise httpx.DecodingError(str(exc), request=response.request) from exc
    size += len(chunk)
    if size > limit:
        raise ResponseTooLargeError(limit, size)
    chunks.append(chunk)
    return b"".join(chunks)


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


def _wire_headers(headers: CIMultiDictProxy[str] | CIMultiDict[str]) -> list[tuple[bytes, bytes]]:
    """The request headers as aiohttp sends them: values in UTF-8 (httpx would insist on ASCII)
    and without surrounding spaces and tabs (HTTP does not carry them; h11 refuses them)."""
    return [(name.encode("ascii"), value.strip(" \t").encode("utf-8")) for name, value in headers.items()]


def _headers(response: httpx.Response) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(response.headers.multi_items()))
