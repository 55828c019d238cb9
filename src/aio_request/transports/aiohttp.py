"""The aiohttp transport and a caching, self-refreshing DNS resolver for aiohttp.

:class:`AioHttpTransport` sends each attempt with :meth:`aiohttp.ClientSession.request` and maps
every failure once to a synthetic response (see :class:`~aio_request.http.transport.Transport`).
The attempt is bounded by aiohttp's ``ClientTimeout(total=...)``, which covers connecting,
sending, the headers and the body (also the body of an unbuffered response read after
:meth:`send` returns). Each connect retry gets what is left of the one budget, and rounding is
off (``ceil_threshold=inf``), so the deadline is never overrun (tries starting within the same
millisecond share one ``ClientTimeout``, which may end them up to 1 ms early); no second timer
is needed around it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
from collections.abc import Awaitable
from typing import Final

import aiohttp
import aiohttp.abc
import yarl
from multidict import CIMultiDict, CIMultiDictProxy

from aio_request._core.clock import MONOTONIC_CLOCK, Clock
from aio_request._core.concurrency import start_background_task, stop_background_task
from aio_request._core.deprecation import MetricsProvider, warn_metrics_provider
from aio_request._core.errors import FailureKind
from aio_request._core.validate import at_least, positive
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
)
from aio_request.transports._size_limit import (
    DEFAULT_MAX_RESPONSE_SIZE,
    ResponseTooLargeError,
    max_response_size_option,
)
from aio_request.transports._synthetic import NO_TIMEOUT_LEFT, do_not_retry, failed_response
from aio_request.transports._tls_name import tls_server_name

__all__ = ["AioHttpDnsResolver", "AioHttpTransport"]

_log = logging.getLogger(__name__)

_SHARED_TIMEOUT_SLACK: Final = 0.001
"""How much shorter than what is left an attempt's shared ``ClientTimeout.total`` may be."""


