"""A thousand hedged requests whose losing attempts are slow leave nothing behind.

Every call's first attempt goes to ``/first/{fault}/{key}``: the fault server lets that first
request hang (no headers) or stall mid-body, and answers every later one for the key at once.
So the hedge, sent 10 ms later, wins each time and the slow first attempt is cancelled and its
connection closed. After 1,000 calls (25 at a time) on each transport: every call got the
hedge's 200, no task of the library remains, no connection is held, nothing warned.

With ``buffer_payload=False`` an attempt is complete when its headers arrive, so a stalled
body would win the race; the unbuffered variant therefore uses only losers that never answer.
"""

from __future__ import annotations

import asyncio
import collections

import pytest

import aio_request
from tests.integration.transports.conftest import Harness
from tests.integration.transports.fault_server import FaultServer

from .leaks import LeakWatch

pytestmark = pytest.mark.timeout(90)

CALLS = 1000
CONCURRENCY = 25


@pytest.mark.parametrize("buffer_payload", [True, False], ids=["buffered", "unbuffered"])
async def test_thousand_hedged_calls_with_slow_losers_leave_no_task_connection_or_warning(
    harness: Harness, fault_server: FaultServer, leak_watch: LeakWatch, buffer_payload: bool
) -> None:
    client = aio_request.setup(
        transport=harness.make(buffer_payload=buffer_payload),
        endpoint=fault_server.url,
        safe_method_strategy=aio_request.parallel_strategy(
            attempts_count=2, delays_provider=aio_request.constant_delays(delay=0.01)
        ),
        timeout=10.0,
        retry_budget=None,
        hedge_budget=None,
    )
    statuses: collections.Counter[int] = collections.Counter()
    gate = asyncio.Semaphore(CONCURRENCY)

    async def call(index: int) -> None:
        fault = "hang" if index % 2 or not buffer_payload else "stall-body"
        async with gate, client.request(aio_request.get(f"first/{fault}/{index}")) as response:
            await response.read()
            statuses[response.status] += 1

    await asyncio.gather(*(call(index) for index in range(CALLS)))

    assert statuses == {200: CALLS}
    assert len(fault_server.requests) == 2 * CALLS, "one slow loser and one hedge per call"
    assert harness.in_flight() == 0
    leak_watch.assert_clean()
