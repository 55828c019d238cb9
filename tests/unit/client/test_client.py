"""The client over the in-memory transport: defaults, deadlines, priorities, headers, enrichers."""

from __future__ import annotations

import math

import pytest
import yarl

import aio_request
from aio_request import Deadline, EmptyResponse, Priority, constant_delays, get, post, set_context
from aio_request.http.response import BufferedResponse
from aio_request.testing import FakeClock, FakeTransport

OK = BufferedResponse(status=200, body=b"ok")
UNAVAILABLE = EmptyResponse(status=503)


def client_for(transport: FakeTransport, **options: object) -> aio_request.Client:
    options.setdefault(
        "safe_method_strategy", aio_request.sequential_strategy(delays_provider=constant_delays())
    )
    return aio_request.setup(transport=transport, endpoint="http://service.test/api/", **options)  # type: ignore[arg-type]


async def status_of(client: aio_request.Client, request: aio_request.Request, **kwargs: object) -> int:
    async with client.request(request, **kwargs) as response:  # type: ignore[arg-type]
        return response.status


async def test_setup_defaults_retry_get_three_times_with_backoff_and_post_once() -> None:
    clock = FakeClock(autojump=True)
    transport = FakeTransport(lambda url, request: UNAVAILABLE, clock=clock)
    client = aio_request.setup(transport=transport, endpoint="http://service.test/", clock=clock)
    assert await status_of(client, get("thing")) == 503
    assert [sent.request.method for sent in transport.requests] == ["GET"] * 3
    assert clock.now() == pytest.approx(0.15, abs=0.06), "linear backoff: 0.05 s, then 0.1 s (±20% jitter)"
    transport.requests.clear()
    assert await status_of(client, post("thing", b"x")) == 503
    assert len(transport.requests) == 1


async def test_the_response_reaches_the_caller_and_urls_join_the_endpoint() -> None:
    transport = FakeTransport(routes={("GET", "users/{id}"): OK})
    client = client_for(transport)
    async with client.request(get("users/{id}", path_parameters={"id": "a/b"})) as response:
        assert await response.read() == b"ok"
    assert transport.requests[0].url == yarl.URL("http://service.test/api/users/a%2Fb")


async def test_system_headers_carry_the_remaining_timeout_and_priority() -> None:
    transport = FakeTransport(lambda url, request: OK)
    client = client_for(transport)
    await status_of(client, get("x"), deadline=Deadline.from_timeout(5), priority=Priority.HIGH)
    sent = transport.requests[0]
    timeout_header = sent.request.headers["X-Request-Timeout"]
    assert 4.9 <= float(timeout_header) <= 5
    assert len(timeout_header) <= 5, "compact: millisecond resolution at most"
    assert sent.request.headers["X-Request-Priority"] == "high"
    assert 4.9 <= sent.timeout <= 5


async def test_system_headers_can_be_turned_off() -> None:
    transport = FakeTransport(lambda url, request: OK)
    await status_of(client_for(transport, emit_system_headers=False), get("x"))
    assert "X-Request-Timeout" not in transport.requests[0].request.headers
    assert "X-Request-Priority" not in transport.requests[0].request.headers


async def test_below_the_low_timeout_threshold_nothing_is_sent() -> None:
    transport = FakeTransport(lambda url, request: OK)
    client = client_for(transport, low_timeout_threshold=0.5)
    async with client.request(get("x"), deadline=Deadline.from_timeout(0.2)) as response:
        assert response.status == 408
        assert "X-Do-Not-Retry" in response.headers
    assert transport.requests == []


async def test_a_per_call_deadline_never_extends_the_inherited_or_default_one() -> None:
    transport = FakeTransport(lambda url, request: OK)
    client = client_for(transport, timeout=3)
    await status_of(client, get("x"), deadline=Deadline.from_timeout(60))
    assert 2.9 <= transport.requests[-1].timeout <= 3, "the client default caps a longer deadline"
    with set_context(deadline=Deadline.from_timeout(1)):
        await status_of(client, get("x"), deadline=Deadline.from_timeout(2))
        assert 0.9 <= transport.requests[-1].timeout <= 1, "the inherited deadline wins"
        await status_of(client, get("x"), deadline=Deadline.from_timeout(0.5))
        assert 0.4 <= transport.requests[-1].timeout <= 0.5, "a shorter per-call deadline wins"


