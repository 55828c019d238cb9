"""The leak watch is not blind: it reports each kind of leftover the other tests rule out."""

from __future__ import annotations

import asyncio
import gc

import aiohttp

from tests.integration.transports.fault_server import FaultServer

from .leaks import LeakWatch


async def test_a_task_left_running_is_reported() -> None:
    with LeakWatch() as watch:
        task = asyncio.create_task(asyncio.sleep(10))
        await asyncio.sleep(0)
        assert any("task left running" in problem for problem in watch.problems())
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert watch.problems() == []


async def test_a_coroutine_never_awaited_is_reported() -> None:
    async def work() -> None:
        pass

    with LeakWatch() as watch:
        coroutine = work()
        del coroutine
        gc.collect()
        assert any("was never awaited" in problem for problem in watch.problems())


async def test_an_aiohttp_response_nobody_closed_is_reported(fault_server: FaultServer) -> None:
    """While its connection is held the response stays reachable (tests check the connector);
    once the session is closed it is collected, and reported."""
    with LeakWatch() as watch:
        async with aiohttp.ClientSession() as session:
            response = await session.get(fault_server.url / "stall-body")
            assert response.status == 200
            del response
        problems = watch.problems()
    assert any("Unclosed response" in problem for problem in problems), problems
