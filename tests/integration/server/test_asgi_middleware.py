"""``AsgiMiddleware`` and ``asgi_timeout`` under uvicorn, with Starlette and with FastAPI."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import fastapi
import pytest
import yarl
from starlette.applications import Starlette
from starlette.endpoints import HTTPEndpoint
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from aio_request.http.context import get_context
from aio_request.http.priority import Priority
from aio_request.server.asgi import AsgiMiddleware, Message, Scope, asgi_timeout
from aio_request.testing import FakeClock

from .servers import Recorder, run_uvicorn

FRAMEWORKS = ("starlette", "fastapi")


class Probe:
    """What the endpoints saw: calls and cancellations."""

    def __init__(self) -> None:
        self.calls = 0
        self.cancelled = asyncio.Event()
        self.entered = asyncio.Event()


def _seen() -> dict[str, Any]:
    context = get_context()
    assert context.deadline is not None
    return {"timeout": context.deadline.timeout, "priority": context.priority}


async def _sleep_and_watch(probe: Probe, seconds: float) -> None:
    probe.calls += 1
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        probe.cancelled.set()
        raise


def _starlette_app(probe: Probe, **options: Any) -> Starlette:
    async def context(request: Request) -> JSONResponse:
        probe.calls += 1
        return JSONResponse(_seen())

    @asgi_timeout(seconds=3)
    async def slow(request: Request) -> JSONResponse:
        return JSONResponse(_seen())

    @asgi_timeout(seconds=3)
    def sync_slow(request: Request) -> JSONResponse:
        return JSONResponse(_seen())

    class Endpoint(HTTPEndpoint):
        @asgi_timeout(seconds=3)
        async def get(self, request: Request) -> JSONResponse:
            return JSONResponse(_seen())

        async def post(self, request: Request) -> JSONResponse:
            return JSONResponse(_seen())

    async def sleep(request: Request) -> Response:
        await _sleep_and_watch(probe, 10)
        return Response()

    @asgi_timeout(seconds=0.3)
    async def short_route(request: Request) -> Response:
        await _sleep_and_watch(probe, 10)
        return Response()

    @asgi_timeout(seconds=2)
    def sync_long_route(request: Request) -> JSONResponse:
        time.sleep(0.6)
        return JSONResponse(_seen())

    @asgi_timeout(seconds=0.001)
    async def tiny_route(request: Request) -> Response:
        probe.calls += 1
        return Response()

    @asgi_timeout(seconds=2)
    async def long_route(request: Request) -> JSONResponse:
        await asyncio.sleep(0.6)
        return JSONResponse(_seen())

    async def created(request: Request) -> Response:
        await asyncio.sleep(0.05)
        return Response(status_code=201)

    async def missing(request: Request) -> Response:
        raise HTTPException(status_code=404)

    async def broken(request: Request) -> Response:
        raise RuntimeError("boom")

    async def wait_for_disconnect(request: Request) -> Response:
        probe.entered.set()
        while (await request.receive())["type"] != "http.disconnect":
            pass
        return Response()

    routes = [
        Route("/context", context),
        Route("/slow", slow),
        Route("/sync-slow", sync_slow),
        Route("/endpoint", Endpoint),
        Route("/sleep", sleep),
        Route("/short-route", short_route),
        Route("/long-route", long_route),
        Route("/tiny-route", tiny_route),
        Route("/sync-long-route", sync_long_route),
        Route("/items/{item_id}", created, methods=["POST"]),
        Route("/items/{item_id}", context, methods=["GET"]),
        Route("/missing", missing),
        Route("/broken", broken),
        Route("/wait", wait_for_disconnect),
        Mount("/api", routes=[Route("/users/{user_id}", created)]),
    ]
    return Starlette(routes=routes, middleware=[Middleware(AsgiMiddleware, **options)])


def _fastapi_app(probe: Probe, **options: Any) -> fastapi.FastAPI:
    app = fastapi.FastAPI()
    app.add_middleware(AsgiMiddleware, **options)

    @app.get("/context")
    async def context() -> dict[str, Any]:
        probe.calls += 1
        return _seen()

    @app.get("/slow")
    @asgi_timeout(seconds=3)
    async def slow(q: int = 1) -> dict[str, Any]:
        return {**_seen(), "q": q}

    @app.get("/sync-slow")
    @asgi_timeout(seconds=3)
    def sync_slow(q: int) -> dict[str, Any]:
        return {**_seen(), "q": q}

    @app.get("/sleep")
    async def sleep() -> None:
        await _sleep_and_watch(probe, 10)

    @app.get("/short-route")
    @asgi_timeout(seconds=0.3)
    async def short_route() -> None:
        await _sleep_and_watch(probe, 10)

    @app.get("/sync-long-route")
    @asgi_timeout(seconds=2)
    def sync_long_route() -> dict[str, Any]:
        time.sleep(0.6)
        return _seen()

    @app.get("/tiny-route")
    @asgi_timeout(seconds=0.001)
    async def tiny_route() -> None:
        probe.calls += 1

    @app.get("/long-route")
    @asgi_timeout(seconds=2)
    async def long_route() -> dict[str, Any]:
        await asyncio.sleep(0.6)
        return _seen()

    @app.post("/items/{item_id}", status_code=201)
    async def created(item_id: int) -> None:
        await asyncio.sleep(0.05)

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, Any]:
        probe.calls += 1
        return _seen()

    @app.get("/missing")
    async def missing() -> None:
        raise fastapi.HTTPException(status_code=404)

    @app.get("/broken")
    async def broken() -> None:
        raise RuntimeError("boom")

    @app.get("/wait")
    async def wait_for_disconnect(request: fastapi.Request) -> None:
        probe.entered.set()
        while (await request.receive())["type"] != "http.disconnect":
            pass

    router = fastapi.APIRouter(prefix="/api")

    @router.get("/users/{user_id}", status_code=201)
    async def user(user_id: int) -> None:
        await asyncio.sleep(0.05)

    app.include_router(router)
    return app


AppFactory = Callable[..., Any]


@pytest.fixture(params=FRAMEWORKS)
def make_app(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Builds the test app of one framework: ``make_app(probe, **middleware_options)``."""
    return _starlette_app if request.param == "starlette" else _fastapi_app


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _get_json(
    session: aiohttp.ClientSession, url: yarl.URL, headers: dict[str, str] | None = None, method: str = "GET"
) -> dict[str, Any]:
    async with session.request(method, url, headers=headers) as response:
        assert response.status == 200, await response.text()
        data: dict[str, Any] = await response.json()
        return data