async def test_an_infinite_deadline_still_sends_a_finite_timeout() -> None:
    transport = FakeTransport(lambda url, request: OK)
    client = client_for(transport, timeout=20)
    await status_of(client, get("x"), deadline=Deadline.from_timeout(math.inf))
    sent = transport.requests[0]
    assert math.isfinite(sent.timeout)
    assert float(sent.request.headers["X-Request-Timeout"]) <= 20


@pytest.mark.parametrize(
    ("context_priority", "explicit", "sent"),
    [
        (None, None, "normal"),
        (Priority.LOW, None, "normal"),
        (Priority.HIGH, None, "normal"),
        (Priority.HIGH, Priority.LOW, "normal"),
        (Priority.HIGH, Priority.HIGH, "high"),
        (Priority.LOW, Priority.HIGH, "normal"),
        (None, Priority.LOW, "low"),
    ],
)
async def test_priority_is_the_calls_or_the_clients_normalised_against_the_context(
    context_priority: Priority | None, explicit: Priority | None, sent: str
) -> None:
    transport = FakeTransport(lambda url, request: OK)
    with set_context(priority=context_priority):
        await status_of(client_for(transport), get("x"), priority=explicit)
    assert transport.requests[0].request.headers["X-Request-Priority"] == sent


async def test_sync_and_async_request_enrichers_apply_to_every_attempt() -> None:
    def sync_enricher(request: aio_request.Request) -> aio_request.Request:
        return request.update_headers({"X-Sync": "1"})

    async def async_enricher(request: aio_request.Request) -> aio_request.Request:
        return request.extend_headers({"X-Async": "1"})

    for enricher, header in ((sync_enricher, "X-Sync"), (async_enricher, "X-Async")):
        transport = FakeTransport(lambda url, request: UNAVAILABLE)
        await status_of(client_for(transport, request_enricher=enricher), get("x"))
        assert [sent.request.headers.get(header) for sent in transport.requests] == ["1"] * 3


async def test_a_per_call_strategy_overrides_the_client_strategy() -> None:
    transport = FakeTransport(lambda url, request: UNAVAILABLE)
    await status_of(client_for(transport), get("x"), strategy=aio_request.single_attempt_strategy())
    assert len(transport.requests) == 1


async def test_endpoint_providers_static_and_delegating() -> None:
    transport = FakeTransport(lambda url, request: OK)

    async def async_endpoint() -> str:
        return "http://async.test/"

    providers = [
        aio_request.StaticEndpointProvider("http://static.test/"),
        aio_request.DelegateEndpointProvider(lambda: yarl.URL("http://sync.test/")),
        aio_request.DelegateEndpointProvider(async_endpoint),
    ]
    for provider in providers:
        client = aio_request.setup(transport=transport, endpoint_provider=provider)
        await status_of(client, get("x"))
    assert [sent.url.host for sent in transport.requests] == ["static.test", "sync.test", "async.test"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "exactly one of endpoint and endpoint_provider"),
        (
            {"endpoint": "http://a/", "endpoint_provider": aio_request.StaticEndpointProvider("http://a/")},
            "exactly one",
        ),
        ({"endpoint": "relative/path"}, "absolute http"),
        ({"endpoint": "ftp://host/"}, "absolute http"),
        ({"endpoint": "http://a/", "timeout": 0}, "timeout must be a finite number > 0, got 0"),
        ({"endpoint": "http://a/", "timeout": math.inf}, "timeout"),
        ({"endpoint": "http://a/", "low_timeout_threshold": -1}, "low_timeout_threshold"),
    ],
)
def test_setup_refuses_invalid_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        aio_request.setup(transport=FakeTransport(), **options)  # type: ignore[arg-type]
