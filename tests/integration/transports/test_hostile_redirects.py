"""Redirects a hostile server sends: unusable targets, credentials across origins, stale deadlines.

Both transports follow redirects by the same rules (``aio_request.transports._redirects``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx
import pytest

import aio_request
from aio_request._core.errors import FailureKind
from aio_request.http.headers import Header
from aio_request.http.request import Request
from aio_request.http.response import EmptyResponse

from .conftest import Harness
from .fault_server import FaultServer

pytestmark = pytest.mark.timeout(30)

HOSTILE_LOCATIONS = [
    "javascript:alert(1)",
    "mailto:x",
    "x:y",
    "http:x",
    "https:x",
    "http:///x",
    "http://127.0.0.1:99999/x",
    "http://127.0.0.1:0/x",
    "http://127.0.0.1:port/x",
    "http://[::1/x",
    "http://exa mple.test/x",
    "file:///etc/passwd",
    "",
]
CREDENTIALS = {"Authorization": "Bearer secret", "Cookie": "session=1", "Proxy-Authorization": "Basic eDp5"}


def _to(location: str, **extra: str) -> str:
    query = "".join(f"&{name}={value}" for name, value in extra.items())
    return f"location?to={quote(location, safe='')}{query}"


@pytest.fixture
async def other_origin() -> AsyncIterator[FaultServer]:
    """A second fault server: another port on 127.0.0.1 is another origin."""
    async with FaultServer() as server:
        yield server


@pytest.mark.parametrize("location", HOSTILE_LOCATIONS)
async def test_an_unusable_location_is_a_489_invalid_redirect_not_an_exception(
    harness: Harness, fault_server: FaultServer, location: str
) -> None:
    transport = harness.make()

    response = await transport.send(fault_server.url, Request(method="GET", url=_to(location)), 5.0)

    assert isinstance(response, EmptyResponse)
    assert response.status == 489
    assert response.failure is not None
    assert response.failure.kind is FailureKind.INVALID_REDIRECT
    assert response.headers[Header.X_DO_NOT_RETRY] == "1"
    assert fault_server.paths() == ["/location"]


@pytest.mark.parametrize("location", ["javascript:alert(1)", "http://127.0.0.1:99999/x"])
async def test_an_unusable_location_through_the_client_is_answered_once(
    harness: Harness, fault_server: FaultServer, location: str
) -> None:
    client = aio_request.setup(transport=harness.make(), endpoint=str(fault_server.url), timeout=5.0)

    async with client.request(aio_request.get(_to(location))) as response:
        assert response.status == 489
        assert response.failure is not None
        assert response.failure.kind is FailureKind.INVALID_REDIRECT
    # X-Do-Not-Retry: the sequential strategy of GET does not try again.
    assert fault_server.paths() == ["/location"]


async def test_several_different_locations_are_refused(harness: Harness, fault_server: FaultServer) -> None:
    transport = harness.make()
    hop = quote("/ok\r\nLocation: http://127.0.0.1:1/other", safe="")

    response = await transport.send(fault_server.url, Request(method="GET", url=f"location?to={hop}"), 5.0)

    assert response.status == 489
    assert response.failure is not None
    assert response.failure.kind is FailureKind.INVALID_REDIRECT


@pytest.mark.parametrize(
    "location", ["/ok", "ok", "//{host}/ok", "http://{host}/ok", "HTTP://{host}/ok#frag"]
)
async def test_usable_locations_are_followed(
    harness: Harness, fault_server: FaultServer, location: str
) -> None:
    transport = harness.make()
    location = location.format(host=fault_server.url.raw_authority)

    response = await transport.send(fault_server.url, Request(method="GET", url=_to(location)), 5.0)

    assert response.status == 200
    assert await response.json() == {"ok": True}
    assert fault_server.paths() == ["/location", "/ok"]


async def test_a_3xx_without_location_is_the_answer(harness: Harness, fault_server: FaultServer) -> None:
    transport = harness.make()

    response = await transport.send(fault_server.url, Request(method="GET", url="status/302"), 5.0)

    assert response.status == 302
    assert response.failure is None


async def test_cross_origin_redirect_drops_credentials(
    harness: Harness, fault_server: FaultServer, other_origin: FaultServer
) -> None:
    transport = harness.make()
    target = f"{other_origin.url}ok"
    request = Request(method="GET", url=_to(target), headers={**CREDENTIALS, "X-Kept": "yes"})

    response = await transport.send(fault_server.url, request, 5.0)

    assert response.status == 200
    first, second = fault_server.requests[0], other_origin.requests[0]
    assert all(first.headers[name] == value for name, value in CREDENTIALS.items())
    assert [name for name in CREDENTIALS if name in second.headers] == []
    assert second.headers["X-Kept"] == "yes"


async def test_same_origin_redirect_keeps_credentials(harness: Harness, fault_server: FaultServer) -> None:
    transport = harness.make()
    request = Request(method="GET", url=_to("/ok"), headers=CREDENTIALS)

    response = await transport.send(fault_server.url, request, 5.0)

    assert response.status == 200
    second = fault_server.requests[1]
    assert {name: second.headers.get(name) for name in CREDENTIALS} == CREDENTIALS


async def test_each_hop_carries_the_deadline_left_when_it_is_sent(
    harness: Harness, fault_server: FaultServer
) -> None:
    """A 1 s deadline and a first hop that answers after 0.5 s: the second hop is told ~0.5 s."""
    client = aio_request.setup(transport=harness.make(), endpoint=str(fault_server.url), timeout=1.0)

    async with client.request(aio_request.get(_to("/ok", delay="0.5"))) as response:
        assert response.status == 200

    first, second = fault_server.requests
    assert 0.9 <= float(first.headers[Header.X_REQUEST_TIMEOUT]) <= 1.0
    assert 0.2 <= float(second.headers[Header.X_REQUEST_TIMEOUT]) <= 0.5


async def test_a_deadline_header_of_your_own_counts_down_on_each_hop(
    harness: Harness, fault_server: FaultServer
) -> None:
    """Without system headers, a request's own ``X-Request-Timeout: 1`` is still kept truthful."""
    transport = harness.make()
    request = Request(method="GET", url=_to("/ok", delay="0.5"), headers={"X-Request-Timeout": "1"})

    response = await transport.send(fault_server.url, request, 20.0)

    assert response.status == 200
    assert 0.2 <= float(fault_server.requests[1].headers[Header.X_REQUEST_TIMEOUT]) <= 0.5


