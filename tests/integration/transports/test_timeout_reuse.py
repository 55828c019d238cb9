"""An attempt may reuse the previous attempt's timeout only when that one is not longer."""

from __future__ import annotations

import asyncio
import math
import time
from types import SimpleNamespace

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aio_request.http.request import Request
from aio_request.transports.aiohttp import AioHttpTransport

from .conftest import Harness
from .fault_server import FaultServer

pytestmark = pytest.mark.timeout(30)

_SESSION_STANDIN = SimpleNamespace(timeout=aiohttp.ClientTimeout(total=None))
"""What ``AioHttpTransport._client_timeout`` reads of a session: its ``timeout``."""


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


@given(lefts=st.lists(st.floats(min_value=1e-6, max_value=1e6), min_size=1, max_size=30))
@settings(max_examples=200, deadline=None)
def test_a_shared_client_timeout_is_never_longer_and_at_most_1_ms_shorter(lefts: list[float]) -> None:
    transport = AioHttpTransport(_SESSION_STANDIN)  # type: ignore[arg-type]
    for left in lefts:
        total = transport._client_timeout(left).total
        assert total is not None
        assert left - 0.001 <= total <= left
        assert transport._client_timeout(left).ceil_threshold == math.inf


def test_client_timeouts_are_shared_within_a_millisecond_only() -> None:
    transport = AioHttpTransport(_SESSION_STANDIN)  # type: ignore[arg-type]
    first = transport._client_timeout(5.0)
    assert transport._client_timeout(5.0005) is first
    second = transport._client_timeout(4.9995)
    assert second is not first, "never longer than what is left"
    assert transport._client_timeout(5.0) is second
    assert transport._client_timeout(5.002) is not second, "never more than 1 ms shorter"


def test_the_session_timeout_caps_the_total_and_keeps_its_other_fields() -> None:
    session = SimpleNamespace(timeout=aiohttp.ClientTimeout(total=2.0, connect=1.0, sock_read=0.5))
    transport = AioHttpTransport(session)  # type: ignore[arg-type]
    timeout = transport._client_timeout(10.0)
    assert (timeout.total, timeout.connect, timeout.sock_read) == (2.0, 1.0, 0.5)
    assert transport._client_timeout(math.inf).total == 2.0
    session.timeout = aiohttp.ClientTimeout(total=None)
    assert transport._client_timeout(math.inf).total is None, "no limit at all: no total"
    assert transport._client_timeout(10.0).total == 10.0, "a new session timeout is not the shared one"


def test_no_time_left_raises_timeout_rather_than_meaning_no_limit() -> None:
    transport = AioHttpTransport(_SESSION_STANDIN)  # type: ignore[arg-type]
    with pytest.raises(TimeoutError):
        transport._client_timeout(0.0)
