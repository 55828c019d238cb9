"""End to end on loopback: services A → B → C (aiohttp, Starlette and FastAPI mixed).

Each service is the framework's app with the library's middleware and one route, ``/hop``, whose
logic calls the next service with an ``aio_request`` client: the deadline and priority travel in
the headers, the middleware puts them in the context and the client takes them from there.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import fastapi
import pytest
import yarl
from aiohttp import web
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import aio_request
from aio_request.http.context import get_context, set_context
from aio_request.http.deadline import Deadline
from aio_request.server.aiohttp import aiohttp_middleware_factory
from aio_request.server.asgi import AsgiMiddleware

from .servers import run_aiohttp, run_uvicorn

Gone = Callable[[], Awaitable[None]]
"""Returns (or is cancelled) when the caller of the current request has gone away."""
Logic = Callable[[Mapping[str, str], Gone], Awaitable[dict[str, Any]]]


@contextlib.asynccontextmanager
async def serve(framework: str, logic: Logic, **options: Any) -> AsyncIterator[yarl.URL]:
    """Serve ``logic`` at ``/hop`` with ``framework`` and the library's middleware."""
    if framework == "aiohttp":

        async def handler(request: web.Request) -> web.Response:
            async def gone() -> None:
                await asyncio.sleep(30)  # handler_cancellation cancels it when the client leaves

            return web.json_response(await logic(request.headers, gone))

        app = web.Application(middlewares=[aiohttp_middleware_factory(**options)])
        app.router.add_get("/hop", handler)
        async with run_aiohttp(app, handler_cancellation=True) as base:
            yield base
        return

    async def wait_for_disconnect(request: Request) -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    if framework == "starlette":

        async def endpoint(request: Request) -> JSONResponse:
            return JSONResponse(await logic(request.headers, lambda: wait_for_disconnect(request)))

        asgi_app: Any = Starlette(
            routes=[Route("/hop", endpoint)], middleware=[Middleware(AsgiMiddleware, **options)]
        )
    else:
        asgi_app = fastapi.FastAPI()
        asgi_app.add_middleware(AsgiMiddleware, **options)

        @asgi_app.get("/hop")
        async def hop(request: fastapi.Request) -> dict[str, Any]:
            return await logic(request.headers, lambda: wait_for_disconnect(request))

    async with run_uvicorn(asgi_app) as base:
        yield base


def _client(session: aiohttp.ClientSession, base: yarl.URL, **options: Any) -> aio_request.Client:
    return aio_request.setup(transport=aio_request.AioHttpTransport(session), endpoint=base, **options)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _seen(headers: Mapping[str, str]) -> dict[str, Any]:
    context = get_context()
    assert context.deadline is not None
    return {
        "header_timeout": float(headers["X-Request-Timeout"]),
        "header_priority": headers.get("X-Request-Priority"),
        "context_timeout": context.deadline.timeout,
        "context_priority": context.priority,
    }


@pytest.mark.parametrize(
    "frameworks", [("starlette", "aiohttp", "fastapi"), ("aiohttp", "fastapi", "starlette")], ids="-".join
)
async def test_the_deadline_shrinks_and_the_priority_arrives_at_every_hop(
    session: aiohttp.ClientSession, frameworks: tuple[str, str, str]
) -> None:
    a_framework, b_framework, c_framework = frameworks

    async def c_logic(headers: Mapping[str, str], gone: Gone) -> dict[str, Any]:
        return _seen(headers)

    def forwarding(next_base: yarl.URL) -> Logic:
        async def logic(headers: Mapping[str, str], gone: Gone) -> dict[str, Any]:
            seen = _seen(headers)
            await asyncio.sleep(0.05)  # some work before the downstream call
            async with _client(session, next_base).request(aio_request.get("hop")) as response:
                assert response.status == 200
                return {**seen, "downstream": await response.json()}

        return logic

    async with (
        serve(c_framework, c_logic) as c_base,
        serve(b_framework, forwarding(c_base)) as b_base,
        serve(a_framework, forwarding(b_base)) as a_base,
    ):
        headers = {"X-Request-Timeout": "3", "X-Request-Priority": "high"}
        async with session.get(a_base / "hop", headers=headers) as response:
            assert response.status == 200
            a = await response.json()
    b = a["downstream"]
    c = b["downstream"]
    assert a["header_timeout"] == 3
    assert c["header_timeout"] < b["header_timeout"] < a["header_timeout"]
    assert b["header_timeout"] <= 3 - 0.05
    assert c["header_timeout"] <= b["header_timeout"] - 0.05
    assert 0 < c["context_timeout"] <= c["header_timeout"]
    # Each hop's client sends its own priority (NORMAL), normalised against the inherited one.
    assert [hop["header_priority"] for hop in (a, b, c)] == ["high", "normal", "normal"]
    assert [hop["context_priority"] for hop in (a, b, c)] == ["high", "normal", "normal"]