async def test_the_endpoint_sees_the_callers_deadline_and_priority(
    make_app: AppFactory, session: aiohttp.ClientSession
) -> None:
    async with run_uvicorn(make_app(Probe(), timeout=7)) as base:
        data = await _get_json(
            session, base / "context", {"X-Request-Timeout": "2.5", "X-Request-Priority": " High"}
        )
    assert 2.0 < data["timeout"] <= 2.5
    assert data["priority"] == "high"


async def test_without_headers_the_middleware_defaults_apply(
    make_app: AppFactory, session: aiohttp.ClientSession
) -> None:
    async with run_uvicorn(make_app(Probe(), timeout=7, priority=Priority.LOW)) as base:
        data = await _get_json(session, base / "context", {"X-Request-Priority": "urgent"})
    assert 6.5 < data["timeout"] <= 7
    assert data["priority"] == "low"


async def test_longer_headers_are_capped_and_max_timeout_raises_the_cap(
    make_app: AppFactory, session: aiohttp.ClientSession
) -> None:
    async with run_uvicorn(make_app(Probe(), timeout=7)) as base:
        capped = [
            (await _get_json(session, base / "context", {"X-Request-Timeout": v}))["timeout"]
            for v in ("1000", "inf", "1e308", "9" * 30)
        ]
    async with run_uvicorn(make_app(Probe(), timeout=7, max_timeout=60)) as base:
        asked = await _get_json(session, base / "context", {"X-Request-Timeout": "45"})
    assert all(6.5 < c <= 7 for c in capped), capped
    assert 44.5 < asked["timeout"] <= 45


@pytest.mark.parametrize("path", ["/slow", "/sync-slow"])
async def test_asgi_timeout_is_the_default_and_the_callers_header_takes_priority(
    make_app: AppFactory, session: aiohttp.ClientSession, path: str
) -> None:
    """Also for sync endpoints, which run in a worker thread."""
    url = yarl.URL(path).with_query(q=5)
    async with run_uvicorn(make_app(Probe(), timeout=7)) as base:
        default = await _get_json(session, base.join(url))
        longer = await _get_json(session, base.join(url), {"X-Request-Timeout": "5"})
        capped = await _get_json(session, base.join(url), {"X-Request-Timeout": "10"})
        shorter = await _get_json(
            session, base.join(url), {"X-Request-Timeout": "1", "X-Request-Priority": "low"}
        )
    assert 2.5 < default["timeout"] <= 3
    assert 4.5 < longer["timeout"] <= 5, "the caller's header wins over the route's 3 s"
    assert 6.5 < capped["timeout"] <= 7, "capped at max_timeout, which defaults to timeout"
    assert 0.5 < shorter["timeout"] <= 1
    assert shorter["priority"] == "low"


