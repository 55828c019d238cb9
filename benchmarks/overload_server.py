"""A CPU-bound aiohttp server for ``overload.py``, run in its own process.

``python overload_server.py PORT_FILE on|off`` serves:

* ``GET /work``: about ``10 ms x factor`` of CPU in 1 ms slices, yielding to the event loop
  between slices (so requests running together share the core, as in any async server whose
  handlers compute); counts the handlers that finished after their deadline;
* ``GET /control?factor=N``: multiply the handler's CPU by ``N`` (capacity divided by ``N``);
* ``GET /stats``: JSON with the limit, in flight, handled and past-deadline counts.

With ``on`` the middleware has ``OverloadProtection`` (``/control`` and ``/stats`` exempt);
with ``off`` it is the same middleware without it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import aiohttp.web

import aio_request
from aio_request.events import EventHub

SLICES = 10


def calibrate() -> int:
    """Loop iterations that take about one millisecond of CPU here."""
    iterations = 20_000
    while True:
        started = time.process_time()
        burn(iterations)
        spent = time.process_time() - started
        if spent > 0.05:
            return max(1, int(iterations * 0.001 / spent))
        iterations *= 2


def burn(iterations: int) -> int:
    total = 0
    for i in range(iterations):
        total += i
    return total


class State:
    def __init__(self, per_ms: int, protection: aio_request.OverloadProtection | None) -> None:
        self.per_ms = per_ms
        self.factor = 1
        self.handled = 0
        self.past_deadline = 0
        self.protection = protection
        self.lags: list[float] = []

    async def watch_lag(self) -> None:
        """Sample how late a 1 ms timer fires: the event loop's lag."""
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.001)
            self.lags.append(time.perf_counter() - started - 0.001)

    async def work(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        deadline = aio_request.get_context().deadline
        for _ in range(SLICES * self.factor):
            burn(self.per_ms)
            await asyncio.sleep(0)
        self.handled += 1
        if deadline is not None and deadline.expired:
            self.past_deadline += 1
        return aiohttp.web.Response(text="ok")

    async def control(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        self.factor = int(request.query["factor"])
        return aiohttp.web.Response(text="ok")

    async def stats(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        protection = self.protection
        body = {
            "limit": protection.limit if protection else None,
            "in_flight": protection.in_flight if protection else None,
            "handled": self.handled,
            "past_deadline": self.past_deadline,
            "cpu": time.process_time(),
            "lag_p50": sorted(self.lags)[len(self.lags) // 2] if self.lags else None,
            "lag_p99": sorted(self.lags)[int(len(self.lags) * 0.99)] if self.lags else None,
        }
        if request.query.get("reset"):
            self.lags.clear()
        return aiohttp.web.Response(text=json.dumps(body))


async def serve(port_file: Path, protected: bool) -> None:
    """Serve until killed."""
    protection = (
        aio_request.OverloadProtection(exempt_paths=["/control", "/stats"], event_hub=EventHub())
        if protected
        else None
    )
    state = State(calibrate(), protection)
    middleware = aio_request.aiohttp_middleware_factory(overload_protection=protection, event_hub=EventHub())
    app = aiohttp.web.Application(middlewares=[middleware])
    app.router.add_get("/work", state.work)
    app.router.add_get("/control", state.control)
    app.router.add_get("/stats", state.stats)
    runner = aiohttp.web.AppRunner(app, access_log=None)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    port_file.write_text(str(runner.addresses[0][1]))  # noqa: ASYNC240 - once, at start-up
    await state.watch_lag()


if __name__ == "__main__":
    if len(sys.argv) > 3 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(sys.argv[3])})
    asyncio.run(serve(Path(sys.argv[1]), sys.argv[2] == "on"))
