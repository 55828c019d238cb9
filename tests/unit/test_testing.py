"""The test doubles of aio_request.testing: FakeClock and FakeTransport."""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys

import pytest
import yarl

from aio_request._core.clock import Clock
from aio_request._core.errors import FailureKind, TransportFailure
from aio_request.http.request import Request
from aio_request.http.response import BufferedResponse, ClosableResponse, EmptyResponse, Response
from aio_request.testing import FakeClock, FakeTransport, SentRequest

ENDPOINT = yarl.URL("http://svc.test/api/")


# FakeClock


def test_fake_clock_is_a_clock() -> None:
    assert isinstance(FakeClock(), Clock)


async def test_time_moves_only_when_advanced() -> None:
    clock = FakeClock(start=100.0)
    await asyncio.sleep(0.01)
    assert clock.now() == 100.0

    await clock.advance(2.5)

    assert clock.now() == 102.5


async def test_sleeper_wakes_exactly_at_its_time_and_sees_that_time() -> None:
    clock = FakeClock()
    woke_at: list[float] = []

    async def sleeper() -> None:
        await clock.sleep(1.0)
        woke_at.append(clock.now())

    task = asyncio.create_task(sleeper())
    await clock.advance(0.999)
    assert woke_at == []
    assert not task.done()

    await clock.advance(5.0)

    assert woke_at == [1.0]
    assert task.done()
    assert clock.now() == 5.999


async def test_sleepers_wake_in_time_order_and_ties_in_start_order() -> None:
    clock = FakeClock()
    order: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        order.append(name)

    tasks = [
        asyncio.create_task(sleeper(name, seconds))
        for name, seconds in [("c", 3.0), ("a1", 1.0), ("b", 2.0), ("a2", 1.0)]
    ]
    await clock.advance(10.0)

    assert order == ["a1", "a2", "b", "c"]
    assert all(task.done() for task in tasks)


async def test_code_that_sleeps_again_is_woken_again_within_one_advance() -> None:
    clock = FakeClock()
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            await clock.sleep(1.0)
            ticks.append(clock.now())

    task = asyncio.create_task(ticker())
    await clock.advance(5.5)

    assert ticks == [1.0, 2.0, 3.0, 4.0, 5.0]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cancelled_sleeper_is_skipped() -> None:
    clock = FakeClock()
    woke: list[str] = []

    async def sleeper(name: str) -> None:
        await clock.sleep(1.0)
        woke.append(name)

    cancelled = asyncio.create_task(sleeper("cancelled"))
    kept = asyncio.create_task(sleeper("kept"))
    await asyncio.sleep(0)
    assert clock.sleepers == 2
    cancelled.cancel()
    await asyncio.sleep(0)
    assert clock.sleepers == 1

    await clock.advance(1.0)

    assert woke == ["kept"]
    assert cancelled.cancelled()
    assert kept.done()
    assert clock.sleepers == 0
    assert clock.next_wake_time is None


@pytest.mark.parametrize("seconds", [0.0, -1.0, math.nan])
async def test_non_positive_sleep_returns_without_advancing(seconds: float) -> None:
    clock = FakeClock()

    await asyncio.wait_for(clock.sleep(seconds), timeout=1.0)

    assert clock.sleepers == 0


async def test_next_wake_time_is_the_earliest_waiting_sleeper() -> None:
    clock = FakeClock(start=10.0)
    tasks = [asyncio.create_task(clock.sleep(seconds)) for seconds in (3.0, 1.5)]
    await asyncio.sleep(0)

    assert clock.next_wake_time == 11.5
    await clock.advance(10)
    assert all(task.done() for task in tasks)


@pytest.mark.parametrize("seconds", [-0.1, math.inf, math.nan])
async def test_advance_refuses_negative_or_non_finite_seconds(seconds: float) -> None:
    with pytest.raises(ValueError, match="seconds must be a finite number >= 0"):
        await FakeClock().advance(seconds)


def test_invalid_clock_options_are_refused() -> None:
    with pytest.raises(ValueError, match="start must be finite"):
        FakeClock(start=math.inf)
    with pytest.raises(ValueError, match="settle_steps must be an int >= 1, got 0"):
        FakeClock(settle_steps=0)


# FakeTransport


async def test_handler_gets_the_absolute_url_and_every_attempt_is_recorded() -> None:
    seen: list[tuple[yarl.URL, Request]] = []

    def handler(url: yarl.URL, request: Request) -> Response:
        seen.append((url, request))
        return BufferedResponse(status=201, headers={"Content-Type": "application/json"}, body=b'{"id": 7}')

    transport = FakeTransport(handler)
    request = Request(method="POST", url="users/{id}", path_parameters={"id": 7}, query_parameters={"a": 1})

    response = await transport.send(ENDPOINT, request, timeout=2.5)

    assert isinstance(response, BufferedResponse)
    assert response.status == 201
    assert await response.json() == {"id": 7}
    assert response.failure is None
    url = yarl.URL("http://svc.test/api/users/7?a=1")
    assert seen == [(url, request)]
    assert transport.requests == [SentRequest(endpoint=ENDPOINT, url=url, request=request, timeout=2.5)]


