"""Overload protection in both middlewares, against real loopback servers (aiohttp, uvicorn)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aiohttp
import pytest
import yarl
from aiohttp import web
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import aio_request
from aio_request.events import Event, EventHub, OverloadShed
from aio_request.server.overload import FixedLimit, OverloadProtection, ServiceTimes

from .servers import run_aiohttp, run_uvicorn


@dataclass
class Handlers:
    """``/work`` waits for ``gate`` (counting runs); ``/fast`` answers at once; ``/health`` too."""

    gate: asyncio.Event = field(default_factory=asyncio.Event)
    runs: int = 0
    started: asyncio.Event = field(default_factory=asyncio.Event)

    async def work(self) -> str:
        self.runs += 1
        self.started.set()
        await self.gate.wait()
        return "done"


def aiohttp_app(handlers: Handlers, protection: OverloadProtection) -> web.Application:
    async def work(request: web.Request) -> web.Response:
        return web.Response(text=await handlers.work())

    async def fast(request: web.Request) -> web.Response:
        handlers.runs += 1
        return web.Response(text="fast")

    app = web.Application(
        middlewares=[aio_request.aiohttp_middleware_factory(overload_protection=protection)]
    )
    app.router.add_route("*", "/work", work)
    app.router.add_get("/fast", fast)
    app.router.add_get("/health", fast)
    return app


def starlette_app(handlers: Handlers, protection: OverloadProtection) -> aio_request.AsgiMiddleware:
    async def work(request: StarletteRequest) -> PlainTextResponse:
        return PlainTextResponse(await handlers.work())

    async def fast(request: StarletteRequest) -> PlainTextResponse:
        handlers.runs += 1
        return PlainTextResponse("fast")

    app = Starlette(
        routes=[
            Route("/work", work, methods=["GET", "POST"]),
            Route("/fast", fast),
            Route("/health", fast),
        ]
    )
    return aio_request.AsgiMiddleware(app, overload_protection=protection)


Serve = Callable[[Handlers, OverloadProtection], contextlib.AbstractAsyncContextManager[yarl.URL]]


@contextlib.asynccontextmanager
async def serve_aiohttp(handlers: Handlers, protection: OverloadProtection) -> AsyncIterator[yarl.URL]:
    async with run_aiohttp(aiohttp_app(handlers, protection)) as url:
        yield url


@contextlib.asynccontextmanager
async def serve_uvicorn(handlers: Handlers, protection: OverloadProtection) -> AsyncIterator[yarl.URL]:
    async with run_uvicorn(starlette_app(handlers, protection)) as url:
        yield url


SERVERS = [pytest.param(serve_aiohttp, id="aiohttp"), pytest.param(serve_uvicorn, id="uvicorn")]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


async def wait_until(predicate: Callable[[], bool], timeout: float = 5) -> None:
    """Poll server-side state that has no event to wait on (the protection's counters)."""
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


@pytest.mark.parametrize("serve", SERVERS)
async def test_full_limit_and_queue_shed_with_503_retry_after_and_the_marker(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    handlers = Handlers()
    protection = OverloadProtection(limit=FixedLimit(1), max_queue_size=1, queue_interval=30, queue_target=30)
    async with serve(handlers, protection) as url:
        running = asyncio.ensure_future(session.get(url / "work"))
        await wait_until(lambda: protection.in_flight == 1)
        queued = asyncio.ensure_future(session.get(url / "work"))
        await wait_until(lambda: protection.queued == 1)
        async with session.get(url / "fast") as shed:
            assert shed.status == 503
            assert shed.headers["Retry-After"] == "1"
            assert shed.headers["X-Request-Shed"] == "queue_full"
            assert await shed.read() == b""
        async with session.get(url / "health") as health:  # not exempt here: shed too
            assert health.status == 503
        assert handlers.runs == 1
        handlers.gate.set()
        for future in (running, queued):
            response = await future
            assert response.status == 200
            assert await response.text() == "done"
            response.release()
        assert handlers.runs == 2
        assert protection.in_flight == 0


@pytest.mark.parametrize("serve", SERVERS)
async def test_exempt_paths_are_served_while_the_limit_is_full(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    handlers = Handlers()
    protection = OverloadProtection(limit=FixedLimit(1), exempt_paths=["/health"])
    async with serve(handlers, protection) as url:
        running = asyncio.ensure_future(session.get(url / "work"))
        await wait_until(lambda: protection.in_flight == 1)
        async with session.get(url / "health") as health:
            assert health.status == 200
        handlers.gate.set()
        (await running).release()


@pytest.mark.parametrize("serve", SERVERS)
async def test_too_little_time_for_the_route_is_refused_with_408_without_running(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    handlers = Handlers()
    protection = OverloadProtection(service_times=ServiceTimes(min_samples=1))
    protection.service_times.observe("/fast", 0.5)  # the route is known to take half a second
    async with serve(handlers, protection) as url:
        async with session.get(url / "fast", headers={"X-Request-Timeout": "0.2"}) as refused:
            assert refused.status == 408
            assert refused.headers["X-Do-Not-Retry"] == "1"
            assert "X-Request-Shed" not in refused.headers
        assert handlers.runs == 0
        async with session.get(url / "fast", headers={"X-Request-Timeout": "2"}) as served:
            assert served.status == 200
        assert handlers.runs == 1


@pytest.mark.parametrize("serve", SERVERS)
async def test_a_client_retries_a_shed_post_at_once(serve: Serve, session: aiohttp.ClientSession) -> None:
    handlers = Handlers()
    hub = EventHub()
    shed: list[Event] = []
    hub.subscribe(shed.append, event_types=[OverloadShed])
    protection = OverloadProtection(
        limit=FixedLimit(1), max_queue_size=1, queue_interval=30, queue_target=30, event_hub=hub
    )
    async with serve(handlers, protection) as url:
        client = aio_request.setup(transport=aio_request.AioHttpTransport(session), endpoint=str(url) + "/")
        running = asyncio.ensure_future(session.get(url / "work"))
        await wait_until(lambda: protection.in_flight == 1)
        queued = asyncio.ensure_future(session.get(url / "work"))
        await wait_until(lambda: protection.queued == 1)
        async with client.request(aio_request.post("work", b"x")) as response:
            assert response.status == 503
        assert len(shed) == 2, "the POST was sent twice, and shed twice"
        handlers.gate.set()
        for future in (running, queued):
            (await future).release()
        async with client.request(aio_request.post("work", b"x")) as response:
            assert response.status == 200


class CountingLimit(FixedLimit):
    """A fixed limit that records the samples it is told of."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.samples: list[tuple[float, int, bool]] = []

    def on_sample(self, *, rtt: float, in_flight: int, dropped: bool) -> None:
        self.samples.append((rtt, in_flight, dropped))


async def test_a_client_that_goes_away_frees_its_slot_without_teaching_the_limit(
    session: aiohttp.ClientSession,
) -> None:
    handlers = Handlers()
    limit = CountingLimit(1)
    protection = OverloadProtection(limit=limit)
    app = aiohttp_app(handlers, protection)
    async with run_aiohttp(app, handler_cancellation=True) as url:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await session.get(url / "work")
        await wait_until(lambda: protection.in_flight == 0)
        assert limit.samples == []
        async with session.get(url / "fast") as response:
            assert response.status == 200
        assert len(limit.samples) == 1


@pytest.mark.parametrize("kind", ["aiohttp", "uvicorn"])
async def test_cancel_on_timeout_answers_408_and_frees_the_slot(
    kind: str, session: aiohttp.ClientSession
) -> None:
    handlers = Handlers()
    protection = OverloadProtection(limit=FixedLimit(1))
    if kind == "aiohttp":

        async def work(request: web.Request) -> web.Response:
            return web.Response(text=await handlers.work())

        app = web.Application(
            middlewares=[
                aio_request.aiohttp_middleware_factory(overload_protection=protection, cancel_on_timeout=True)
            ]
        )
        app.router.add_get("/work", work)
        server = run_aiohttp(app)
    else:

        async def endpoint(request: StarletteRequest) -> PlainTextResponse:
            return PlainTextResponse(await handlers.work())

        server = run_uvicorn(
            aio_request.AsgiMiddleware(
                Starlette(routes=[Route("/work", endpoint)]),
                overload_protection=protection,
                cancel_on_timeout=True,
            )
        )
    async with server as url:
        async with session.get(url / "work", headers={"X-Request-Timeout": "0.2"}) as response:
            assert response.status == 408
        await wait_until(lambda: protection.in_flight == 0)
        handlers.gate.set()
        async with session.get(url / "work") as response:
            assert response.status == 200
