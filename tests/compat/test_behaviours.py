"""Section 4: behaviours of 0.2.9 that its own tests and its users' code rely on."""

from __future__ import annotations

import asyncio
import datetime
import decimal
import enum
import logging
import socket
import unittest.mock
import uuid
from collections.abc import AsyncIterator

import aiohttp
import httpx
import pytest
import yarl
from aiohttp import web

import aio_request
from aio_request import Deadline, Priority, get, set_context
from aio_request.testing import FakeTransport
from tests.integration.server.servers import run_aiohttp


@pytest.fixture
async def redirecting_service() -> AsyncIterator[yarl.URL]:
    async def redirect(request: web.Request) -> web.Response:
        left = int(request.match_info["n"])
        if left == 0:
            return web.json_response({"arrived": True})
        location = str(request.url.with_path(f"/absolute-redirect/{left - 1}"))
        raise web.HTTPFound(location)

    app = web.Application()
    app.router.add_get("/absolute-redirect/{n}", redirect)
    async with run_aiohttp(app) as base:
        yield base


@pytest.fixture(params=["aiohttp", "httpx"])
async def transport(request: pytest.FixtureRequest) -> AsyncIterator[aio_request.Transport]:
    if request.param == "aiohttp":
        async with aiohttp.ClientSession() as session:
            yield aio_request.AioHttpTransport(session)
    else:
        async with httpx.AsyncClient() as client:
            yield aio_request.HttpxTransport(client)


async def test_an_empty_url_requests_the_endpoint_itself(
    redirecting_service: yarl.URL, transport: aio_request.Transport
) -> None:
    endpoint = redirecting_service / "absolute-redirect" / "10"
    response = await transport.send(endpoint, get("", allow_redirects=False), 5)
    try:
        assert response.status == 302
        assert response.headers["Location"].endswith("/absolute-redirect/9")
    finally:
        await response.close()
    followed = await transport.send(redirecting_service / "absolute-redirect" / "3", get(""), 5)
    try:
        assert followed.status == 200
        assert await followed.json() == {"arrived": True}
    finally:
        await followed.close()


@pytest.mark.parametrize(
    ("endpoint", "url", "expected"),
    [
        ("http://h/api/v1/", "../admin", "http://h/api/admin"),
        ("http://h/api/v1/", "./users", "http://h/api/v1/users"),
        ("http://h/api/v1/", "../../../../etc/passwd", "http://h/etc/passwd"),
        ("http://h:81/a/", "..", "http://h:81/"),
        ("http://h/api/", "", "http://h/api/"),
        ("http://h/api", "", "http://h/api"),
    ],
)
def test_relative_literals_resolve_as_rfc_3986_without_leaving_the_origin(
    endpoint: str, url: str, expected: str
) -> None:
    assert str(get(url).build_url(yarl.URL(endpoint))) == expected


def test_a_path_parameter_never_climbs_even_next_to_dot_segments() -> None:
    url = get("../{id}", path_parameters={"id": "../x"}).build_url(yarl.URL("http://h/api/v1/"))
    assert url.raw_path == "/api/..%2Fx"
    with pytest.raises(ValueError, match=r"path parameter 'id' must not be '\.\.'"):
        get("../{id}", path_parameters={"id": ".."})


class Colour(enum.Enum):
    RED = "red"


class Size(enum.StrEnum):
    BIG = "big"


def test_query_values_of_any_type_are_sent_as_their_text() -> None:
    sample = uuid.UUID(int=42)
    request = get(
        "search",
        query_parameters={
            "id": sample,
            "day": datetime.date(2024, 2, 29),
            "price": decimal.Decimal("1.50"),
            "colour": Colour.RED,
            "size": Size.BIG,
            "yes": True,
            "no": False,
            "tags": [1, None, Colour.RED],
        },
    )
    query = request.build_url(yarl.URL("http://h/")).query
    assert query["id"] == str(sample)
    assert query["day"] == "2024-02-29"
    assert query["price"] == "1.50"
    assert query["colour"] == "Colour.RED"
    assert query["size"] == "big"
    assert (query["yes"], query["no"]) == ("True", "False")
    assert query.getall("tags") == ["1", "Colour.RED"]


@pytest.mark.parametrize(
    ("client_priority", "inherited", "explicit", "sent"),
    [
        (Priority.NORMAL, Priority.HIGH, None, "normal"),
        (Priority.NORMAL, Priority.LOW, None, "normal"),
        (Priority.LOW, Priority.HIGH, None, "normal"),
        (Priority.HIGH, Priority.LOW, None, "normal"),
        (Priority.HIGH, None, None, "high"),
        (Priority.NORMAL, Priority.HIGH, Priority.HIGH, "high"),
        (Priority.NORMAL, Priority.HIGH, "low", "normal"),
        (Priority.NORMAL, None, "low", "low"),
    ],
)
async def test_priority_is_the_calls_or_the_clients_normalised_against_the_inherited_one(
    client_priority: Priority, inherited: Priority | None, explicit: Priority | str | None, sent: str
) -> None:
    transport = FakeTransport(lambda url, request: aio_request.EmptyResponse(status=200))
    client = aio_request.setup(transport=transport, endpoint="http://service.test/", priority=client_priority)
    with set_context(priority=inherited):
        async with client.request(get("x"), priority=explicit):
            pass
    assert transport.requests[0].request.headers["X-Request-Priority"] == sent


