"""The seeded workload: the same calls, due at the same times, for every scenario.

The arrivals are an open-loop Poisson process drawn from the seed and scaled to the run's
duration, so every scenario sends its n-th call at the same moment whatever its strategy does.
At most ``concurrency`` calls of a scenario are in flight; a call that has to wait for a slot
waits in the queue, and its latency counts from the moment it was due (as its caller would
see it), not from when it was sent.

Which calls a budget limited, and how many attempts each call started, is learned from the
client's events: :class:`~aio_request.events.BudgetExhausted` and
:class:`~aio_request.events.AttemptStarted` are emitted in the task of the call (or of its
attempt, which inherits the call's context), where a context variable names the call's record.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import random
from collections.abc import Callable, Sequence

from aio_request import Client, Header, get
from aio_request.demo.service import WINDOW_HEADER
from aio_request.events import AttemptStarted, BudgetExhausted, Event

UNEXPECTED_ERROR_STATUS = 0
"""The status recorded for a call that raised instead of returning a response."""


@dataclasses.dataclass(slots=True)
class CallRecord:
    """One call: when it was due (seconds into the run), its latency and what it got."""

    due: float
    latency: float = 0.0
    status: int = UNEXPECTED_ERROR_STATUS
    fast_failed: bool = False
    """Answered by the open circuit breaker without reaching the server."""
    budget_limited: bool = False
    """A budget refused at least one extra attempt of this call."""
    attempts: int = 0
    """Attempts the client started (circuit-breaker fallbacks included; the server counts hits)."""
    error: str | None = None
    """The exception type's name when the call raised (never expected)."""

    @property
    def succeeded(self) -> bool:
        """Whether the caller got a 2xx response."""
        return 200 <= self.status < 300


_CURRENT_CALL: contextvars.ContextVar[CallRecord | None] = contextvars.ContextVar(
    "aio_request_demo_call", default=None
)


def call_listener(event: Event) -> None:
    """An event listener that counts the current call's attempts and budget refusals."""
    if isinstance(event, AttemptStarted):
        record = _CURRENT_CALL.get()
        if record is not None:
            record.attempts += 1
    elif isinstance(event, BudgetExhausted):
        record = _CURRENT_CALL.get()
        if record is not None:
            record.budget_limited = True


def arrival_times(calls: int, duration: float, seed: int) -> list[float]:
    """``calls`` Poisson arrival times from ``seed``, scaled to fall within ``[0, duration)``."""
    rng = random.Random(f"arrivals-{seed}")
    gaps = [rng.expovariate(1.0) for _ in range(calls + 1)]
    scale = duration / sum(gaps)
    times = []
    elapsed = 0.0
    for gap in gaps[:calls]:
        elapsed += gap
        times.append(elapsed * scale)
    return times


async def _call(
    client: Client,
    index: int,
    window: str,
    record: CallRecord,
    due_at: float,
    slots: asyncio.Semaphore,
    on_done: Callable[[], None],
) -> None:
    loop = asyncio.get_running_loop()
    _CURRENT_CALL.set(record)
    try:
        request = get("items/{id}", path_parameters={"id": index}, headers={WINDOW_HEADER: window})
        async with client.request(request) as response:
            record.status = response.status
            record.fast_failed = Header.X_CIRCUIT_BREAKER in response.headers
    except Exception as error:
        # A demo that stops at the first surprise would hide every other result; count it.
        record.status = UNEXPECTED_ERROR_STATUS
        record.error = type(error).__name__
    finally:
        record.latency = loop.time() - due_at
        slots.release()
        on_done()


async def run_workload(
    client: Client,
    due: Sequence[float],
    windows: Sequence[str],
    *,
    started_at: float,
    concurrency: int,
    on_done: Callable[[], None] = lambda: None,
) -> list[CallRecord]:
    """Send one call per ``due`` time (seconds after loop time ``started_at``) and await them all.

    ``windows[i]`` names the timeline window call ``i`` is due in; it travels as a header so the
    service counts the call's hits in that window.

    ``on_done`` is called after every finished call (for a progress bar). Cancellation cancels
    every call in flight and waits for them.
    """
    loop = asyncio.get_running_loop()
    slots = asyncio.Semaphore(concurrency)
    records = [CallRecord(due=offset) for offset in due]
    async with asyncio.TaskGroup() as calls:
        for index, record in enumerate(records):
            due_at = started_at + record.due
            wait = due_at - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            await slots.acquire()
            calls.create_task(_call(client, index, windows[index], record, due_at, slots, on_done))
    return records
