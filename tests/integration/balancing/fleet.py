"""A fleet of aiohttp replicas on loopback addresses, each with a behaviour the test can change."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Sequence

import yarl
from aiohttp import web


class ReplicaServer:
    """One replica: answers ``GET /thing`` according to :attr:`behaviour`.

    ``"ok"`` answers 200 after :attr:`delay` seconds, ``"fail"`` 500, ``"blackhole"`` never
    answers. ``hosts`` records the ``Host`` header of every request, ``hits`` counts them.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.behaviour = "ok"
        self.delay = 0.0
        self.hits = 0
        self.hosts: list[str] = []
        self.in_flight = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> yarl.URL:
        return yarl.URL.build(scheme="http", host=self.host, port=self.port, path="/")

    async def _thing(self, request: web.Request) -> web.Response:
        self.hits += 1
        self.hosts.append(request.headers.get("Host", ""))
        self.in_flight += 1
        try:
            if self.behaviour == "blackhole":
                await asyncio.Event().wait()
            if self.delay:
                await asyncio.sleep(self.delay)
            return web.Response(status=500 if self.behaviour == "fail" else 200, text="x")
        finally:
            self.in_flight -= 1

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/thing", self._thing)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on at ``host`` right now (refused connections)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.asynccontextmanager
async def fleet(
    hosts: Sequence[str] = ("127.0.0.1",) * 3, *, same_port: bool = False
) -> AsyncIterator[list[ReplicaServer]]:
    """Start a replica on each of ``hosts`` (ports chosen freely, or one port shared by all)."""
    servers: list[ReplicaServer] = []
    try:
        port = 0
        for host in hosts:
            server = ReplicaServer(host, port)
            await server.start()
            servers.append(server)
            if same_port:
                port = server.port
        yield servers
    finally:
        for server in servers:
            await server.stop()