@pytest.mark.parametrize("frameworks", [("aiohttp", "starlette"), ("fastapi", "aiohttp")], ids="-".join)
async def test_cancel_on_timeout_cancels_the_downstream_call_too(
    session: aiohttp.ClientSession, frameworks: tuple[str, str]
) -> None:
    """B's handler outlives its deadline on purpose (it calls C with a 10 s deadline of its own):
    only B's middleware cancelling it at 0.5 s can make C see its request go away that early."""
    b_framework, c_framework = frameworks
    loop = asyncio.get_running_loop()
    c_entered = asyncio.Event()
    c_left = asyncio.Event()
    timings: dict[str, float] = {}

    async def c_logic(headers: Mapping[str, str], gone: Gone) -> dict[str, Any]:
        c_entered.set()
        try:
            await gone()
        finally:
            timings["c_gone"] = loop.time()
            c_left.set()
        return {}

    def b_logic(c_base: yarl.URL) -> Logic:
        async def logic(headers: Mapping[str, str], gone: Gone) -> dict[str, Any]:
            client = _client(session, c_base, timeout=10)
            with set_context(deadline=Deadline.from_timeout(10)):
                request = client.request(
                    aio_request.get("hop"), strategy=aio_request.single_attempt_strategy()
                )
                async with request as response:
                    return {"status": response.status}

        return logic

    async with (
        serve(c_framework, c_logic) as c_base,
        serve(b_framework, b_logic(c_base), cancel_on_timeout=True) as b_base,
    ):
        timings["start"] = loop.time()
        async with session.get(b_base / "hop", headers={"X-Request-Timeout": "0.5"}) as response:
            timings["b_answered"] = loop.time()
            assert response.status == 408
            assert response.headers["X-Do-Not-Retry"] == "1"
        await asyncio.wait_for(c_left.wait(), 5)
    assert c_entered.is_set()
    assert 0.4 < timings["b_answered"] - timings["start"] < 3
    assert 0.4 < timings["c_gone"] - timings["start"] < 3


@pytest.mark.parametrize("b_framework", ["aiohttp", "starlette"])
async def test_without_cancel_on_timeout_the_handler_runs_on_with_the_shrinking_deadline(
    session: aiohttp.ClientSession, b_framework: str
) -> None:
    """B is not cancelled at its deadline: a call made in time carries what is left; one made
    after the deadline is answered 408 by B's own client and never reaches C."""
    c_calls: list[float] = []

    async def c_logic(headers: Mapping[str, str], gone: Gone) -> dict[str, Any]:
        c_calls.append(float(headers["X-Request-Timeout"]))
        return {}

    def b_logic(c_base: yarl.URL) -> Logic:
        async def logic(headers: Mapping[str, str], gone: Gone) -> dict[str, Any]:
            client = _client(session, c_base)
            statuses = []
            await asyncio.sleep(0.1)
            async with client.request(aio_request.get("hop")) as response:
                statuses.append(response.status)
            await asyncio.sleep(0.5)
            async with client.request(aio_request.get("hop")) as response:
                statuses.append(response.status)
            return {"statuses": statuses}

        return logic

    async with (
        serve("fastapi", c_logic) as c_base,
        serve(b_framework, b_logic(c_base)) as b_base,
        session.get(b_base / "hop", headers={"X-Request-Timeout": "0.4"}) as response,
    ):
        assert response.status == 200
        data = await response.json()
    assert data == {"statuses": [200, 408]}
    assert len(c_calls) == 1
    assert 0.05 < c_calls[0] <= 0.3
