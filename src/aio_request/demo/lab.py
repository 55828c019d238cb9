"""The lab run: the scenarios in two passes, each on one timeline, against their own services.

The scenarios of a pass run concurrently and in lockstep — the n-th call of every scenario is
due at the same moment — so they face the same incidents at the same time and share whatever
noise the machine adds (other processes, garbage collection): the comparison stays fair on a
busy laptop. The first pass runs the phases without a breaker (strategies alone, ``setup()``
defaults), the second the two breakers side by side; both replay the same timeline and the same
seeded draws, and running them apart keeps eight clients, not sixteen, in one process at once.
Everything started here (the server, the client sessions, every call) is stopped and awaited
before :func:`run_lab` returns or raises, also when it is cancelled (Ctrl-C).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
from collections.abc import Callable, Iterator, Mapping
from contextlib import AsyncExitStack

import aiohttp
import yarl

from aio_request import AioHttpTransport
from aio_request.demo.outcomes import Timeline
from aio_request.demo.profile import Profile
from aio_request.demo.scenarios import ATTEMPTS, Scenario, build_client, scenarios
from aio_request.demo.service import WARM_UP_PATH, ReplayedService, serve
from aio_request.demo.stats import Summary, summarize, summarize_windows
from aio_request.demo.workload import CallRecord, arrival_times, call_listener, run_workload
from aio_request.events import EventHub

_LEAD_TIME = 0.3
"""Seconds between the warm-up and the first call being due."""

_GC_THRESHOLD = 100_000
"""Allocations between two young-generation collections during the run (default 700)."""

WARM_UP_CONNECTIONS = 16
"""Connections each scenario's session opens (and keeps) before the run starts."""


@contextlib.contextmanager
def _quiet_garbage_collector() -> Iterator[None]:
    """Freeze what exists and collect rarely while the run lasts.

    Eight clients and eight services share one process: with the default thresholds the
    collector runs ~100 times a second and its longest pauses (tens of ms) would show up as
    tail latency of whichever strategy happened to be waiting — noise of the lab, not of the
    strategies. Frozen objects are never scanned; the thresholds are restored afterwards.
    """
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(_GC_THRESHOLD, thresholds[1], thresholds[2])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


async def _warm_up(session: aiohttp.ClientSession, endpoint: yarl.URL) -> None:
    """Open connections and run every code path once, so the first calls do not pay for it."""

    async def one() -> None:
        async with session.get(endpoint / WARM_UP_PATH) as response:
            await response.read()

    async with asyncio.TaskGroup() as group:
        for _ in range(WARM_UP_CONNECTIONS):
            group.create_task(one())


@dataclasses.dataclass(frozen=True, slots=True)
class LabSettings:
    """What to run: ``calls`` per scenario over ``duration`` seconds, ``concurrency`` in flight."""

    profile: Profile
    calls: int
    duration: float
    concurrency: int
    seed: int


@dataclasses.dataclass(frozen=True, slots=True)
class ScenarioResult:
    """One scenario's calls, their summary overall and per timeline window, server statuses."""

    scenario: Scenario
    records: list[CallRecord]
    summary: Summary
    windows: Mapping[str, Summary]
    server_statuses: Mapping[int, int]


@dataclasses.dataclass(frozen=True, slots=True)
class LabResult:
    """Every scenario's result, in display order, and the timeline's window names."""

    settings: LabSettings
    results: tuple[ScenarioResult, ...]
    windows: tuple[str, ...]


async def _run_scenarios(
    settings: LabSettings,
    plan: tuple[Scenario, ...],
    services: Mapping[str, ReplayedService],
    endpoint_of: Callable[[str], yarl.URL],
    on_call_done: Callable[[], None],
) -> dict[str, list[CallRecord]]:
    loop = asyncio.get_running_loop()
    due = arrival_times(settings.calls, settings.duration, settings.seed)
    timeline = Timeline(settings.profile)
    windows = [timeline.at(offset / settings.duration)[0] for offset in due]
    async with AsyncExitStack() as stack:
        clients = {}
        for scenario in plan:
            connector = aiohttp.TCPConnector(limit=settings.concurrency * ATTEMPTS)
            session = await stack.enter_async_context(aiohttp.ClientSession(connector=connector))
            await _warm_up(session, endpoint_of(scenario.key))
            hub = EventHub()
            hub.subscribe(call_listener)
            clients[scenario.key] = build_client(
                scenario,
                transport=AioHttpTransport(session),
                endpoint=endpoint_of(scenario.key),
                profile=settings.profile,
                duration=settings.duration,
                event_hub=hub,
            )
        started_at = loop.time() + _LEAD_TIME
        for scenario in plan:
            services[scenario.key].start_timeline(started_at, settings.duration)
        # Scenario k's calls are due k/len(plan) of a mean gap later than scenario 0's: the same
        # schedule, without every scenario's call landing on the event loop in the same instant.
        stagger = settings.duration / settings.calls / len(plan)
        async with asyncio.TaskGroup() as group:
            tasks = {
                key: group.create_task(
                    run_workload(
                        client,
                        due,
                        windows,
                        started_at=started_at + index * stagger,
                        concurrency=settings.concurrency,
                        on_done=on_call_done,
                    )
                )
                for index, (key, client) in enumerate(clients.items())
            }
    return {key: task.result() for key, task in tasks.items()}


def _passes(plan: tuple[Scenario, ...]) -> list[tuple[Scenario, ...]]:
    """The scenarios without a breaker, then those with one (each group keeps its order)."""
    groups = (
        tuple(s for s in plan if s.phase.breaker is None),
        tuple(s for s in plan if s.phase.breaker is not None),
    )
    return [group for group in groups if group]


async def run_lab(settings: LabSettings, on_call_done: Callable[[], None] = lambda: None) -> LabResult:
    """Start the services, run every scenario, stop everything and return the results.

    ``on_call_done`` is called after each finished call of any scenario (for a progress bar).
    """
    plan = scenarios(settings.profile)
    services = {scenario.key: ReplayedService(settings.profile, settings.seed) for scenario in plan}
    records: dict[str, list[CallRecord]] = {}
    async with serve(services) as server:
        with _quiet_garbage_collector():
            for group in _passes(plan):
                records.update(await _run_scenarios(settings, group, services, server.endpoint, on_call_done))
    timeline = Timeline(settings.profile)
    results = []
    for scenario in plan:
        service = services[scenario.key]
        calls = records[scenario.key]
        results.append(
            ScenarioResult(
                scenario=scenario,
                records=calls,
                summary=summarize(calls, service.hits),
                windows=summarize_windows(calls, service.hits_by_window, timeline, settings.duration),
                server_statuses=dict(sorted(service.statuses.items())),
            )
        )
    return LabResult(settings=settings, results=tuple(results), windows=timeline.names)
