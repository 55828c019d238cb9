"""``aiohttp_middleware_factory`` and ``aiohttp_timeout`` on a real aiohttp server on loopback."""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import yarl
from aiohttp import web

from aio_request.events import Event, EventHub, ServerRequestFinished
from aio_request.http.context import get_context
from aio_request.http.priority import Priority
from aio_request.server.aiohttp import aiohttp_middleware_factory, aiohttp_timeout
from aio_request.testing import FakeClock

from .servers import Recorder, run_aiohttp


async def _context(request: web.Request) -> web.Response:
    context = get_context()
    assert context.deadline is not None
    return web.json_response({"timeout": context.deadline.timeout, "priority": context.priority})


@aiohttp_timeout(seconds=3)
async def _slow_route(request: web.Request) -> web.Response:
    return await _context(request)


class _View(web.View):
    @aiohttp_timeout(seconds=3)
    async def get(self) -> web.Response:
        return await _context(self.request)

    async def post(self) -> web.Response:
        return await _context(self.request)


@aiohttp_timeout(seconds=4)
class _ClassTimeoutView(web.View):
    async def get(self) -> web.Response:
        return await _context(self.request)


def _app(**options: Any) -> web.Application:
    app = web.Application(middlewares=[aiohttp_middleware_factory(**options)])
    app.router.add_get("/context", _context)
    app.router.add_get("/slow", _slow_route)
    app.router.add_view("/view", _View)
    app.router.add_view("/class-view", _ClassTimeoutView)
    return app


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


async def test_the_handler_sees_the_callers_deadline_and_priority(session: aiohttp.ClientSession) -> None:
    async with run_aiohttp(_app(timeout=7)) as base:
        data = await _get_json(
            session, base / "context", {"X-Request-Timeout": "2.5", "X-Request-Priority": "HIGH"}
        )
    assert 2.0 < data["timeout"] <= 2.5
    assert data["priority"] == "high"


async def test_without_headers_the_middleware_defaults_apply(session: aiohttp.ClientSession) -> None:
    async with run_aiohttp(_app(timeout=7, priority=Priority.LOW)) as base:
        data = await _get_json(session, base / "context")
    assert 6.5 < data["timeout"] <= 7
    assert data["priority"] == "low"


@pytest.mark.parametrize("value", ["1000", "inf", "Infinity", "1e308", "9" * 30])
async def test_a_longer_header_is_capped_at_the_servers_timeout(
    session: aiohttp.ClientSession, value: str
) -> None:
    async with run_aiohttp(_app(timeout=7)) as base:
        data = await _get_json(session, base / "context", {"X-Request-Timeout": value})
    assert 6.5 < data["timeout"] <= 7


async def test_max_timeout_lets_callers_ask_for_more_up_to_it(session: aiohttp.ClientSession) -> None:
    async with run_aiohttp(_app(timeout=7, max_timeout=60)) as base:
        asked = await _get_json(session, base / "context", {"X-Request-Timeout": "45"})
        capped = await _get_json(session, base / "context", {"X-Request-Timeout": "inf"})
        default = await _get_json(session, base / "context")
    assert 44.5 < asked["timeout"] <= 45
    assert 59.5 < capped["timeout"] <= 60
    assert 6.5 < default["timeout"] <= 7


async def test_invalid_and_duplicate_headers(session: aiohttp.ClientSession) -> None:
    """Invalid values are ignored; of duplicates the smallest valid timeout, the lowest priority win."""
    async with run_aiohttp(_app(timeout=7)) as base:
        invalid = await _get_json(
            session, base / "context", {"X-Request-Timeout": "1_000", "X-Request-Priority": "urgent"}
        )
        async with session.get(
            base / "context",
            headers=[
                ("X-Request-Timeout", "5"),
                ("X-Request-Timeout", "abc"),
                ("X-Request-Timeout", "2"),
                ("X-Request-Priority", "high"),
                ("X-Request-Priority", "low"),
            ],
        ) as response:
            duplicated = await response.json()
    assert 6.5 < invalid["timeout"] <= 7
    assert invalid["priority"] == "normal"
    assert 1.5 < duplicated["timeout"] <= 2
    assert duplicated["priority"] == "low"


async def test_aiohttp_timeout_is_the_default_and_the_callers_header_takes_priority(
    session: aiohttp.ClientSession,
) -> None:
    async with run_aiohttp(_app(timeout=7)) as base:
        default = await _get_json(session, base / "slow")
        longer = await _get_json(session, base / "slow", {"X-Request-Timeout": "5"})
        capped = await _get_json(session, base / "slow", {"X-Request-Timeout": "10"})
        shorter = await _get_json(session, base / "slow", {"X-Request-Timeout": "1"})
    assert 2.5 < default["timeout"] <= 3
    assert 4.5 < longer["timeout"] <= 5, "the caller's header wins over the route's 3 s"
    assert 6.5 < capped["timeout"] <= 7, "capped at max_timeout, which defaults to timeout"
    assert 0.5 < shorter["timeout"] <= 1