class AioHttpTransport(Transport):
    """Sends attempts through an :class:`aiohttp.ClientSession` the caller owns (and closes).

    - ``network_errors_code`` (489): status of the synthetic response for a connect failure, a
      reset connection or invalid HTTP (bad status line, truncated body, bad chunked encoding).
    - ``too_many_redirects_code`` (488): status when a request needs more than its
      ``max_redirects`` redirects; its headers repeat the ``Location`` of every redirect
      response received, in order.
    - a timeout gives ``408``. Synthetic responses are :class:`EmptyResponse` objects whose
      ``failure`` keeps the kind and the exception.
    - ``buffer_payload`` (True): read the whole body within the timeout and return a
      :class:`BufferedResponse`, the connection released at once. With ``False`` the live
      response is returned as soon as its headers arrive; reading its body stays bounded by
      the attempt's timeout (aiohttp's ``ClientTimeout.total``, raising :class:`TimeoutError`)
      and its ``close()`` releases the connection, so the caller must close it.
    - ``connection_attempts`` (3): how many times to try when the connection cannot be
      established (nothing was sent yet). All tries share the attempt's single timeout.
    - ``max_response_size`` (64 MiB): the largest body, counted after decoding, buffered with
      ``buffer_payload``; a larger one ends the attempt early in a ``network_errors_code``
      response with ``X-Do-Not-Retry`` and failure kind ``RESPONSE_TOO_LARGE``. A request's
      own ``max_response_size`` takes precedence; ``None`` means no limit. A live response
      (``buffer_payload=False``) is not limited: its reader decides how much to read.

    Redirects are followed by this transport, hop by hop, as
    :mod:`aio_request.transports._redirects` describes (the same rules as
    :class:`~aio_request.transports.httpx.HttpxTransport`): a request's ``max_redirects`` is the
    number of redirects followed (``max_redirects=2`` accepts two and fails on the third),
    ``allow_redirects=False`` returns the 3xx response, a ``Location`` that cannot be followed
    ends in a ``network_errors_code`` response with ``X-Do-Not-Retry`` and failure kind
    ``INVALID_REDIRECT``, credentials are dropped across origins, and each hop carries the
    ``X-Request-Timeout`` left when it is sent.

    The session's own ``ClientTimeout`` fields are kept, its ``total`` capped by what is left of
    the attempt's and never rounded up (aiohttp would round a total of 5 s or more up to a
    whole second). Also note that aiohttp itself resends an idempotent request (GET, PUT,
    DELETE, ...) once when the connection breaks before the response arrives;
    ``connection_attempts`` is independent of it.

    ``metrics_provider`` (deprecated, no effect) is accepted for code written for aio-request 0.2.9.

    Raises :class:`ValueError` for ``connection_attempts < 1`` or ``max_response_size < 0``.
    :meth:`send` never raises for network failures or hostile answers; it lets
    :class:`asyncio.CancelledError` through after closing the connection.
    """

    __slots__ = (
        "_buffer_payload",
        "_connection_attempts",
        "_max_response_size",
        "_network_errors_code",
        "_session",
        "_shared_timeout",
        "_too_many_redirects_code",
    )

    def __init__(
        self,
        client_session: aiohttp.ClientSession,
        *,
        network_errors_code: int = 489,
        too_many_redirects_code: int = 488,
        buffer_payload: bool = True,
        connection_attempts: int = 3,
        metrics_provider: MetricsProvider | None = None,
        max_response_size: int | None = DEFAULT_MAX_RESPONSE_SIZE,
    ) -> None:
        warn_metrics_provider("AioHttpTransport()", metrics_provider)
        self._session = client_session
        self._network_errors_code = network_errors_code
        self._too_many_redirects_code = too_many_redirects_code
        self._buffer_payload = buffer_payload
        self._connection_attempts = at_least("connection_attempts", connection_attempts, 1)
        self._max_response_size = max_response_size_option(max_response_size)
        self._shared_timeout: tuple[aiohttp.ClientTimeout, aiohttp.ClientTimeout] | None = None

    async def send(self, endpoint: yarl.URL, request: Request, timeout: float) -> ClosableResponse:
        """Send ``request`` to ``endpoint``; the whole attempt takes at most ``timeout`` seconds."""
        url = request.build_url(endpoint)
        started = MONOTONIC_CLOCK.now()
        if not timeout > 0:
            return failed_response(408, FailureKind.TIMEOUT, TimeoutError(NO_TIMEOUT_LEFT), started)
        limit = self._max_response_size if request.max_response_size is None else request.max_response_size
        deadline = started + timeout
        try:
            # The first connection attempt is made here, not in the retry loop: every call takes
            # this path, and a coroutine less on it is measurably cheaper.
            try:
                response = await self._start(request.method, url, request.headers, request.body, deadline, 1)
            except aiohttp.ClientSSLError:
                raise
            except aiohttp.ClientConnectorError:
                if self._connection_attempts == 1:
                    raise
                first_hop = Hop(request.method, url, request.headers, request.body)
                response = await self._request_with_connect_retries(
                    first_hop, deadline, first=True, attempt=2
                )
            if request.allow_redirects and response.status in REDIRECT_STATUSES:
                response = await self._follow_redirects(response, url, request, started, deadline, limit)
            if not self._buffer_payload:
                return _AioHttpResponse(response, MONOTONIC_CLOCK.now() - started)
            try:
                body = await _read_limited(response, limit)
            except BaseException:
                response.close()
                raise
            response.release()
            return BufferedResponse(
                status=response.status,
                headers=response.headers,
                body=body,
                elapsed=MONOTONIC_CLOCK.now() - started,
            )
        # aiohttp's own timeouts (ServerTimeoutError and subclasses) are TimeoutErrors too.
        except TimeoutError as exc:
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
        except aiohttp.ClientConnectorError as exc:
            return failed_response(self._network_errors_code, FailureKind.CONNECT, exc, started)
        except (aiohttp.ClientPayloadError, aiohttp.ClientResponseError) as exc:
            return failed_response(self._network_errors_code, FailureKind.PROTOCOL, exc, started)
        except (aiohttp.ClientError, OSError) as exc:
            return failed_response(self._network_errors_code, FailureKind.RESET, exc, started)

    async def _follow_redirects(
        self,
        response: aiohttp.ClientResponse,
        url: yarl.URL,
        request: Request,
        started: float,
        deadline: float,
        limit: int | None,
    ) -> aiohttp.ClientResponse:
        """Follow the redirect ``response`` answered (see :mod:`._redirects`); the last response."""
        hop = Hop(request.method, url, request.headers, request.body)
        locations: list[str] = []
        redirects = 0
        announced: float | None = None
        while True:
            try:
                hop_locations = response.headers.getall(Header.LOCATION, [])
                location = redirect_location(response.status, hop_locations)
                if location is None:
                    return response
                locations.extend(hop_locations)
                # Reading the (small) redirect body lets the connection be reused.
                await _read_limited(response, limit)
            except BaseException:
                response.close()
                raise
            response.release()
            if redirects >= request.max_redirects:
                raise TooManyRedirectsError(request.max_redirects, locations)
            if redirects == 0:
                announced = announced_timeout(request.headers)
            redirects += 1
            left = None if announced is None else announced - (MONOTONIC_CLOCK.now() - started)
            hop = next_hop(hop, response.status, location, left)
            response = await self._request_with_connect_retries(hop, deadline, first=False, attempt=1)
            if response.status not in REDIRECT_STATUSES:
                return response

    async def _request_with_connect_retries(
        self, hop: Hop, deadline: float, *, first: bool, attempt: int
    ) -> aiohttp.ClientResponse:
        """Send ``hop``, trying to connect again (up to ``connection_attempts`` in all) from
        connection try ``attempt`` on."""
        while True:
            try:
                return await self._start(hop.method, hop.url, hop.headers, hop.body, deadline, attempt)
            except aiohttp.ClientSSLError:
                raise
            except aiohttp.ClientConnectorError:
                if attempt >= self._connection_attempts:
                    raise
                attempt += 1
            except (aiohttp.InvalidURL, ValueError) as exc:
                if first:
                    raise
                # A redirect target aiohttp refuses although it passed resolve_location.
                raise InvalidRedirectError(str(hop.url), str(exc)) from exc

    def _start(
        self,
        method: str,
        url: yarl.URL,
        headers: CIMultiDictProxy[str] | CIMultiDict[str],
        body: bytes | None,
        deadline: float,
        attempt: int,
    ) -> Awaitable[aiohttp.ClientResponse]:
        """Start connection try ``attempt`` of one hop, bounded by what is left until ``deadline``."""
        timeout = self._client_timeout(deadline - MONOTONIC_CLOCK.now())
        if _log.isEnabledFor(logging.DEBUG):
            # The same debug line per connection attempt as aio-request 0.2.9 (its users count them).
            _log.debug("Sending request %s %s (connection attempt %d)", method, url, attempt)
        return self._session.request(
            method,
            url,
            headers=headers,
            data=body,
            allow_redirects=False,
            timeout=timeout,
            raise_for_status=False,
            # Only a request with its own Host header may need another TLS name (most have none).
            server_hostname=tls_server_name(url, headers) if Header.HOST in headers else None,
        )

    def _client_timeout(self, left: float) -> aiohttp.ClientTimeout:
        """The session's ``ClientTimeout`` with ``total`` capped by ``left`` seconds, never rounded up.

        Connection tries starting within the same millisecond share one object (building one
        costs about a microsecond): the shared ``total`` is never longer than ``left`` and at
        most 1 ms shorter.
        """
        if left <= 0:
            # aiohttp would read a total <= 0 as "no timeout".
            raise TimeoutError("the attempt's timeout ran out between connection attempts")
        base = self._session.timeout
        total = left if base.total is None or base.total > left else base.total
        if not math.isfinite(total):
            return self._build_client_timeout(base, None)
        shared = self._shared_timeout
        if shared is not None and shared[0] is base:
            shared_total = shared[1].total
            if shared_total is not None and total - _SHARED_TIMEOUT_SLACK <= shared_total <= total:
                return shared[1]
        timeout = self._build_client_timeout(base, total)
        self._shared_timeout = (base, timeout)
        return timeout

    @staticmethod
    def _build_client_timeout(base: aiohttp.ClientTimeout, total: float | None) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(
            total=total,
            connect=base.connect,
            sock_read=base.sock_read,
            sock_connect=base.sock_connect,
            # Never rounded up: the attempt's deadline is exact.
            ceil_threshold=math.inf,
        )