async def test_without_system_headers_no_deadline_is_added_to_hops(
    harness: Harness, fault_server: FaultServer
) -> None:
    client = aio_request.setup(
        transport=harness.make(), endpoint=str(fault_server.url), timeout=1.0, emit_system_headers=False
    )

    async with client.request(aio_request.get(_to("/ok"))) as response:
        assert response.status == 200

    assert [Header.X_REQUEST_TIMEOUT in request.headers for request in fault_server.requests] == [
        False,
        False,
    ]


@pytest.mark.parametrize(
    ("status", "method", "sent"),
    [
        (303, "POST", ("GET", b"")),
        (302, "POST", ("GET", b"")),
        (301, "POST", ("GET", b"")),
        (307, "POST", ("POST", b"payload")),
        (308, "PUT", ("PUT", b"payload")),
        (302, "PUT", ("PUT", b"payload")),
    ],
)
async def test_method_and_body_of_the_next_hop(
    harness: Harness, fault_server: FaultServer, status: int, method: str, sent: tuple[str, bytes]
) -> None:
    transport = harness.make()
    request = Request(
        method=method,
        url=_to("/echo", status=str(status)),
        body=b"payload",
        headers={"Content-Type": "text/plain"},
    )

    response = await transport.send(fault_server.url, request, 5.0)

    assert response.status == 200
    second = fault_server.requests[1]
    assert (second.method, second.body) == sent
    assert ("Content-Type" in second.headers) is (sent[1] != b"")


async def test_a_redirect_is_not_followed_past_the_timeout(
    harness: Harness, fault_server: FaultServer
) -> None:
    transport = harness.make()

    started = time.monotonic()
    response = await transport.send(fault_server.url, Request(method="GET", url=_to("/hang")), 0.5)

    assert response.status == 408
    assert time.monotonic() - started < 1.0
    assert fault_server.paths() == ["/location", "/hang"]


@pytest.mark.parametrize(("cross_origin", "sent"), [(True, False), (False, True)])
async def test_httpx_client_auth_stays_on_the_first_origin(
    fault_server: FaultServer, other_origin: FaultServer, cross_origin: bool, sent: bool
) -> None:
    target = f"{other_origin.url}ok" if cross_origin else "/ok"
    async with httpx.AsyncClient(auth=("user", "secret")) as client:
        transport = aio_request.HttpxTransport(client)

        response = await transport.send(fault_server.url, Request(method="GET", url=_to(target)), 5.0)

    assert response.status == 200
    second = (other_origin if cross_origin else fault_server).requests[-1]
    assert "Authorization" in fault_server.requests[0].headers
    assert ("Authorization" in second.headers) is sent