async def test_aiohttp_timeout_on_view_methods_and_classes(session: aiohttp.ClientSession) -> None:
    async with run_aiohttp(_app(timeout=7)) as base:
        decorated = await _get_json(session, base / "view")
        undecorated = await _get_json(session, base / "view", method="POST")
        whole_class = await _get_json(session, base / "class-view")
    assert 2.5 < decorated["timeout"] <= 3
    assert 6.5 < undecorated["timeout"] <= 7
    assert 3.5 < whole_class["timeout"] <= 4


@pytest.mark.parametrize("value", ["0", "-1", "nan", "NaN", "-inf", "0.001", "1e-9"])
async def test_a_spent_deadline_is_answered_408_without_running_the_handler(
    session: aiohttp.ClientSession, value: str
) -> None:
    calls = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return web.Response()

    app = web.Application(middlewares=[aiohttp_middleware_factory()])
    app.router.add_get("/", handler)
    async with run_aiohttp(app) as base, session.get(base, headers={"X-Request-Timeout": value}) as response:
        assert response.status == 408
        assert response.headers["X-Do-Not-Retry"] == "1"
    assert calls == 0


async def test_cancel_on_timeout_cancels_the_handler_and_answers_408(session: aiohttp.ClientSession) -> None:
    cancelled = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return web.Response()

    recorder = Recorder()
    app = web.Application(
        middlewares=[aiohttp_middleware_factory(cancel_on_timeout=True, event_hub=recorder.hub)]
    )
    app.router.add_get("/sleep", handler)
    loop = asyncio.get_running_loop()
    async with run_aiohttp(app) as base:
        started = loop.time()
        async with session.get(base / "sleep", headers={"X-Request-Timeout": "0.3"}) as response:
            elapsed = loop.time() - started
            assert response.status == 408
            assert response.headers["X-Do-Not-Retry"] == "1"
    assert cancelled.is_set()
    assert 0.25 < elapsed < 2
    [event] = await recorder.wait_for(1)
    assert isinstance(event, ServerRequestFinished)
    assert (event.route, event.status) == ("/sleep", 408)


async def test_cancel_on_timeout_leaves_the_handlers_own_timeout_error_alone(
    session: aiohttp.ClientSession,
) -> None:
    async def handler(request: web.Request) -> web.Response:
        raise TimeoutError("the handler's own")

    recorder = Recorder()
    app = web.Application(
        middlewares=[aiohttp_middleware_factory(cancel_on_timeout=True, event_hub=recorder.hub)]
    )
    app.router.add_get("/", handler)
    async with run_aiohttp(app) as base, session.get(base) as response:
        assert response.status == 504  # aiohttp's answer to a TimeoutError, not our 408
    assert [e.status for e in recorder.events] == [504]


async def test_without_cancel_on_timeout_the_handler_runs_on(session: aiohttp.ClientSession) -> None:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(0.4)
        deadline = get_context().deadline
        assert deadline is not None
        return web.json_response({"expired": deadline.expired, "timeout": deadline.timeout})

    app = web.Application(middlewares=[aiohttp_middleware_factory()])
    app.router.add_get("/", handler)
    async with run_aiohttp(app) as base:
        data = await _get_json(session, base, {"X-Request-Timeout": "0.2"})
    assert data == {"expired": True, "timeout": 0.0}


async def test_events_carry_route_template_method_status_client_and_duration(
    session: aiohttp.ClientSession,
) -> None:
    async def item(request: web.Request) -> web.Response:
        await asyncio.sleep(0.05)
        return web.Response(status=201)

    async def missing(request: web.Request) -> web.Response:
        raise web.HTTPNotFound()

    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("boom")

    recorder = Recorder()
    app = web.Application(middlewares=[aiohttp_middleware_factory(event_hub=recorder.hub)])
    app.router.add_post("/items/{item_id}", item)
    app.router.add_get("/missing", missing)
    app.router.add_get("/broken", broken)
    sub = web.Application()
    sub.router.add_get("/users/{user_id}", item)
    app.add_subapp("/api", sub)
    async with run_aiohttp(app) as base:
        statuses = []
        for method, path, headers in [
            ("POST", "/items/42", {"X-Service-Name": "svc-a"}),
            ("GET", "/missing", {}),
            ("GET", "/broken", {"X-Service-Name": "x" * 100}),
            ("GET", "/no/such/path/123", {}),
            ("GET", "/api/users/7", {"X-Service-Name": " svc-b "}),
            ("GET", "/items/42", {}),
        ]:
            async with session.request(method, base.with_path(path), headers=headers) as response:
                statuses.append(response.status)
        events = await recorder.wait_for(6)
    assert statuses == [201, 404, 500, 404, 201, 405]
    assert [(e.route, e.method, e.status, e.client) for e in events] == [
        ("/items/{item_id}", "POST", 201, "svc-a"),
        ("/missing", "GET", 404, ""),
        ("/broken", "GET", 500, ""),
        ("<unmatched>", "GET", 404, ""),
        ("/api/users/{user_id}", "GET", 201, "svc-b"),
        ("<unmatched>", "GET", 405, ""),
    ]
    assert events[0].duration >= 0.05
    assert all(0 <= e.duration < 5 for e in events)


