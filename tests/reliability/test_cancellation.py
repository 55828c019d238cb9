"""Cancelling the caller at random points never leaves anything behind, on both transports.

A seeded generator picks each cancellation point: a number of event-loop turns (0 cancels
before the first attempt is sent) or a time within the first half second, which lands in a
connect, mid-body, in the delay before a retry or a hedge, or in the caller's own block while
it reads an unbuffered body. After the cancelled calls, no task of the library remains, no
connection is held, nothing warns (checked after ``gc.collect()``), and the next request on the
same client works.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import random
from typing import Any

import pytest

import aio_request
from aio_request import Client, ClosableResponse, RequestStrategy
from tests.integration.transports.conftest import Harness
from tests.integration.transports.fault_server import FaultServer

from .leaks import LeakWatch

pytestmark = pytest.mark.timeout(60)

SEEDS_PER_SCENARIO = 12


@dataclasses.dataclass(frozen=True)
class Scenario:
    """A strategy, the fault server path it calls (``{key}``: unique per call), buffering."""

    strategy: RequestStrategy
    path: str
    buffer_payload: bool = True


SCENARIOS = {
    "single, body stalls in the transport": Scenario(aio_request.single_attempt_strategy(), "stall-body"),
    "single, body trickles in the caller's block": Scenario(
        aio_request.single_attempt_strategy(), "trickle", buffer_payload=False
    ),
    "sequential, during the delays between 503s": Scenario(
        aio_request.sequential_strategy(delays_provider=aio_request.constant_delays(delay=0.15)),
        "status/503",
    ),
    "sequential, attempt never answered": Scenario(aio_request.sequential_strategy(), "hang"),
    "hedged, bodies stall": Scenario(
        aio_request.parallel_strategy(delays_provider=aio_request.constant_delays(delay=0.1)), "stall-body"
    ),
    "hedged, bodies stall in the caller's block": Scenario(
        aio_request.parallel_strategy(delays_provider=aio_request.constant_delays(delay=0.1)),
        "first/hang/{key}",
        buffer_payload=False,
    ),
}


_keys = itertools.count()


async def _call(client: Client, scenario: Scenario) -> None:
    request = aio_request.get(scenario.path, path_parameters={"key": next(_keys)})
    async with client.request(request, strategy=scenario.strategy) as response:
        await response.read()


async def _cancel_at(client: Client, scenario: Scenario, point: tuple[str, Any]) -> str:
    task = asyncio.create_task(_call(client, scenario))
    kind, value = point
    if kind == "turns":
        for _ in range(value):
            await asyncio.sleep(0)
    else:
        await asyncio.sleep(value)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        return "cancelled"
    return "finished"


def _points(seed: int) -> list[tuple[str, Any]]:
    """Cancellation points: ``("turns", n)`` loop turns or ``("seconds", s)``; the first is 0 turns."""
    rng = random.Random(seed)
    points: list[tuple[str, Any]] = [("turns", 0)]
    while len(points) < SEEDS_PER_SCENARIO:
        if rng.random() < 0.3:
            points.append(("turns", rng.randrange(1, 40)))
        else:
            points.append(("seconds", round(rng.uniform(0.0, 0.5), 3)))
    return points


@pytest.mark.parametrize("scenario_name", list(SCENARIOS))
async def test_cancelled_calls_leave_nothing_behind_and_the_client_keeps_working(
    harness: Harness, fault_server: FaultServer, leak_watch: LeakWatch, scenario_name: str
) -> None:
    scenario = SCENARIOS[scenario_name]
    client = aio_request.setup(
        transport=harness.make(buffer_payload=scenario.buffer_payload),
        endpoint=fault_server.url,
        timeout=5.0,
        retry_budget=None,
        hedge_budget=None,
    )
    points = _points(seed=sorted(SCENARIOS).index(scenario_name))

    outcomes = await asyncio.gather(*(_cancel_at(client, scenario, point) for point in points))

    assert "cancelled" in outcomes
    assert harness.in_flight() == 0, "a cancelled call still holds a connection"
    leak_watch.assert_clean()
    async with client.request(aio_request.get("ok")) as response:
        assert response.status == 200
        assert await response.json() == {"ok": True}


async def test_cancelling_the_caller_inside_its_block_closes_the_unbuffered_response(
    harness: Harness, fault_server: FaultServer, leak_watch: LeakWatch
) -> None:
    client = aio_request.setup(transport=harness.make(buffer_payload=False), endpoint=fault_server.url)
    inside = asyncio.Event()

    async def hold_the_response() -> None:
        async with client.request(aio_request.get("stall-body")) as response:
            assert response.status == 200
            inside.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(hold_the_response())
    await inside.wait()
    assert harness.in_flight() == 1
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

    assert harness.in_flight() == 0
    leak_watch.assert_clean()
    await fault_server.wait_until(lambda: fault_server.open_connections <= 1)


@pytest.mark.parametrize("buffer_payload", [True, False], ids=["cancel-send", "cancel-read"])
async def test_cancelling_at_every_loop_turn_releases_the_connection(
    harness: Harness, fault_server: FaultServer, leak_watch: LeakWatch, buffer_payload: bool
) -> None:
    """Walks the cancellation through every await of an attempt, one loop turn at a time: the
    send (connect, headers, buffered body, release) or the read of an unbuffered body."""
    transport = harness.make(buffer_payload=buffer_payload)

    async def attempt() -> None:
        response = await transport.send(fault_server.url, aio_request.get("ok"), 5.0)
        try:
            await response.read()
        finally:
            await response.close()

    leaked_at: list[int] = []
    for turns in range(40):
        response = None
        if buffer_payload:
            task = asyncio.create_task(attempt())
        else:
            response = await transport.send(fault_server.url, aio_request.get("ok"), 5.0)
            task = asyncio.create_task(_read(response))
        for _ in range(turns):
            await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if response is not None:
            await response.close()
        if harness.in_flight():
            leaked_at.append(turns)
            break

    assert leaked_at == [], f"a connection stays in use after a cancellation {leaked_at[0]} loop turns in"


async def _read(response: ClosableResponse) -> None:
    await response.read()
