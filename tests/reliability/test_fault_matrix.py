"""Every fault of the loopback fault server, under every strategy, over both transports.

Each case goes through ``aio_request.setup(...)`` and ``client.request(...)`` with a 1 s
deadline (the client's ``timeout``) and must come back within :data:`SLACK` (0.5 s) of it, with
the status of API.md — 489 network error, 488 too many redirects, 408 timeout, or the
server's own 503/429 — and without raising. The three strategies of a case run concurrently
over one client, so the slow cases (hang, full backlog, stalls, trickles) cost about one
deadline each. Retry and hedge budgets are off, so every attempt a strategy wants is sent:
the most work a fault can cause.

Afterwards no connection may be held, no task left, no warning or loop error raised.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest
import yarl

import aio_request
from aio_request import Client, Request, RequestStrategy
from tests.integration.transports.conftest import Harness
from tests.integration.transports.fault_server import FaultServer

pytestmark = pytest.mark.timeout(30)

DEADLINE = 1.0
"""Seconds: the client's timeout, so the deadline of every call."""
SLACK = 0.5
"""Seconds a call may take beyond its deadline (scheduling, closing connections)."""

STRATEGIES: dict[str, RequestStrategy] = {
    "single": aio_request.single_attempt_strategy(),
    "sequential": aio_request.sequential_strategy(),
    "parallel": aio_request.parallel_strategy(),
}


@dataclasses.dataclass(frozen=True)
class Fault:
    """Where to send the request and the statuses the caller may get."""

    request: Request
    statuses: frozenset[int]
    endpoint: str = "url"
    """The fault server's URL to use: ``url``, ``refused_url`` or ``backlog_url``."""

    @property
    def synthetic(self) -> bool:
        """Whether the status is made up by the client (so the response carries a failure)."""
        return self.statuses <= {408, 488, 489}


FAULTS: dict[str, Fault] = {
    "refused": Fault(aio_request.get("ok"), frozenset({489}), endpoint="refused_url"),
    "reset": Fault(aio_request.get("reset"), frozenset({489})),
    "never-answers": Fault(aio_request.get("hang"), frozenset({408})),
    "backlog-full": Fault(aio_request.get("ok"), frozenset({408}), endpoint="backlog_url"),
    "body-stalls": Fault(aio_request.get("stall-body"), frozenset({408})),
    "headers-trickle": Fault(aio_request.get("trickle-head"), frozenset({408})),
    "body-trickles": Fault(aio_request.get("trickle"), frozenset({408})),
    "truncated-body": Fault(aio_request.get("truncated"), frozenset({489})),
    "invalid-http": Fault(aio_request.get("invalid"), frozenset({489})),
    "bad-chunked": Fault(aio_request.get("bad-chunked"), frozenset({489})),
    "redirect-loop": Fault(aio_request.get("loop/0"), frozenset({488})),
    "redirect-to-javascript": Fault(
        aio_request.get("location", query_parameters={"to": "javascript:alert(1)"}), frozenset({489})
    ),
    "redirect-to-bad-port": Fault(
        aio_request.get("location", query_parameters={"to": "http://127.0.0.1:99999/x"}), frozenset({489})
    ),
    "huge-body": Fault(aio_request.get("big/10000000000"), frozenset({489})),
    "gzip-over-limit": Fault(aio_request.get("gzip/1000001", max_response_size=1_000_000), frozenset({489})),
    "503-retry-after-0": Fault(
        aio_request.get("status/503", query_parameters={"retry-after": "0"}), frozenset({503})
    ),
    "503-retry-after-date": Fault(
        aio_request.get("status/503", query_parameters={"retry-after": "Wed, 21 Oct 2099 07:28:00 GMT"}),
        frozenset({503}),
    ),
    "429-retry-after-120": Fault(
        aio_request.get("status/429", query_parameters={"retry-after": "120"}), frozenset({429})
    ),
}


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one call returned, and how long it took."""

    strategy: str
    status: int
    has_failure: bool
    took: float


async def call(client: Client, strategy_name: str, fault: Fault) -> Outcome:
    """One call with the named strategy, timed from before the request to after the block."""
    started = time.monotonic()
    async with client.request(fault.request, strategy=STRATEGIES[strategy_name]) as response:
        await response.read()
        status, has_failure = response.status, response.failure is not None
    return Outcome(strategy_name, status, has_failure, time.monotonic() - started)


@pytest.mark.parametrize("fault_name", list(FAULTS))
async def test_every_strategy_returns_the_documented_status_within_the_deadline(
    harness: Harness, fault_server: FaultServer, fault_name: str
) -> None:
    fault = FAULTS[fault_name]
    endpoint: yarl.URL = getattr(fault_server, fault.endpoint)
    client = aio_request.setup(
        transport=harness.make(),
        endpoint=endpoint,
        timeout=DEADLINE,
        retry_budget=None,
        hedge_budget=None,
    )

    outcomes = await asyncio.gather(*(call(client, name, fault) for name in STRATEGIES))

    for outcome in outcomes:
        assert outcome.status in fault.statuses, outcome
        assert outcome.has_failure is fault.synthetic, outcome
        assert outcome.took < DEADLINE + SLACK, outcome
    assert harness.in_flight() == 0


async def test_the_full_backlog_really_never_accepts(fault_server: FaultServer) -> None:
    """The ``backlog-full`` case tests a connect that hangs, not a refused or slow one."""
    host, port = fault_server.backlog_url.host, fault_server.backlog_url.port
    assert host is not None
    assert port is not None
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await asyncio.open_connection(host, port)