async def test_an_early_408_is_recorded_with_its_route(session: aiohttp.ClientSession) -> None:
    recorder = Recorder()
    app = web.Application(
        middlewares=[aiohttp_middleware_factory(event_hub=recorder.hub, client_header_name="X-Caller")]
    )
    app.router.add_get("/items/{item_id}", _context)
    async with run_aiohttp(app) as base:
        headers = {"X-Request-Timeout": "0", "X-Caller": "svc-c", "X-Service-Name": "ignored"}
        async with session.get(base / "items" / "1", headers=headers) as response:
            assert response.status == 408
        [event] = await recorder.wait_for(1)
    assert isinstance(event, ServerRequestFinished)
    assert (event.route, event.status, event.client) == ("/items/{item_id}", 408, "svc-c")


async def test_a_client_that_goes_away_is_recorded_as_499() -> None:
    handler_started = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        handler_started.set()
        await asyncio.sleep(10)
        return web.Response()

    recorder = Recorder()
    app = web.Application(middlewares=[aiohttp_middleware_factory(event_hub=recorder.hub)])
    app.router.add_get("/wait", handler)
    async with run_aiohttp(app, handler_cancellation=True) as base:
        assert base.host is not None
        assert base.port is not None
        _reader, writer = await asyncio.open_connection(base.host, base.port)
        writer.write(b"GET /wait HTTP/1.1\r\nHost: x\r\nX-Service-Name: gone\r\n\r\n")
        await writer.drain()
        await asyncio.wait_for(handler_started.wait(), 5)
        writer.close()
        await writer.wait_closed()
        [event] = await recorder.wait_for(1)
    assert isinstance(event, ServerRequestFinished)
    assert (event.route, event.status, event.client) == ("/wait", 499, "gone")


async def test_no_listener_means_no_event_is_built(session: aiohttp.ClientSession) -> None:
    class _Hub(EventHub):
        def emit(self, event: Event) -> None:
            raise AssertionError("emit called without listeners")

    async with run_aiohttp(_app(event_hub=_Hub())) as base:
        await _get_json(session, base / "context")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timeout": -1}, "timeout must be a finite number > 0, got -1"),
        ({"timeout": 0}, "timeout must be a finite number > 0, got 0"),
        ({"timeout": math.inf}, "timeout must be a finite number > 0, got inf"),
        ({"timeout": math.nan}, "timeout must be a finite number > 0, got nan"),
        ({"priority": "urgent"}, "priority must be a Priority (high, normal or low), got 'urgent'"),
        ({"low_timeout_threshold": -0.1}, "low_timeout_threshold must be a finite number >= 0, got -0.1"),
        ({"timeout": 1, "low_timeout_threshold": 1}, "low_timeout_threshold must be < timeout (1.0), got 1"),
        ({"client_header_name": ""}, "client_header_name must be a non-empty HTTP header name, got ''"),
        (
            {"client_header_name": "X Bad"},
            "client_header_name must be a non-empty HTTP header name, got 'X Bad'",
        ),
        ({"cancel_on_timeout": "yes"}, "cancel_on_timeout must be a bool, got 'yes'"),
        ({"max_timeout": 0}, "max_timeout must be a finite number > 0, got 0"),
        ({"timeout": 10, "max_timeout": 5}, "max_timeout must be >= timeout (10.0), got 5"),
        ({"event_hub": object()}, "event_hub must be an EventHub, got <object object"),
    ],
)
def test_invalid_options_raise_value_error_naming_them(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        aiohttp_middleware_factory(**options)


def test_priority_may_be_given_as_a_string() -> None:
    aiohttp_middleware_factory(priority="HIGH")  # type: ignore[arg-type]


@pytest.mark.parametrize("seconds", [0, -1, math.inf, math.nan])
def test_aiohttp_timeout_validates_seconds(seconds: float) -> None:
    with pytest.raises(ValueError, match="seconds must be a finite number > 0"):
        aiohttp_timeout(seconds=seconds)


async def test_the_deadline_and_the_recorded_duration_use_the_injected_clock(
    session: aiohttp.ClientSession,
) -> None:
    """With a fake clock the handler's deadline is exactly the header, and the recorded duration
    exactly the fake time the handler let pass."""
    clock = FakeClock(start=50.0)
    recorder = Recorder()

    async def handler(request: web.Request) -> web.Response:
        deadline = get_context().deadline
        assert deadline is not None
        before = deadline.timeout
        await clock.advance(0.75)
        return web.json_response({"before": before, "after": deadline.timeout})

    app = web.Application(middlewares=[aiohttp_middleware_factory(clock=clock, event_hub=recorder.hub)])
    app.router.add_get("/timed", handler)
    async with run_aiohttp(app) as base:
        data = await _get_json(session, base / "timed", {"X-Request-Timeout": "2.5"})
        (event,) = await recorder.wait_for(1)
    assert data == {"before": 2.5, "after": 1.75}
    assert event.duration == 0.75
