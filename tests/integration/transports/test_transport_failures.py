"""How both transports map network failures, timeouts and redirect loops to synthetic responses."""

from __future__ import annotations

import time

import pytest

from aio_request._core.errors import FailureKind
from aio_request.http.headers import Header
from aio_request.http.request import Request
from aio_request.http.response import EmptyResponse

from .conftest import Harness
from .fault_server import FaultServer

pytestmark = pytest.mark.timeout(30)


async def test_refused_connection_is_tried_connection_attempts_times_then_489(
    harness: Harness, fault_server: FaultServer
) -> None:
    transport = harness.make(connection_attempts=3)

    response = await transport.send(fault_server.refused_url, Request(method="POST", url="ok"), timeout=5.0)

    assert isinstance(response, EmptyResponse)
    assert response.status == 489
    assert response.failure is not None
    assert response.failure.kind is FailureKind.CONNECT
    assert isinstance(response.failure.exception, Exception)
    assert harness.connect_attempts == 3
    assert 0 <= response.elapsed < 5.0


async def test_single_connection_attempt_is_not_retried(harness: Harness, fault_server: FaultServer) -> None:
    transport = harness.make(connection_attempts=1, network_errors_code=599)

    response = await transport.send(fault_server.refused_url, Request(method="GET", url="ok"), timeout=5.0)

    assert response.status == 599
    assert harness.connect_attempts == 1


async def test_connection_attempts_below_one_are_refused(harness: Harness) -> None:
    with pytest.raises(ValueError, match="connection_attempts must be an int >= 1, got 0"):
        harness.make(connection_attempts=0)


async def test_connect_retries_share_the_attempt_timeout(harness: Harness, fault_server: FaultServer) -> None:
    """Five slow refused connects (0.4 s each) within a 1 s timeout: 408 after ~1 s, not 2 s."""
    harness.connect_delay = 0.4
    transport = harness.make(connection_attempts=5)

    started = time.monotonic()
    response = await transport.send(fault_server.refused_url, Request(method="GET", url="ok"), timeout=1.0)
    took = time.monotonic() - started

    assert response.status == 408
    assert response.failure is not None
    assert response.failure.kind is FailureKind.TIMEOUT
    assert 0.9 <= took < 1.5
    assert harness.connect_attempts == 3


async def test_reset_after_the_request_was_sent_is_489_and_not_retried(
    harness: Harness, fault_server: FaultServer
) -> None:
    # POST, because aiohttp itself resends idempotent requests once after a reset.
    transport = harness.make(connection_attempts=3)

    response = await transport.send(
        fault_server.url, Request(method="POST", url="reset", body=b"x"), timeout=5.0
    )

    assert response.status == 489
    assert response.failure is not None
    assert response.failure.kind in (FailureKind.RESET, FailureKind.PROTOCOL)
    assert fault_server.connections_accepted == 1
    assert fault_server.paths() == ["/reset"]


@pytest.mark.parametrize("path", ["invalid", "truncated", "bad-chunked"])
async def test_invalid_http_is_a_489_protocol_failure(
    harness: Harness, fault_server: FaultServer, path: str
) -> None:
    transport = harness.make()

    response = await transport.send(fault_server.url, Request(method="GET", url=path), timeout=5.0)

    assert isinstance(response, EmptyResponse)
    assert response.status == 489
    assert response.failure is not None
    assert response.failure.kind is FailureKind.PROTOCOL
    assert fault_server.paths() == [f"/{path}"]


async def test_too_many_redirects_is_488_with_the_location_chain(
    harness: Harness, fault_server: FaultServer
) -> None:
    transport = harness.make(too_many_redirects_code=498)

    response = await transport.send(
        fault_server.url, Request(method="GET", url="loop/0", max_redirects=3), 5.0
    )

    assert isinstance(response, EmptyResponse)
    assert response.status == 498
    assert response.failure is not None
    assert response.failure.kind is FailureKind.TOO_MANY_REDIRECTS
    assert response.headers.getall(Header.LOCATION) == ["/loop/1", "/loop/2", "/loop/3", "/loop/4"]
    assert fault_server.paths() == ["/loop/0", "/loop/1", "/loop/2", "/loop/3"]


async def test_zero_max_redirects_refuses_the_first_redirect(
    harness: Harness, fault_server: FaultServer
) -> None:
    transport = harness.make()

    response = await transport.send(
        fault_server.url, Request(method="GET", url="redirect/1", max_redirects=0), 5.0
    )

    assert response.status == 488
    assert response.headers.getall(Header.LOCATION) == ["/redirect/0"]
    assert fault_server.paths() == ["/redirect/1"]


@pytest.mark.parametrize("path", ["hang", "stall-body"])
async def test_no_complete_answer_within_the_timeout_is_408(
    harness: Harness, fault_server: FaultServer, path: str
) -> None:
    transport = harness.make()

    started = time.monotonic()
    response = await transport.send(fault_server.url, Request(method="GET", url=path), timeout=0.5)
    took = time.monotonic() - started

    assert isinstance(response, EmptyResponse)
    assert response.status == 408
    assert response.failure is not None
    assert response.failure.kind is FailureKind.TIMEOUT
    assert 0.45 <= response.elapsed <= took < 1.0
    # The half-done exchange cannot be reused: the connection is closed, not pooled.
    await fault_server.wait_until(lambda: fault_server.open_connections == 0)


async def test_trickling_body_cannot_stretch_the_timeout(harness: Harness, fault_server: FaultServer) -> None:
    """One byte every 0.25 s satisfies any per-read timeout; the 1 s attempt still ends at ~1 s."""
    transport = harness.make()

    started = time.monotonic()
    response = await transport.send(fault_server.url, Request(method="GET", url="trickle"), timeout=1.0)
    took = time.monotonic() - started

    assert response.status == 408
    assert response.failure is not None
    assert response.failure.kind is FailureKind.TIMEOUT
    assert 0.95 <= took < 1.5


@pytest.mark.parametrize("timeout", [0.0, -1.0])
async def test_spent_timeout_is_408_without_connecting(
    harness: Harness, fault_server: FaultServer, timeout: float
) -> None:
    transport = harness.make()

    response = await transport.send(fault_server.url, Request(method="GET", url="ok"), timeout=timeout)

    assert response.status == 408
    assert response.failure is not None
    assert response.failure.kind is FailureKind.TIMEOUT
    assert harness.connect_attempts == 0
    assert fault_server.requests == []