async def _read_limited(response: aiohttp.ClientResponse, limit: int | None) -> bytes:
    """The whole (decoded) body; :class:`ResponseTooLargeError` once it grows past ``limit``."""
    if limit is None:
        return await response.read()
    length = response.content_length
    # A HEAD response announces the size of a body it does not carry.
    if (
        length is not None
        and response.method != "HEAD"
        and aiohttp.hdrs.CONTENT_ENCODING not in response.headers
    ):
        if length > limit:
            raise ResponseTooLargeError(limit, length)
        return await response.read()
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise ResponseTooLargeError(limit, size)
        chunks.append(chunk)
    return b"".join(chunks)


class _AioHttpResponse(ClosableResponse):
    """A live aiohttp response; its body read is bounded by the request's ``ClientTimeout``."""

    __slots__ = ("_elapsed", "_response")

    def __init__(self, response: aiohttp.ClientResponse, elapsed: float) -> None:
        self._response = response
        self._elapsed = elapsed

    @property
    def status(self) -> int:
        """The status code."""
        return self._response.status

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        """The headers."""
        return self._response.headers

    @property
    def elapsed(self) -> float:
        """Seconds until the response headers arrived."""
        return self._elapsed

    async def read(self) -> bytes:
        """The body; raises :class:`TimeoutError` when the attempt's timeout runs out first."""
        return await self._response.read()

    async def close(self) -> None:
        """Release the connection: back to the pool if the body was read, closed otherwise."""
        self._response.release()


