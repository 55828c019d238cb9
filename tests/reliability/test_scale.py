"""Heavy load on both transports: thousands of concurrent calls, a thousand clients.

Every call must end by its deadline (plus :data:`SLACK` for a loop that ends thousands of calls
at the same instant), answered or as a ``408`` of its own timeout; afterwards no task, warning,
held connection or file descriptor may be left.

The server answers in 20 ms, on the same loop as the clients: with 1,000 calls in flight on a
pool of 100 connections, httpx's pool used to spend ~20 ms of CPU per call re-examining its
queue, so every call ended long after its deadline (see ``benchmarks/hostile_load.py``).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import aiohttp
import httpx
import pytest

import aio_request
from aio_request._core.errors import FailureKind
from aio_request.http.transport import Transport
from tests.integration.transports.conftest import TRANSPORTS, Harness
from tests.integration.transports.fault_server import FaultServer

from .leaks import LeakWatch

pytestmark = pytest.mark.timeout(90)


def _slack(calls: int) -> float:
    """Seconds a call may end past its deadline: ending thousands of calls at the same instant
    takes CPU, and the machine is shared. Before the httpx bound, 1,000 calls overran by ~17 s
    and 10,000 by more than ten minutes."""
    return 1.0 + calls * 1e-3


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _descriptors_back_to(baseline: int, fault_server: FaultServer) -> None:
    await fault_server.wait_until(lambda: fault_server.open_connections == 0)
    # Closed sockets are released by the loop an iteration or two later.
    await fault_server.wait_until(lambda: _open_fds() <= baseline)


async def _fire(
    transport: Transport, endpoint: str, calls: int, deadline: float, path: str
) -> dict[int, int]:
    """``calls`` concurrent calls through one client; the statuses seen, checked on the way."""
    client = aio_request.setup(transport=transport, endpoint=endpoint, timeout=deadline)
    statuses: dict[int, int] = {}
    slack = _slack(calls)

    async def one() -> None:
        started = time.monotonic()
        async with client.request(aio_request.get(path)) as response:
            status = response.status
            if status != 200:
                assert status == 408, response
                assert response.failure is not None
                assert response.failure.kind in (FailureKind.TIMEOUT, FailureKind.DEADLINE)
            else:
                await response.read()
        took = time.monotonic() - started
        assert took <= deadline + slack, f"a call took {took:.2f}s with a {deadline}s deadline"
        statuses[status] = statuses.get(status, 0) + 1

    await asyncio.gather(*(one() for _ in range(calls)))
    return statuses


@pytest.mark.parametrize(("calls", "deadline"), [(1_000, 2.0), (10_000, 5.0)])
async def test_concurrent_calls_through_one_client_end_by_their_deadline(
    harness: Harness, fault_server: FaultServer, calls: int, deadline: float
) -> None:
    baseline = _open_fds()

    statuses = await _fire(harness.make(), str(fault_server.url), calls, deadline, path="delay/20")
    await harness.close()

    assert sum(statuses.values()) == calls
    if calls <= 1_000:
        # 10,000 calls start in one burst; on a busy machine the burst alone can outlast the
        # deadline (each call's starts when it is created), so only ending in time is asserted.
        assert statuses.get(200, 0) > 0, statuses
    await _descriptors_back_to(baseline, fault_server)


async def test_the_wait_for_a_place_in_the_pool_counts_in_the_timeout(fault_server: FaultServer) -> None:
    """Two places, both held by hanging requests: a third call ends at its 0.5 s deadline."""
    async with httpx.AsyncClient() as client:
        transport = aio_request.HttpxTransport(client, max_in_flight=2)
        api = aio_request.setup(
            transport=transport,
            endpoint=str(fault_server.url),
            timeout=0.5,
            safe_method_strategy=aio_request.single_attempt_strategy(),
        )

        async def call(path: str) -> aio_request.Response:
            async with api.request(aio_request.get(path)) as response:
                return response

        started = time.monotonic()
        responses = await asyncio.gather(call("hang"), call("hang"), call("ok"))
        took = time.monotonic() - started

    assert [response.status for response in responses] == [408, 408, 408]
    assert 0.45 <= took < 1.0
    assert fault_server.paths() == ["/hang", "/hang"]  # the third never got a place


async def test_a_live_response_holds_its_place_until_closed(fault_server: FaultServer) -> None:
    async with httpx.AsyncClient() as client:
        transport = aio_request.HttpxTransport(client, max_in_flight=1, buffer_payload=False)
        request = aio_request.get("ok")
        live = await transport.send(fault_server.url, request, 5.0)
        waiting = await transport.send(fault_server.url, request, 0.2)
        assert waiting.status == 408
        await live.close()
        after = await transport.send(fault_server.url, request, 5.0)
        assert after.status == 200
        await after.close()


async def test_max_in_flight_is_validated() -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(ValueError, match="max_in_flight must be an int >= 1, got 0"):
            aio_request.HttpxTransport(client, max_in_flight=0)


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_a_thousand_clients_created_and_closed_leave_nothing_behind(
    fault_server: FaultServer, leak_watch: LeakWatch, kind: str
) -> None:
    async def client_lifetime() -> None:
        owned: Any
        if kind == "aiohttp":
            async with aiohttp.ClientSession() as owned:
                await _fire(aio_request.AioHttpTransport(owned), str(fault_server.url), 1, 5.0, "ok")
        else:
            # verify=False: no certificate bundle to load for a plain-HTTP loopback client.
            async with httpx.AsyncClient(verify=False) as owned:
                await _fire(aio_request.HttpxTransport(owned), str(fault_server.url), 1, 5.0, "ok")

    baseline = _open_fds()
    for _ in range(20):  # warm-up: caches, lazy imports
        await client_lifetime()

    for _ in range(50):
        await asyncio.gather(*(client_lifetime() for _ in range(20)))

    assert fault_server.paths().count("/ok") == 1_020
    await _descriptors_back_to(baseline, fault_server)
    leak_watch.assert_clean()


async def test_a_call_cancelled_while_waiting_for_a_place_gives_nothing_away(
    fault_server: FaultServer,
) -> None:
    async with httpx.AsyncClient() as client:
        transport = aio_request.HttpxTransport(client, max_in_flight=1)
        request = aio_request.get("hang")
        holder = asyncio.ensure_future(transport.send(fault_server.url, request, 0.5))
        await fault_server.wait_until(lambda: fault_server.paths() == ["/hang"])
        waiter = asyncio.ensure_future(transport.send(fault_server.url, request, 5.0))
        await asyncio.sleep(0.05)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert (await holder).status == 408

        after = await transport.send(fault_server.url, aio_request.get("ok"), 1.0)

    assert after.status == 200
    assert fault_server.paths() == ["/hang", "/ok"]