async def test_async_handler_is_awaited() -> None:
    async def handler(url: yarl.URL, request: Request) -> Response:
        await asyncio.sleep(0)
        return BufferedResponse(status=200, body=url.path.encode())

    transport = FakeTransport(handler)

    response = await transport.send(ENDPOINT, Request(method="GET", url="ping"), timeout=1.0)

    assert await response.read() == b"/api/ping"


async def test_routes_match_method_and_template_before_the_handler() -> None:
    """Methods match case-insensitively and a leading "/" of a template is ignored."""
    user = BufferedResponse(status=200, body=b"user")
    transport = FakeTransport(
        lambda url, request: EmptyResponse(status=404),
        routes={
            ("get", "/users/{id}"): user,
            ("DELETE", "users/{id}"): lambda url, request: EmptyResponse(status=204),
        },
    )

    async def send(method: str) -> ClosableResponse:
        request = Request(method=method, url="users/{id}", path_parameters={"id": 1})
        return await transport.send(ENDPOINT, request, timeout=1.0)

    first = await send("GET")
    deleted = await send("DELETE")
    other = await send("PUT")

    assert (first.status, await first.read()) == (200, b"user")
    assert deleted.status == 204
    assert other.status == 404


async def test_unrouted_request_without_handler_raises_lookup_error() -> None:
    transport = FakeTransport(routes={("GET", "known"): EmptyResponse(status=200)})

    with pytest.raises(LookupError, match="no route for GET 'unknown'"):
        await transport.send(ENDPOINT, Request(method="GET", url="unknown"), timeout=1.0)
    assert len(transport.requests) == 1


async def test_latency_is_spent_on_the_clock_and_reported_as_elapsed() -> None:
    clock = FakeClock()
    transport = FakeTransport(lambda url, request: EmptyResponse(status=200), latency=0.3, clock=clock)

    task = asyncio.create_task(transport.send(ENDPOINT, Request(method="GET", url="x"), timeout=1.0))
    await clock.advance(0.29)
    assert not task.done()
    await clock.advance(0.01)

    response = await task
    assert response.status == 200
    assert response.elapsed == pytest.approx(0.3)


async def test_latency_not_shorter_than_the_timeout_gives_a_synthetic_408() -> None:
    clock = FakeClock()
    transport = FakeTransport(
        lambda url, request: EmptyResponse(status=200),
        latency=lambda request: 5.0 if request.url.path == "slow" else 0.0,
        clock=clock,
    )

    fast = await transport.send(ENDPOINT, Request(method="GET", url="fast"), timeout=1.0)
    task = asyncio.create_task(transport.send(ENDPOINT, Request(method="GET", url="slow"), timeout=1.0))
    await clock.advance(1.0)
    slow = await task

    assert fast.status == 200
    assert isinstance(slow, EmptyResponse)
    assert slow.status == 408
    assert slow.elapsed == 1.0
    assert slow.failure is not None
    assert slow.failure.kind is FailureKind.TIMEOUT


async def test_handler_response_is_copied_closed_and_keeps_its_failure() -> None:
    failure = TransportFailure(FailureKind.CONNECT, ConnectionRefusedError())

    class Tracked(BufferedResponse):
        closed = False

        async def close(self) -> None:
            Tracked.closed = True

    original = Tracked(status=489, body=b"", failure=failure)
    transport = FakeTransport(lambda url, request: original)

    response = await transport.send(ENDPOINT, Request(method="GET", url="x"), timeout=1.0)

    assert response is not original
    assert isinstance(response, BufferedResponse)
    assert response.status == 489
    assert response.failure is failure
    assert Tracked.closed


def test_testing_module_imports_neither_aiohttp_nor_httpx() -> None:
    code = (
        "import sys, aio_request.testing; "
        "assert not {'aiohttp', 'httpx'} & set(sys.modules), sorted({'aiohttp', 'httpx'} & set(sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


async def test_an_autojump_clock_runs_a_long_schedule_without_waiting() -> None:
    """With ``autojump=True`` sleeps end at once, in time order, at the exact fake times."""
    clock = FakeClock(start=5.0, autojump=True)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, delays: list[float]) -> None:
        for delay in delays:
            await clock.sleep(delay)
            woke.append((name, clock.now()))

    await asyncio.gather(sleeper("a", [10.0, 10.0]), sleeper("b", [15.0, 0.5]))
    assert woke == [("a", 15.0), ("b", 20.0), ("b", 20.5), ("a", 25.0)]
    assert clock.sleepers == 0


async def test_an_autojump_clock_skips_cancelled_sleepers() -> None:
    clock = FakeClock(autojump=True)
    forever = asyncio.ensure_future(clock.sleep(1000.0))
    await asyncio.sleep(0)
    forever.cancel()
    await clock.sleep(1.0)
    assert clock.now() == 1.0


def test_autojump_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="autojump must be a bool"):
        FakeClock(autojump=1)  # type: ignore[arg-type]
