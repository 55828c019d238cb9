"""Arbitrary header bytes against both middlewares on real servers: never a 500, never unbounded.

Each server runs in its own thread and loop for the whole module, so hypothesis can drive it
with plain blocking requests (:func:`raw_request` sends the bytes exactly as generated).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
import yarl
from aiohttp import web
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from aio_request.http.context import get_context
from aio_request.http.priority import Priority
from aio_request.server.aiohttp import aiohttp_middleware_factory, aiohttp_timeout
from aio_request.server.asgi import AsgiMiddleware, asgi_timeout

from .servers import raw_request, run_aiohttp, run_uvicorn, serve_in_thread

SERVER_TIMEOUT = 5.0
ROUTE_TIMEOUT = 2.0
# A caller's header takes priority over a route's shorter timeout, capped at max_timeout (= timeout).
LIMITS = {"/": SERVER_TIMEOUT, "/route": SERVER_TIMEOUT}

Seen = list[tuple[float, Priority | None]]


def _record(seen: Seen) -> str:
    context = get_context()
    assert context.deadline is not None
    seen.append((context.deadline.timeout, context.priority))
    return "ok"


def _aiohttp_app(seen: Seen) -> web.Application:
    async def default(request: web.Request) -> web.Response:
        return web.Response(text=_record(seen))

    @aiohttp_timeout(seconds=ROUTE_TIMEOUT)
    async def route(request: web.Request) -> web.Response:
        return web.Response(text=_record(seen))

    app = web.Application(middlewares=[aiohttp_middleware_factory(timeout=SERVER_TIMEOUT)])
    app.router.add_get("/", default)
    app.router.add_get("/route", route)
    return app


def _starlette_app(seen: Seen) -> Starlette:
    async def default(request: Request) -> PlainTextResponse:
        return PlainTextResponse(_record(seen))

    @asgi_timeout(seconds=ROUTE_TIMEOUT)
    async def route(request: Request) -> PlainTextResponse:
        return PlainTextResponse(_record(seen))

    return Starlette(
        routes=[Route("/", default), Route("/route", route)],
        middleware=[Middleware(AsgiMiddleware, timeout=SERVER_TIMEOUT)],
    )


@pytest.fixture(scope="module", params=["aiohttp", "starlette"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[yarl.URL, Seen]]:
    seen: Seen = []
    if request.param == "aiohttp":
        with serve_in_thread(lambda: run_aiohttp(_aiohttp_app(seen))) as base:
            yield base, seen
    else:
        with serve_in_thread(lambda: run_uvicorn(_starlette_app(seen))) as base:
            yield base, seen


_NASTY = [
    b"inf",
    b"-inf",
    b"Infinity",
    b"nan",
    b"-nan",
    b"1e308",
    b"1e999",
    b"9" * 4000,
    b"0" * 4000 + b"1",
    b"-0",
    b"0",
    b"-1",
    b"1_000",
    b" 1 ",
    b"\xd9\xa1",  # ARABIC-INDIC DIGIT ONE in UTF-8
    b"\xef\xbc\x91",  # FULLWIDTH DIGIT ONE in UTF-8
    b"0x10",
    b"1,2,,",
    b"4.98",
    b"",
    b"HIGH",
    b" low ",
    b"\xff\xfe",
]
_value = st.one_of(
    st.sampled_from(_NASTY),
    st.binary(max_size=48).filter(lambda b: b"\r" not in b and b"\n" not in b),
    st.text(max_size=40).map(lambda t: t.encode("utf-8")).filter(lambda b: b"\r" not in b and b"\n" not in b),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda f: repr(f).encode()),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    timeouts=st.lists(_value, max_size=3),
    priorities=st.lists(_value, max_size=2),
    names=st.lists(_value, max_size=1),
    path=st.sampled_from(sorted(LIMITS)),
)
def test_hostile_headers_never_cause_a_500_or_an_unbounded_deadline(
    server: tuple[yarl.URL, Seen],
    timeouts: list[bytes],
    priorities: list[bytes],
    names: list[bytes],
    path: str,
) -> None:
    base, seen = server
    before = len(seen)
    headers = [(b"X-Request-Timeout", v) for v in timeouts]
    headers += [(b"X-Request-Priority", v) for v in priorities]
    headers += [(b"X-Service-Name", v) for v in names]
    status, response_headers, _body = raw_request(base, path, headers)
    event(f"status {status}")
    assert status < 500
    if status == 200:
        assert len(seen) == before + 1
        timeout, priority = seen[-1]
        assert math.isfinite(timeout)
        assert 0 <= timeout <= LIMITS[path]
        assert isinstance(priority, Priority)
    elif status == 408:
        assert len(seen) == before, "a spent deadline must not run the handler"
        assert response_headers["x-do-not-retry"] == "1"
    else:
        assert status == 400, "only the HTTP parser may refuse a request"
        assert len(seen) == before


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"inf", "capped"),
        (b"1e308", "capped"),
        (b"9" * 4000, "default"),
        (b"nan", 408),
        (b"-1", 408),
        (b"0", 408),
        (b"1_000", "default"),
        (b"\xd9\xa1", "default"),
    ],
)
def test_named_hostile_timeouts(server: tuple[yarl.URL, Seen], value: bytes, expected: Any) -> None:
    """The cases the issue names, one by one: capped, ignored (server default) or expired."""
    base, seen = server
    status, _headers, _body = raw_request(base, "/", [(b"X-Request-Timeout", value)])
    if expected == 408:
        assert status == 408
        return
    assert status == 200
    timeout, _priority = seen[-1]
    assert SERVER_TIMEOUT - 0.5 < timeout <= SERVER_TIMEOUT
