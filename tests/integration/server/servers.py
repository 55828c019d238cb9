"""Loopback servers for the middleware tests: aiohttp and uvicorn, in the test's loop or a thread.

Every server listens on 127.0.0.1 with port 0; the helpers yield the base URL and stop the
server on exit. :func:`raw_request` is a tiny HTTP/1.1 client that sends header bytes exactly as
given (aiohttp and httpx would refuse or normalise the hostile ones the tests need).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import uvicorn
import yarl
from aiohttp import web

from aio_request.events import Event, EventHub, ServerRequestFinished


class _TaskServer(uvicorn.Server):
    """A uvicorn server run as a task: it must not take over the process's signal handlers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def run_aiohttp(app: web.Application, *, handler_cancellation: bool = False) -> AsyncIterator[yarl.URL]:
    """Serve ``app`` on 127.0.0.1; ``handler_cancellation`` cancels handlers of closed connections."""
    runner = web.AppRunner(app, handler_cancellation=handler_cancellation, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield yarl.URL.build(scheme="http", host=host, port=port)
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def run_uvicorn(app: Any) -> AsyncIterator[yarl.URL]:
    """Serve the ASGI ``app`` with uvicorn on 127.0.0.1 in a task of the running loop."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        lifespan="off",
        log_level="critical",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    server = _TaskServer(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    await task
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.005)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield yarl.URL.build(scheme="http", host="127.0.0.1", port=port)
    finally:
        server.should_exit = True
        await task


@contextlib.contextmanager
def serve_in_thread(
    serve: Callable[[], contextlib.AbstractAsyncContextManager[yarl.URL]],
) -> Iterator[yarl.URL]:
    """Run a server from ``serve`` in its own thread and loop (for sync, hypothesis-driven tests)."""
    started = threading.Event()
    url: list[yarl.URL] = []
    errors: list[BaseException] = []
    stop: list[Callable[[], object]] = []

    async def main() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        stop.append(lambda: loop.call_soon_threadsafe(stopping.set))
        async with serve() as base:
            url.append(base)
            started.set()
            await stopping.wait()

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as e:
            errors.append(e)
        finally:
            started.set()

    thread = threading.Thread(target=run, name="test-server", daemon=True)
    thread.start()
    started.wait(10)
    if errors or not url:
        raise RuntimeError(f"server did not start: {errors!r}")
    try:
        yield url[0]
    finally:
        stop[0]()
        thread.join(10)
        if errors:
            raise errors[0]


def raw_request(
    base: yarl.URL, path: str, headers: Sequence[tuple[bytes, bytes]] = (), *, timeout: float = 10
) -> tuple[int, dict[str, str], bytes]:
    """Send one GET with ``headers`` byte for byte; returns status, headers (lower-cased), body."""
    assert base.host is not None
    assert base.port is not None
    lines = [f"GET {path} HTTP/1.1".encode(), f"Host: {base.host}:{base.port}".encode(), b"Connection: close"]
    lines += [name + b": " + value for name, value in headers]
    with socket.create_connection((base.host, base.port), timeout=timeout) as sock:
        sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    response_headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        response_headers[name.strip().lower()] = value.strip()
    return int(status_line.split(" ")[1]), response_headers, body


class Recorder:
    """Subscribes to a fresh :class:`EventHub` and keeps the server events it delivers (one loop)."""

    def __init__(self) -> None:
        self.hub = EventHub()
        self.events: list[ServerRequestFinished] = []
        self._arrived = asyncio.Event()
        self.hub.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, ServerRequestFinished):
            self.events.append(event)
            self._arrived.set()

    async def wait_for(self, count: int, timeout: float = 5) -> list[ServerRequestFinished]:
        """Wait until ``count`` events arrived: ASGI emits after the response was sent."""
        async with asyncio.timeout(timeout):
            while len(self.events) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.events
