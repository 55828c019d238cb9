"""Fixtures: the fault server, and a harness that builds either transport over a real client.

The ``harness`` fixture is parametrised over both transports, so every test that uses it runs
for aiohttp and for httpx. It counts connection attempts at the connection layer (an aiohttp
trace hook; a wrapper around httpcore's network backend), can make each attempt slow, and on
teardown checks that no connection is still held by a response, then closes the client.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Iterable
from types import SimpleNamespace
from typing import Any

import aiohttp
import httpcore
import httpx
import pytest

from aio_request.http.transport import Transport
from aio_request.transports.aiohttp import AioHttpTransport
from aio_request.transports.httpx import HttpxTransport

from .fault_server import FaultServer

TRANSPORTS = ("aiohttp", "httpx")


class Harness:
    """Builds transports of one kind over one client and watches its connections."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.connect_attempts = 0
        self.connect_delay = 0.0
        """Seconds each connection attempt waits before it really connects."""
        self._session: aiohttp.ClientSession | None = None
        self._client: httpx.AsyncClient | None = None
        self._pool: httpcore.AsyncConnectionPool | None = None

    async def _on_connect_attempt(self) -> None:
        self.connect_attempts += 1
        if self.connect_delay:
            await asyncio.sleep(self.connect_delay)

    def make(self, **options: Any) -> Transport:
        """A transport with the given options over this harness's client."""
        if self.name == "aiohttp":
            return AioHttpTransport(self._aiohttp_session(), **options)
        return HttpxTransport(self._httpx_client(), **options)

    def _aiohttp_session(self) -> aiohttp.ClientSession:
        if self._session is None:

            async def on_start(_session: aiohttp.ClientSession, _ctx: SimpleNamespace, _params: Any) -> None:
                await self._on_connect_attempt()

            trace = aiohttp.TraceConfig()
            trace.on_connection_create_start.append(on_start)
            self._session = aiohttp.ClientSession(trace_configs=[trace])
        return self._session

    def _httpx_client(self) -> httpx.AsyncClient:
        if self._client is None:
            transport = httpx.AsyncHTTPTransport()
            pool = transport._pool
            pool._network_backend = _CountingBackend(pool._network_backend, self)
            self._pool = pool
            self._client = httpx.AsyncClient(transport=transport)
        return self._client

    def in_flight(self) -> int:
        """Connections (aiohttp) or requests (httpx) still held by a response."""
        if self._session is not None:
            connector = self._session.connector
            assert isinstance(connector, aiohttp.TCPConnector)
            return len(connector._acquired)
        if self._pool is not None:
            return len(self._pool._requests)
        return 0

    async def close(self) -> None:
        """Check nothing is held, then close the client (once: later calls do nothing)."""
        try:
            assert self.in_flight() == 0, f"{self.in_flight()} connection(s) still held"
        finally:
            session, self._session = self._session, None
            client, self._client, self._pool = self._client, None, None
            if session is not None:
                await session.close()
            if client is not None:
                await client.aclose()


class _CountingBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, inner: httpcore.AsyncNetworkBackend, harness: Harness) -> None:
        self._inner = inner
        self._harness = harness

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        await self._harness._on_connect_attempt()
        return await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise NotImplementedError

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@pytest.fixture
async def fault_server() -> AsyncIterator[FaultServer]:
    """A started :class:`FaultServer`."""
    async with FaultServer() as server:
        yield server


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """Everything reported to the loop's exception handler, in debug mode so that aiohttp
    reports responses nobody closed ("Unclosed response")."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    previous_handler, previous_debug = loop.get_exception_handler(), loop.get_debug()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    loop.set_debug(True)
    yield errors
    loop.set_debug(previous_debug)
    loop.set_exception_handler(previous_handler)


@pytest.fixture(params=TRANSPORTS)
async def harness(
    request: pytest.FixtureRequest, loop_errors: list[dict[str, Any]]
) -> AsyncIterator[Harness]:
    """A :class:`Harness` for each transport; fails on held connections or loop errors."""
    harness = Harness(request.param)
    try:
        yield harness
    finally:
        await harness.close()
        gc.collect()
        await asyncio.sleep(0)
        assert loop_errors == [], loop_errors
