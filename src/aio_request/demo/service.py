"""The embedded services: one aiohttp server on 127.0.0.1 hosting one service per scenario.

Each scenario calls its own service (``/{service}/items/{call}``) so that its server hits are
counted apart; every service draws the outcome of each attempt from the same seed, the call's
index and the attempt's rank (:class:`OutcomeDrawer`), so every scenario faces the same draws.
The server runs the library's own middleware, so the callers' deadlines travel as they would
between real services.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

import yarl
from aiohttp import web

from aio_request import Header, aiohttp_middleware_factory
from aio_request.demo.outcomes import STEADY, OutcomeDrawer
from aio_request.demo.profile import Profile
from aio_request.events import EventHub

WINDOW_HEADER: Final = "X-Lab-Window"
"""The request header naming the timeline window the call was due in (for the hit counts)."""

WARM_UP_PATH: Final = "warm-up"
"""A path under each service answered ``204`` at once and not counted (opens connections)."""

_SERVICES: web.AppKey[dict[str, ReplayedService]] = web.AppKey("services")


class ReplayedService:
    """One service's state: its outcome drawer, its timeline and the hits it received."""

    __slots__ = ("_attempts", "_drawer", "_duration", "_started_at", "hits", "hits_by_window", "statuses")

    def __init__(self, profile: Profile, seed: int) -> None:
        self._drawer = OutcomeDrawer(profile, seed)
        self._attempts: collections.Counter[int] = collections.Counter()
        self._started_at: float | None = None
        self._duration = 1.0
        self.hits = 0
        """Requests received (every attempt that reached the server)."""
        self.hits_by_window: collections.Counter[str] = collections.Counter()
        """Requests received per timeline window."""
        self.statuses: collections.Counter[int] = collections.Counter()
        """Requests received per status answered."""

    def start_timeline(self, started_at: float, duration: float) -> None:
        """Start the run's timeline at loop time ``started_at``; it lasts ``duration`` seconds."""
        self._started_at = started_at
        self._duration = duration

    async def handle(self, now: float, call: int, call_window: str) -> web.Response:
        """Draw the outcome of this attempt of ``call``, wait its latency and answer it.

        The hit is counted in ``call_window``, the window its call was due in (the client says
        which), so a retry sent after an incident still counts as load caused by that incident.
        """
        position = 0.0 if self._started_at is None else (now - self._started_at) / self._duration
        self._attempts[call] += 1
        outcome = self._drawer.draw(position, call, self._attempts[call])
        self.hits += 1
        self.hits_by_window[call_window] += 1
        self.statuses[outcome.status] += 1
        if outcome.latency > 0:
            await asyncio.sleep(outcome.latency)
        headers = {}
        if outcome.retry_after is not None:
            headers[Header.RETRY_AFTER] = f"{outcome.retry_after:g}"
        return web.Response(status=outcome.status, body=b"ok", headers=headers)


async def _item(request: web.Request) -> web.Response:
    service = request.app[_SERVICES].get(request.match_info["service"])
    if service is None:
        raise web.HTTPNotFound()
    try:
        call = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    window = request.headers.get(WINDOW_HEADER, STEADY)
    return await service.handle(asyncio.get_running_loop().time(), call, window)


async def _warm_up(_request: web.Request) -> web.Response:
    return web.Response(status=204)


class LabServer:
    """The running server; :meth:`endpoint` gives the base URL of a service."""

    __slots__ = ("_port",)

    def __init__(self, port: int) -> None:
        self._port = port

    @property
    def port(self) -> int:
        """The TCP port the server listens on (on 127.0.0.1)."""
        return self._port

    def endpoint(self, service: str) -> yarl.URL:
        """``http://127.0.0.1:{port}/{service}/``; requests go to ``items/{id}`` under it."""
        return yarl.URL.build(scheme="http", host="127.0.0.1", port=self._port, path=f"/{service}/")


@asynccontextmanager
async def serve(services: dict[str, ReplayedService]) -> AsyncIterator[LabServer]:
    """Serve ``services`` on 127.0.0.1 (a free port) until the block exits, then stop and await."""
    app = web.Application(middlewares=[aiohttp_middleware_factory(event_hub=EventHub())])
    app[_SERVICES] = services
    app.router.add_get("/{service}/items/{id}", _item)
    app.router.add_get("/{service}/warm-up", _warm_up)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port = runner.addresses[0][1]
        yield LabServer(port)
    finally:
        await runner.cleanup()
