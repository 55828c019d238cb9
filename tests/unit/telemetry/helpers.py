"""Shared pieces of the telemetry tests: a recording listener and a client on a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import aio_request
from aio_request.events import Event, EventHub
from aio_request.http.response import Response
from aio_request.testing import FakeClock, FakeTransport

ENDPOINT = "http://svc.test/"
T = TypeVar("T")


class Recorder:
    """A listener keeping every event it gets."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of(self, event_type: type[T]) -> list[T]:
        """The recorded events of one class, in order."""
        return [event for event in self.events if isinstance(event, event_type)]

    def names(self) -> list[str]:
        """The class names of the recorded events, in order."""
        return [type(event).__name__ for event in self.events]


def recorded_hub() -> tuple[EventHub, Recorder]:
    """A fresh hub with a recorder subscribed to everything."""
    hub = EventHub()
    recorder = Recorder()
    hub.subscribe(recorder)
    return hub, recorder


def client(
    hub: EventHub,
    handler: Callable[..., Response] | None = None,
    *,
    clock: FakeClock | None = None,
    latency: float | Callable[[aio_request.Request], float] = 0.0,
    routes: dict[tuple[str, str], Any] | None = None,
    **options: Any,
) -> tuple[aio_request.Client, FakeTransport]:
    """A client of ``ENDPOINT`` over a fake transport, without budgets unless asked for."""
    clock = clock if clock is not None else FakeClock()
    transport = FakeTransport(handler, routes=routes, latency=latency, clock=clock)
    options.setdefault("retry_budget", None)
    options.setdefault("hedge_budget", None)
    options.setdefault(
        "safe_method_strategy",
        aio_request.sequential_strategy(delays_provider=aio_request.constant_delays()),
    )
    built = aio_request.setup(transport=transport, endpoint=ENDPOINT, clock=clock, event_hub=hub, **options)
    return built, transport


async def status_of(client: aio_request.Client, request: aio_request.Request) -> int:
    """Send ``request`` and return the status the caller gets."""
    async with client.request(request) as response:
        return response.status
