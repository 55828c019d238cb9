"""The lab in-process: every scenario runs, and everything it starts is stopped and awaited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from aio_request.demo import lab
from aio_request.demo.lab import LabSettings, run_lab
from aio_request.demo.profile import load_profile
from aio_request.demo.scenarios import PHASES
from aio_request.demo.service import LabServer, ReplayedService, serve


def tiny(calls: int = 60, duration: float = 1.0) -> LabSettings:
    return LabSettings(profile=load_profile(), calls=calls, duration=duration, concurrency=16, seed=1)


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch) -> list[LabServer]:
    """Record the servers the lab starts."""
    started: list[LabServer] = []

    @asynccontextmanager
    async def recording(services: dict[str, ReplayedService]) -> AsyncIterator[LabServer]:
        async with serve(services) as server:
            started.append(server)
            yield server

    monkeypatch.setattr(lab, "serve", recording)
    return started


async def assert_port_closed(port: int) -> None:
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_every_scenario_makes_every_call_and_the_server_stops(servers: list[LabServer]) -> None:
    tasks_before = asyncio.all_tasks()
    result = await run_lab(tiny())
    assert [r.scenario.phase for r in result.results] == [phase for phase in PHASES for _ in range(4)]
    for run in result.results:
        assert len(run.records) == 60
        assert run.summary.calls == 60
        assert run.summary.errors == 0
        assert run.summary.calls - run.summary.fast_failed <= run.summary.server_hits
        assert run.summary.server_hits <= sum(r.attempts for r in run.records)
    assert asyncio.all_tasks() == tasks_before
    await assert_port_closed(servers[0].port)


async def test_cancelling_the_lab_stops_every_server_and_task(servers: list[LabServer]) -> None:
    tasks_before = asyncio.all_tasks()
    running = asyncio.create_task(run_lab(tiny(calls=400, duration=8.0)))
    await asyncio.sleep(1.0)
    assert servers, "the lab should have started its server by now"
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert asyncio.all_tasks() == tasks_before
    await assert_port_closed(servers[0].port)
