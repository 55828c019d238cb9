"""Cancellation and unbuffered bodies: the connection is released and the deadline still holds."""

from __future__ import annotations

import asyncio
import time

import pytest

from aio_request.http.request import Request

from .conftest import Harness
from .fault_server import FaultServer

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("path", ["hang", "stall-body", "trickle"])
async def test_cancelled_send_raises_cancelled_error_and_closes_the_connection(
    harness: Harness, fault_server: FaultServer, path: str
) -> None:
    transport = harness.make()
    task = asyncio.create_task(
        transport.send(fault_server.url, Request(method="GET", url=path), timeout=10.0)
    )
    await fault_server.wait_until(lambda: fault_server.paths() == [f"/{path}"])
    await asyncio.sleep(0.05)  # let the client start waiting for (the rest of) the answer

    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task
    assert harness.in_flight() == 0
    await fault_server.wait_until(lambda: fault_server.open_connections == 0)


async def test_unbuffered_body_read_is_bounded_by_the_attempt_timeout(
    harness: Harness, fault_server: FaultServer
) -> None:
    transport = harness.make(buffer_payload=False)

    started = time.monotonic()
    response = await transport.send(fault_server.url, Request(method="GET", url="trickle"), timeout=1.0)
    assert response.status == 200
    assert response.elapsed < 0.5
    try:
        with pytest.raises(TimeoutError):
            await response.read()
        took = time.monotonic() - started
    finally:
        await response.close()

    assert 0.9 <= took < 1.5
    assert harness.in_flight() == 0
    await fault_server.wait_until(lambda: fault_server.open_connections == 0)


async def test_cancelled_unbuffered_read_leaves_the_response_closable(
    harness: Harness, fault_server: FaultServer
) -> None:
    transport = harness.make(buffer_payload=False)
    response = await transport.send(fault_server.url, Request(method="GET", url="stall-body"), timeout=10.0)
    reading = asyncio.create_task(response.read())
    await asyncio.sleep(0.05)

    reading.cancel()

    with pytest.raises(asyncio.CancelledError):
        await reading
    await response.close()
    assert harness.in_flight() == 0
    await fault_server.wait_until(lambda: fault_server.open_connections == 0)
