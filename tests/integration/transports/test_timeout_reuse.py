"""An attempt may reuse the previous attempt's timeout only when that one is not longer."""

from __future__ import annotations

import asyncio
import time

import pytest

from aio_request.http.request import Request

from .conftest import Harness
from .fault_server import FaultServer

pytestmark = pytest.mark.timeout(30)


async def test_a_shorter_attempt_after_a_longer_one_keeps_its_own_timeout(
    harness: Harness, fault_server: FaultServer
) -> None:
    transport = harness.make()
    ok = await transport.send(fault_server.url, Request(method="GET", url="ok"), timeout=5.0)
    assert ok.status == 200

    started = time.monotonic()
    response = await transport.send(fault_server.url, Request(method="GET", url="hang"), timeout=0.4)
    took = time.monotonic() - started

    assert response.status == 408
    assert 0.35 <= response.elapsed <= took < 1.0, "not the 5 s of the attempt before"


async def test_attempts_started_together_end_by_their_own_deadlines(
    harness: Harness, fault_server: FaultServer
) -> None:
    transport = harness.make()
    timeouts = [0.4, 0.4002, 0.3998, 0.4009, 0.6]
    started = time.monotonic()
    responses = await asyncio.gather(
        *(transport.send(fault_server.url, Request(method="GET", url="hang"), timeout=t) for t in timeouts)
    )
    took = time.monotonic() - started

    assert [response.status for response in responses] == [408] * len(timeouts)
    for timeout, response in zip(timeouts, responses, strict=True):
        assert timeout - 0.05 <= response.elapsed <= timeout + 0.2
    assert responses[-1].elapsed >= 0.55, "a longer timeout is never cut to a shorter one's"
    assert took < 1.5
