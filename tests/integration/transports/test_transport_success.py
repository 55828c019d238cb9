"""What both transports do with well-behaved answers: bodies, headers, redirects, pooling."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from aio_request.http.headers import Header
from aio_request.http.request import Request
from aio_request.http.response import BufferedResponse

from .conftest import Harness
from .fault_server import FaultServer

pytestmark = pytest.mark.timeout(30)


async def test_buffered_response_holds_status_headers_body_and_elapsed(
    harness: Harness, fault_server: FaultServer
) -> None:
    transport = harness.make()

    response = await transport.send(fault_server.url, Request(method="GET", url="ok"), timeout=5.0)

    assert isinstance(response, BufferedResponse)
    assert response.status == 200
    assert response.failure is None
    assert response.headers[Header.CONTENT_TYPE] == "application/json"
    assert await response.json() == {"ok": True}
    assert 0 < response.elapsed < 5.0
    assert harness.in_flight() == 0


async def test_method_url_headers_and_body_are_sent_as_given(
    harness: Harness, fault_server: FaultServer
) -> None:
    transport = harness.make()
    headers = CIMultiDict([("X-Multi", "one"), ("X-Multi", "two"), ("X-Single", "value")])
    request = Request(
        method="PUT",
        url="echo/{name}",
        path_parameters={"name": "a b/c"},
        query_parameters={"q": "x y"},
        headers=headers,
        body=b"\x00payload\xff",
    )

    response = await transport.send(fault_server.url.with_path("/"), request, timeout=5.0)

    assert response.status == 200
    assert await response.read() == b"\x00payload\xff"
    (received,) = fault_server.requests
    assert received.method == "PUT"
    assert received.target == "/echo/a%20b%2Fc?q=x+y"
    assert received.headers.getall("X-Multi") == ["one", "two"]
    assert received.headers["X-Single"] == "value"
    assert received.headers["Content-Length"] == str(len(b"\x00payload\xff"))


async def test_connection_is_released_to_the_pool_and_reused(
    harness: Harness, fault_server: FaultServer
) -> None:
    transport = harness.make()

    for _ in range(3):
        response = await transport.send(fault_server.url, Request(method="GET", url="ok"), timeout=5.0)
        assert response.status == 200

    assert fault_server.connections_accepted == 1
    assert harness.in_flight() == 0


async def test_redirects_up_to_max_redirects_are_followed(
    harness: Harness, fault_server: FaultServer
) -> None:
    transport = harness.make()
    request = Request(method="GET", url="redirect/3", max_redirects=3)

    response = await transport.send(fault_server.url, request, timeout=5.0)

    assert response.status == 200
    assert await response.json() == {"ok": True}
    assert fault_server.paths() == ["/redirect/3", "/redirect/2", "/redirect/1", "/redirect/0"]


async def test_redirect_is_returned_when_redirects_are_not_allowed(
    harness: Harness, fault_server: FaultServer
) -> None:
    transport = harness.make()
    request = Request(method="GET", url="redirect/2", allow_redirects=False)

    response = await transport.send(fault_server.url, request, timeout=5.0)

    assert response.status == 302
    assert response.failure is None
    assert response.headers.getall(Header.LOCATION) == ["/redirect/1"]
    assert fault_server.paths() == ["/redirect/2"]


async def test_unbuffered_response_body_can_be_read_then_closed(
    harness: Harness, fault_server: FaultServer
) -> None:
    transport = harness.make(buffer_payload=False)

    response = await transport.send(fault_server.url, Request(method="GET", url="ok"), timeout=5.0)

    assert not isinstance(response, BufferedResponse)
    assert response.status == 200
    assert 0 < response.elapsed < 5.0
    assert await response.json() == {"ok": True}
    await response.close()
    await response.close()  # closing twice is harmless
    assert harness.in_flight() == 0


async def test_unbuffered_response_holds_the_connection_until_closed(
    harness: Harness, fault_server: FaultServer
) -> None:
    transport = harness.make(buffer_payload=False)

    response = await transport.send(fault_server.url, Request(method="GET", url="stall-body"), timeout=5.0)

    assert response.status == 200
    assert harness.in_flight() == 1
    await response.close()
    assert harness.in_flight() == 0
    # The body was not read to its end, so the connection cannot be reused: it is closed.
    await fault_server.wait_until(lambda: fault_server.open_connections == 0)