_CacheKey = tuple[str, int, socket.AddressFamily]


class _CachedHost:
    __slots__ = ("failures", "results")

    def __init__(self, results: list[aiohttp.abc.ResolveResult]) -> None:
        self.results = results
        self.failures = 0


class AioHttpDnsResolver(aiohttp.abc.AbstractResolver):
    """Caches what ``resolver`` returns and refreshes it in the background.

    The first resolution of a ``(host, port, family)`` goes straight to ``resolver`` (its errors
    propagate); later ones are answered from the cache. Every ``interval`` seconds (30) a
    background task re-resolves every cached host, each refresh bounded by ``interval``; a
    successful refresh replaces the cached addresses, and a host whose refresh failed
    ``max_failures`` times in a row (3) is dropped, so its next resolution goes to ``resolver``
    again. The task starts with the first resolution; :meth:`close` cancels and awaits it and
    closes ``resolver``. ``clock`` drives the refresh interval (tests pass a fake one).

    Pass it to ``aiohttp.TCPConnector(resolver=...)`` and close it yourself after the session
    (aiohttp only closes resolvers it created)::

        resolver = AioHttpDnsResolver(aiohttp.ThreadedResolver())
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=resolver)):
            ...
        await resolver.close()

    Raises :class:`ValueError` for ``interval <= 0`` or ``max_failures < 1``.
    """

    __slots__ = ("_cache", "_clock", "_closed", "_interval", "_max_failures", "_resolver", "_task")

    def __init__(
        self,
        resolver: aiohttp.abc.AbstractResolver,
        *,
        interval: float = 30,
        max_failures: int = 3,
        clock: Clock = MONOTONIC_CLOCK,
    ) -> None:
        self._resolver = resolver
        self._interval = positive("interval", interval)
        self._max_failures = at_least("max_failures", max_failures, 1)
        self._clock = clock
        self._cache: dict[_CacheKey, _CachedHost] = {}
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        """The addresses of ``host``, from the cache when it holds them."""
        if self._closed:
            raise RuntimeError("AioHttpDnsResolver is closed")
        key = (host, port, family)
        cached = self._cache.get(key)
        if cached is not None:
            return list(cached.results)
        results = await self._resolver.resolve(host, port, family)
        if not self._closed:  # close() may have run while we awaited
            self._cache[key] = _CachedHost(list(results))
            if self._task is None:
                self._task = start_background_task(self._refresh_forever(), name="refresh DNS cache")
        return results

    def resolve_no_wait(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult] | None:
        """The cached addresses of ``host``, or ``None`` when it is not (or no longer) cached."""
        cached = self._cache.get((host, port, family))
        return None if cached is None else list(cached.results)

    async def close(self) -> None:
        """Stop refreshing (cancel and await the task), forget the cache, close ``resolver``."""
        if self._closed:
            return
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            await stop_background_task(task)
        self._cache.clear()
        await self._resolver.close()

    async def _refresh_forever(self) -> None:
        while True:
            await self._clock.sleep(self._interval)
            keys = list(self._cache)
            if keys:
                async with asyncio.TaskGroup() as group:  # noqa: TID251 (refreshes hosts side by side, all awaited)
                    for key in keys:
                        group.create_task(self._refresh(key))

    async def _refresh(self, key: _CacheKey) -> None:
        try:
            async with asyncio.timeout(self._interval):
                results = await self._resolver.resolve(*key)
        except Exception as exc:  # any failure, a timeout included, counts against the host
            cached = self._cache.get(key)
            if cached is None:
                return
            cached.failures += 1
            _log.debug("refreshing %s failed (%d in a row): %r", key[0], cached.failures, exc)
            if cached.failures >= self._max_failures:
                _log.warning(
                    "dropping %s from the DNS cache after %d failed refreshes", key[0], cached.failures
                )
                del self._cache[key]
            return
        cached = self._cache.get(key)
        if cached is not None:
            cached.results = list(results)
            cached.failures = 0