async def test_asgi_timeout_keeps_fastapis_parameter_handling(session: aiohttp.ClientSession) -> None:
    async with run_uvicorn(_fastapi_app(Probe())) as base:
        data = await _get_json(session, base.join(yarl.URL("/slow?q=42")))
        async with session.get(base / "sync-slow") as response:
            missing_status = response.status
    assert data["q"] == 42
    assert missing_status == 422


async def test_asgi_timeout_on_starlette_endpoint_methods(session: aiohttp.ClientSession) -> None:
    async with run_uvicorn(_starlette_app(Probe(), timeout=7)) as base:
        decorated = await _get_json(session, base / "endpoint")
        undecorated = await _get_json(session, base / "endpoint", method="POST")
    assert 2.5 < decorated["timeout"] <= 3
    assert 6.5 < undecorated["timeout"] <= 7


@pytest.mark.parametrize("value", ["0", "-1", "nan", "-inf", "0.001"])
async def test_a_spent_deadline_is_answered_408_without_running_the_endpoint(
    make_app: AppFactory, session: aiohttp.ClientSession, value: str
) -> None:
    probe = Probe()
    recorder = Recorder()
    async with run_uvicorn(make_app(probe, event_hub=recorder.hub)) as base:
        async with session.get(base / "items" / "7", headers={"X-Request-Timeout": value}) as response:
            assert response.status == 408
            assert response.headers["X-Do-Not-Retry"] == "1"
        [event] = await recorder.wait_for(1)
    assert probe.calls == 0
    assert (event.route, event.status) == ("/items/{item_id}", 408)


async def test_a_route_timeout_below_the_threshold_is_answered_408(
    make_app: AppFactory, session: aiohttp.ClientSession
) -> None:
    """The route's deadline is only known after routing: the wrapper refuses to run the endpoint."""
    probe = Probe()
    recorder = Recorder()
    async with run_uvicorn(make_app(probe, event_hub=recorder.hub)) as base:
        async with session.get(base / "tiny-route") as response:
            assert response.status == 408
            assert response.headers["X-Do-Not-Retry"] == "1"
        [event] = await recorder.wait_for(1)
    assert probe.calls == 0
    assert (event.route, event.status) == ("/tiny-route", 408)


async def test_cancel_on_timeout_cancels_the_endpoint_and_answers_408(
    make_app: AppFactory, session: aiohttp.ClientSession
) -> None:
    probe = Probe()
    recorder = Recorder()
    loop = asyncio.get_running_loop()
    async with run_uvicorn(make_app(probe, cancel_on_timeout=True, event_hub=recorder.hub)) as base:
        started = loop.time()
        async with session.get(base / "sleep", headers={"X-Request-Timeout": "0.3"}) as response:
            elapsed = loop.time() - started
            assert response.status == 408
            assert response.headers["X-Do-Not-Retry"] == "1"
        [event] = await recorder.wait_for(1)
    assert probe.cancelled.is_set()
    assert 0.25 < elapsed < 2
    assert (event.route, event.status) == ("/sleep", 408)


async def test_cancel_on_timeout_follows_the_routes_own_timeout(
    make_app: AppFactory, session: aiohttp.ClientSession
) -> None:
    """A shorter route timeout cancels earlier; a longer one is not cut at the middleware's, also
    for a sync endpoint, whose wrapper moves the cancellation from its worker thread."""
    probe = Probe()
    loop = asyncio.get_running_loop()
    async with run_uvicorn(make_app(probe, timeout=0.3, cancel_on_timeout=True)) as base:
        started = loop.time()
        async with session.get(base / "short-route") as response:
            short_elapsed = loop.time() - started
            assert response.status == 408
        data = await _get_json(session, base / "long-route")
        sync_data = await _get_json(session, base / "sync-long-route")
    assert probe.cancelled.is_set()
    assert 0.25 < short_elapsed < 2
    assert 1.0 < data["timeout"] <= 1.4
    assert 1.0 < sync_data["timeout"] <= 1.4


async def test_without_cancel_on_timeout_the_endpoint_runs_on(
    make_app: AppFactory, session: aiohttp.ClientSession
) -> None:
    async with run_uvicorn(make_app(Probe(), timeout=0.3)) as base:
        data = await _get_json(session, base / "long-route", {"X-Request-Timeout": "0.2"})
    assert data["timeout"] == 0.0


