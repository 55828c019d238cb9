"""The response size limit of buffered bodies: announced, chunked and compressed bodies."""

from __future__ import annotations

import pytest

import aio_request
from aio_request._core.errors import FailureKind
from aio_request.http.headers import Header
from aio_request.http.request import Request
from aio_request.http.response import EmptyResponse
from aio_request.transports._size_limit import DEFAULT_MAX_RESPONSE_SIZE

from .conftest import Harness
from .fault_server import FaultServer

pytestmark = pytest.mark.timeout(30)


def _assert_too_large(response: object) -> None:
    assert isinstance(response, EmptyResponse)
    assert response.status == 489
    assert response.failure is not None
    assert response.failure.kind is FailureKind.RESPONSE_TOO_LARGE
    assert response.headers[Header.X_DO_NOT_RETRY] == "1"


@pytest.mark.parametrize("path", ["big/100001", "big-chunked/100001", "gzip/100001"])
async def test_a_body_over_the_limit_is_a_489_response_too_large(
    harness: Harness, fault_server: FaultServer, path: str
) -> None:
    transport = harness.make(max_response_size=100_000)

    response = await transport.send(fault_server.url, Request(method="GET", url=path), 5.0)

    _assert_too_large(response)


@pytest.mark.parametrize("path", ["big/100000", "big-chunked/100000", "gzip/100000"])
async def test_a_body_at_the_limit_is_read(harness: Harness, fault_server: FaultServer, path: str) -> None:
    transport = harness.make(max_response_size=100_000)

    response = await transport.send(fault_server.url, Request(method="GET", url=path), 5.0)

    assert response.status == 200
    assert await response.read() == bytes(100_000)


async def test_the_decoded_size_counts(harness: Harness, fault_server: FaultServer) -> None:
    """A ~100 byte gzip body that inflates to 20,000 bytes is over a 10,000 byte limit."""
    transport = harness.make(max_response_size=10_000)

    response = await transport.send(fault_server.url, Request(method="GET", url="gzip/20000"), 5.0)

    _assert_too_large(response)


async def test_the_default_limit_refuses_a_gzip_bomb(harness: Harness, fault_server: FaultServer) -> None:
    transport = harness.make()
    size = DEFAULT_MAX_RESPONSE_SIZE + 1

    response = await transport.send(fault_server.url, Request(method="GET", url=f"gzip/{size}"), 10.0)

    _assert_too_large(response)


async def test_the_default_limit_refuses_an_announced_huge_body_without_reading_it(
    harness: Harness, fault_server: FaultServer
) -> None:
    transport = harness.make()

    response = await transport.send(fault_server.url, Request(method="GET", url="big/10000000000"), 5.0)

    _assert_too_large(response)
    assert response.elapsed < 1.0


async def test_the_request_limit_takes_precedence(harness: Harness, fault_server: FaultServer) -> None:
    transport = harness.make(max_response_size=1_000)

    larger = await transport.send(
        fault_server.url, Request(method="GET", url="big/2000", max_response_size=2_000), 5.0
    )
    smaller = await transport.send(
        fault_server.url, Request(method="GET", url="big/2000", max_response_size=1_999), 5.0
    )

    assert larger.status == 200
    assert len(await larger.read()) == 2_000
    _assert_too_large(smaller)


async def test_no_limit_reads_everything(harness: Harness, fault_server: FaultServer) -> None:
    transport = harness.make(max_response_size=None)

    response = await transport.send(fault_server.url, Request(method="GET", url="big-chunked/300000"), 5.0)

    assert response.status == 200
    assert len(await response.read()) == 300_000


async def test_a_live_response_is_not_limited(harness: Harness, fault_server: FaultServer) -> None:
    """With ``buffer_payload=False`` the caller reads (or streams) the body itself."""
    transport = harness.make(max_response_size=1_000, buffer_payload=False)

    response = await transport.send(fault_server.url, Request(method="GET", url="big/5000"), 5.0)
    try:
        assert response.status == 200
        assert len(await response.read()) == 5_000
    finally:
        await response.close()


@pytest.mark.parametrize(("body", "status"), [(1_000, 200), (1_001, 489)])
async def test_the_limit_applies_to_redirect_bodies(
    harness: Harness, fault_server: FaultServer, body: int, status: int
) -> None:
    transport = harness.make(max_response_size=1_000)

    response = await transport.send(
        fault_server.url, Request(method="GET", url=f"location?to=/ok&body={body}"), 5.0
    )

    assert response.status == status
    if status == 489:
        _assert_too_large(response)


async def test_through_the_client_a_too_large_body_is_not_retried(
    harness: Harness, fault_server: FaultServer
) -> None:
    client = aio_request.setup(
        transport=harness.make(max_response_size=1_000), endpoint=str(fault_server.url), timeout=5.0
    )

    async with client.request(aio_request.get("big/2000")) as response:
        assert response.status == 489
        assert response.failure is not None
        assert response.failure.kind is FailureKind.RESPONSE_TOO_LARGE

    assert fault_server.paths() == ["/big/2000"]


@pytest.mark.parametrize("value", [-1, 1.5, True, "10"])
async def test_an_invalid_limit_is_refused(harness: Harness, value: object) -> None:
    with pytest.raises(ValueError, match="max_response_size must be an int >= 0"):
        harness.make(max_response_size=value)
    with pytest.raises(ValueError, match="max_response_size must be an int >= 0"):
        Request(method="GET", url="x", max_response_size=value)  # type: ignore[arg-type]


async def test_a_head_response_announcing_a_huge_body_is_fine(
    harness: Harness, fault_server: FaultServer
) -> None:
    transport = harness.make()

    response = await transport.send(fault_server.url, Request(method="HEAD", url="big/10000000000"), 5.0)

    assert response.status == 200
    assert response.headers["Content-Length"] == "10000000000"
    assert await response.read() == b""


def test_the_request_limit_is_kept_by_copies_and_builders() -> None:
    request = aio_request.get("x", max_response_size=5)

    assert request.max_response_size == 5
    assert request.with_system_headers("1", "normal").max_response_size == 5
    assert request.update_headers({"A": "b"}).max_response_size == 5
    assert aio_request.post_json("x", {}, max_response_size=7).max_response_size == 7
    assert request != aio_request.get("x")
    assert aio_request.get("x").max_response_size is None


@pytest.mark.parametrize("limit", [1_000_000, None])
async def test_a_corrupt_gzip_body_is_a_489_protocol_failure(
    harness: Harness, fault_server: FaultServer, limit: int | None
) -> None:
    transport = harness.make(max_response_size=limit)

    response = await transport.send(fault_server.url, Request(method="GET", url="bad-gzip"), 5.0)

    assert response.status == 489
    assert response.failure is not None
    assert response.failure.kind is FailureKind.PROTOCOL