async def test_the_callers_timeout_header_takes_priority_over_the_routes_timeout() -> None:
    """0.2.9's test_func_handler_timeout_priority: a route of 0.2 s, a caller with 1 s."""

    @aio_request.aiohttp_timeout(seconds=0.2)
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query["delay"]))
        return web.Response()

    app = web.Application(middlewares=[aio_request.aiohttp_middleware_factory(cancel_on_timeout=True)])
    app.router.add_get("/slow", slow)
    async with run_aiohttp(app) as base, aiohttp.ClientSession() as session:
        client = aio_request.setup(transport=aio_request.AioHttpTransport(session), endpoint=str(base))
        strategy = aio_request.single_attempt_strategy()
        with_header = client.request(
            get("slow?delay=0.5"), deadline=Deadline.from_timeout(3), strategy=strategy
        )
        async with with_header as response:
            assert response.status == 200
        quiet = aio_request.setup(
            transport=aio_request.AioHttpTransport(session), endpoint=str(base), emit_system_headers=False
        )
        without_header = quiet.request(
            get("slow?delay=0.5"), deadline=Deadline.from_timeout(3), strategy=strategy
        )
        async with without_header as response:
            assert response.status == 408, "no header: the route's 0.2 s apply"


async def test_retry_until_deadline_ends_with_408_when_the_deadline_runs_out() -> None:
    transport = FakeTransport(lambda url, request: aio_request.EmptyResponse(status=500))
    client = aio_request.setup(transport=transport, endpoint="http://service.test/")
    deadline = Deadline.from_timeout(0.5)
    strategy = aio_request.retry_until_deadline_expired(aio_request.single_attempt_strategy())
    async with client.request(get("x"), deadline=deadline, strategy=strategy) as response:
        assert response.status == 408
        assert response.failure is not None
        assert response.failure.kind is aio_request.FailureKind.DEADLINE
    assert deadline.expired
    assert len(transport.requests) >= 1


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"min_delay_seconds": -1}, r"^Delays must be non-negative: min_delay_seconds .* got -1$"),
        ({"max_delay_seconds": -1}, r"^Delays must be non-negative: max_delay_seconds .* got -1$"),
        (
            {"min_delay_seconds": 10, "max_delay_seconds": 1},
            r"^min_delay must be less than or equal to max_delay: .*got 1$",
        ),
        ({"percentile": 0.0}, r"^percentile must be in \(0, 1\], got 0.0$"),
        ({"window_size_seconds": 0}, r"^window_size_seconds must be positive: .*got 0$"),
        ({"buckets_count": 0}, r"^buckets_count must be positive: .*got 0$"),
    ],
)
def test_percentile_provider_errors_keep_0_2_9s_words_and_name_the_value(
    options: dict[str, float], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        aio_request.PercentileBasedRequestAttemptDelaysProvider(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize("latency", [1.0, 0.123, 7.77])
def test_percentile_provider_returns_the_observed_value_when_all_samples_agree(latency: float) -> None:
    provider = aio_request.PercentileBasedRequestAttemptDelaysProvider(
        percentile=0.5, min_delay_seconds=0.01, max_delay_seconds=100
    )
    request = get("x")
    for _ in range(3):
        provider.observe(request, aio_request.EmptyResponse(status=200, elapsed=latency))
    assert provider(request, 1) == latency
    assert provider(request, 2) == 2 * latency


def test_percentile_provider_stays_within_the_bin_when_samples_differ() -> None:
    provider = aio_request.PercentileBasedRequestAttemptDelaysProvider(
        percentile=0.5, min_delay_seconds=0.01, max_delay_seconds=100
    )
    request = get("x")
    for latency in (1.0, 1.0, 1.0, 2.0):
        provider.observe(request, aio_request.EmptyResponse(status=200, elapsed=latency))
    assert 1.0 <= provider(request, 1) <= 1.0 * 1.045


@pytest.mark.parametrize("modules", [[], ["passing"]])
async def test_a_pipeline_that_sends_nothing_raises_not_implemented_error(modules: list[str]) -> None:
    class Passing(aio_request.RequestModule):
        async def execute(
            self,
            next: aio_request.NextModuleFunc,
            *,
            endpoint: yarl.URL,
            request: aio_request.Request,
            deadline: Deadline,
            priority: Priority,
        ) -> aio_request.ClosableResponse:
            return await next(endpoint, request, deadline, priority)

    pipeline = aio_request.build_pipeline([Passing() for _ in modules])
    with pytest.raises(NotImplementedError, match="TransportModule"):
        await pipeline(yarl.URL("http://h/"), get("x"), Deadline.from_timeout(1), Priority.NORMAL)


async def test_dns_resolver_resolve_no_wait_answers_from_the_cache_only() -> None:
    base = unittest.mock.MagicMock(spec=aiohttp.abc.AbstractResolver)
    results: list[aiohttp.abc.ResolveResult] = [
        {
            "hostname": "host",
            "host": "127.0.0.1",
            "port": 80,
            "family": socket.AF_INET,
            "proto": 0,
            "flags": 0,
        }
    ]
    base.resolve.return_value = results
    resolver = aio_request.AioHttpDnsResolver(base, interval=30)
    try:
        assert resolver.resolve_no_wait("host", 80, socket.AF_INET) is None
        await resolver.resolve("host", 80, socket.AF_INET)
        assert resolver.resolve_no_wait("host", 80, socket.AF_INET) == results
        assert resolver.resolve_no_wait("host", 81, socket.AF_INET) is None
    finally:
        await resolver.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_transports_log_each_connection_attempt_at_debug(
    transport: aio_request.Transport, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="aio_request"):
        response = await transport.send(yarl.URL(f"http://127.0.0.1:{_free_port()}"), get("x"), 5)
    assert response.status == 489
    assert len([record for record in caplog.records if "Sending request" in record.message]) == 3