async def test_events_carry_route_template_method_status_client_and_duration(
    make_app: AppFactory, session: aiohttp.ClientSession
) -> None:
    recorder = Recorder()
    async with run_uvicorn(make_app(Probe(), event_hub=recorder.hub)) as base:
        statuses = []
        for method, path, headers in [
            ("POST", "/items/42", {"X-Service-Name": "svc-a"}),
            ("GET", "/missing", {}),
            ("GET", "/broken", {"X-Service-Name": "caf\u00e9"}),
            ("GET", "/no/such/path/123", {}),
            ("GET", "/api/users/7", {"X-Service-Name": "svc-b"}),
        ]:
            async with session.request(method, base.with_path(path), headers=headers) as response:
                statuses.append(response.status)
        events = await recorder.wait_for(5)
    assert statuses == [201, 404, 500, 404, 201]
    assert [(e.route, e.method, e.status, e.client) for e in events] == [
        ("/items/{item_id}", "POST", 201, "svc-a"),
        ("/missing", "GET", 404, ""),
        ("/broken", "GET", 500, ""),
        ("<unmatched>", "GET", 404, ""),
        ("/api/users/{user_id}", "GET", 201, "svc-b"),
    ]
    assert events[0].duration >= 0.05
    assert all(0 <= e.duration < 5 for e in events)


async def test_a_client_that_goes_away_is_recorded_as_499(make_app: AppFactory) -> None:
    probe = Probe()
    recorder = Recorder()
    async with run_uvicorn(make_app(probe, event_hub=recorder.hub)) as base:
        assert base.host is not None
        assert base.port is not None
        _reader, writer = await asyncio.open_connection(base.host, base.port)
        writer.write(b"GET /wait HTTP/1.1\r\nHost: x\r\nX-Service-Name: gone\r\n\r\n")
        await writer.drain()
        await asyncio.wait_for(probe.entered.wait(), 5)
        writer.close()
        await writer.wait_closed()
        [event] = await recorder.wait_for(1)
    assert (event.route, event.status, event.client) == ("/wait", 499, "gone")


async def test_other_scopes_pass_through_untouched() -> None:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Callable[[], Any], send: Callable[[Message], Any]) -> None:
        seen.append(scope)

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        raise AssertionError("nothing must be sent")

    middleware = AsgiMiddleware(app)
    for kind in ("lifespan", "websocket"):
        scope: Scope = {"type": kind, "headers": [(b"x-request-timeout", b"0")]}
        await middleware(scope, receive, send)
        assert seen[-1] is scope
    assert len(seen) == 2


async def test_asgi_timeout_outside_the_middleware_only_calls_the_endpoint() -> None:
    @asgi_timeout(seconds=1)
    async def endpoint(x: int) -> int:
        assert get_context().deadline is None
        return x * 2

    @asgi_timeout(seconds=1)
    def sync_endpoint(x: int) -> int:
        return x * 3

    assert await endpoint(2) == 4
    assert sync_endpoint(2) == 6
    assert endpoint.__name__ == "endpoint"


def test_asgi_timeout_refuses_bad_seconds_and_non_functions() -> None:
    with pytest.raises(ValueError, match="seconds must be a finite number > 0, got 0"):
        asgi_timeout(seconds=0)
    with pytest.raises(TypeError, match="asgi_timeout decorates functions"):
        asgi_timeout(seconds=1)(HTTPEndpoint)


def test_the_middleware_validates_its_options() -> None:
    async def app(scope: Scope, receive: Callable[[], Any], send: Callable[[Message], Any]) -> None:
        return None

    with pytest.raises(ValueError, match="timeout must be a finite number > 0, got -1"):
        AsgiMiddleware(app, timeout=-1)
    with pytest.raises(ValueError, match="max_timeout must be >= timeout"):
        AsgiMiddleware(app, timeout=5, max_timeout=1)


async def test_the_deadline_and_the_recorded_duration_use_the_injected_clock() -> None:
    """As on aiohttp: the deadline and the duration are measured on the middleware's clock."""
    clock = FakeClock(start=50.0)
    recorder = Recorder()

    async def handler(request: Request) -> Response:
        deadline = get_context().deadline
        assert deadline is not None
        before = deadline.timeout
        await clock.advance(0.75)
        return JSONResponse({"before": before, "after": deadline.timeout})

    app = AsgiMiddleware(Starlette(routes=[Route("/timed", handler)]), clock=clock, event_hub=recorder.hub)
    async with run_uvicorn(app) as base, aiohttp.ClientSession() as session:
        async with session.get(base / "timed", headers={"X-Request-Timeout": "2.5"}) as response:
            assert response.status == 200
            data = await response.json()
        (event,) = await recorder.wait_for(1)
    assert data == {"before": 2.5, "after": 1.75}
    assert event.duration == 0.75
