"""Test doubles for code that uses the client: an in-memory transport and a fake clock.

:class:`FakeTransport` answers attempts without a network, from a route table or a handler,
and records every attempt with the timeout it was given::

    transport = FakeTransport(routes={("GET", "users/{id}"): BufferedResponse(status=200, body=b"{}")})
    client = aio_request.setup(transport=transport, endpoint="http://users.test/")
    async with client.request(aio_request.get("users/{id}", path_parameters={"id": 1})) as response:
        assert response.status == 200
    assert transport.requests[0].url == yarl.URL("http://users.test/users/1")

:class:`FakeClock` implements the library's clock protocol (``now()``, ``async sleep()``) with
time that only moves when a test calls :meth:`FakeClock.advance`, so time-dependent logic
(delays, latency, refresh intervals) is tested without real sleeps.

This module imports neither aiohttp nor httpx.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import inspect
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeAlias

import yarl

from aio_request._core.clock import MONOTONIC_CLOCK, Clock
from aio_request._core.errors import FailureKind, TransportFailure
from aio_request.http.request import Request
from aio_request.http.response import BufferedResponse, ClosableResponse, EmptyResponse, Response
from aio_request.http.transport import Transport

__all__ = ["FakeClock", "FakeTransport", "FakeTransportHandler", "SentRequest"]

FakeTransportHandler: TypeAlias = Callable[[yarl.URL, Request], Response | Awaitable[Response]]
"""Answers one attempt: gets the absolute URL and the request, returns (or awaits) a response."""


@dataclasses.dataclass(frozen=True, slots=True)
class SentRequest:
    """One attempt a :class:`FakeTransport` received."""

    endpoint: yarl.URL
    """The endpoint passed to :meth:`FakeTransport.send`."""
    url: yarl.URL
    """The absolute URL the request would have been sent to."""
    request: Request
    """The request as the transport got it (with system headers and enrichment applied)."""
    timeout: float
    """The attempt's timeout in seconds."""


def _route_path(template: str) -> str:
    return template.lstrip("/")


class FakeTransport(Transport):
    """An in-memory :class:`~aio_request.http.transport.Transport` for unit tests.

    Each attempt is answered by the first of:

    - ``routes``: a mapping of ``(method, url template)`` to a :class:`Response` or a handler;
      the template is matched against the request's template as written, so
      ``("GET", "users/{id}")`` answers every user id (a leading ``/`` is ignored);
    - ``handler``: called with the absolute URL and the request for anything not routed;
    - otherwise :class:`LookupError` is raised, so an unexpected request fails the test loudly.

    ``latency`` (0) is the simulated time an attempt takes, a number or a function of the
    request, spent with ``clock.sleep`` (pass a :class:`FakeClock` to make it free). When it
    is not shorter than the attempt's timeout, the transport sleeps the timeout and answers a
    synthetic ``408`` with a :class:`~aio_request._core.errors.TransportFailure` of kind ``TIMEOUT``,
    as real transports do; the handler's own run time is not bounded.

    Whatever the route or handler returns is copied into a fresh :class:`BufferedResponse`
    (its ``failure`` kept, a closable original closed) whose ``elapsed`` is the simulated
    latency. Every attempt is appended to :attr:`requests` before it is answered. To simulate a
    network failure, answer e.g. ``EmptyResponse(status=489, failure=TransportFailure(
    FailureKind.CONNECT))``.
    """

    __slots__ = ("_clock", "_handler", "_latency", "_routes", "requests")

    requests: list[SentRequest]
    """Every attempt received, in order."""

    def __init__(
        self,
        handler: FakeTransportHandler | None = None,
        *,
        routes: Mapping[tuple[str, str], Response | FakeTransportHandler] | None = None,
        latency: float | Callable[[Request], float] = 0.0,
        clock: Clock = MONOTONIC_CLOCK,
    ) -> None:
        self._handler = handler
        self._routes = {
            (method.upper(), _route_path(template)): answer
            for (method, template), answer in (routes or {}).items()
        }
        self._latency = latency
        self._clock = clock
        self.requests = []

    async def send(self, endpoint: yarl.URL, request: Request, timeout: float) -> ClosableResponse:
        """Record the attempt, wait the simulated latency, then answer it (see the class doc)."""
        url = request.build_url(endpoint)
        self.requests.append(SentRequest(endpoint=endpoint, url=url, request=request, timeout=timeout))
        started = self._clock.now()
        latency = self._latency(request) if callable(self._latency) else self._latency
        if latency >= timeout:
            await self._clock.sleep(timeout)
            failure = TransportFailure(FailureKind.TIMEOUT, TimeoutError(f"simulated latency {latency}s"))
            return EmptyResponse(status=408, elapsed=self._clock.now() - started, failure=failure)
        if latency > 0:
            await self._clock.sleep(latency)
        answer = self._routes.get((request.method, _route_path(request.url.path)), self._handler)
        if answer is None:
            raise LookupError(f"FakeTransport has no route for {request.method} {request.url.path!r}")
        if isinstance(answer, Response):
            response = answer
        else:
            result = answer(url, request)
            response = await result if inspect.isawaitable(result) else result
        try:
            body = await response.read()
        finally:
            if isinstance(response, ClosableResponse) and response is not answer:
                await response.close()
        return BufferedResponse(
            status=response.status,
            headers=response.headers,
            body=body,
            elapsed=self._clock.now() - started,
            failure=response.failure,
        )


@dataclasses.dataclass(order=True)
class _Sleeper:
    wake_at: float
    order: int
    future: asyncio.Future[None] = dataclasses.field(compare=False)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class FakeClock:
    """A :class:`~aio_request._core.clock.Clock` whose time moves only when told to.

    ``sleep(seconds)`` parks the caller on a future until the clock reaches ``now() + seconds``
    (zero or negative sleeps just yield to the loop). Time moves in one of two ways:

    * ``await advance(seconds)``: first lets the event loop run ``settle_steps`` (10)
      iterations, so tasks just started reach their sleeps; then it walks time forward through
      the due wake-up times in order (ties in the order the sleeps started): at each it sets
      :meth:`now`, wakes those sleepers and lets the loop run ``settle_steps`` iterations again,
      so woken code that sleeps again inside the advanced span is woken again in the same call.
    * ``autojump=True`` (as trio's ``MockClock`` autojump): whenever someone sleeps, the clock
      lets the loop run ``settle_steps`` iterations (so other tasks reach their own sleeps),
      then jumps straight to the earliest wake-up time, and so on while anyone sleeps. A test then
      just awaits the code under test: a 30 s retry schedule runs in milliseconds. Use it for
      code that waits only on this clock and on other tasks, not on real I/O (the clock would
      jump while a socket is waited on).

    Give more ``settle_steps`` if woken code needs more loop iterations to reach its next sleep.
    Cancelled sleepers are simply skipped. Not thread-safe; use it from one event loop.

    >>> clock = FakeClock(start=100.0)
    >>> clock.now()
    100.0
    """

    __slots__ = ("_autojump", "_jump_pending", "_now", "_order", "_settle_steps", "_sleepers")

    def __init__(self, start: float = 0.0, *, settle_steps: int = 10, autojump: bool = False) -> None:
        if not math.isfinite(start):
            raise ValueError(f"start must be finite, got {start!r}")
        if isinstance(settle_steps, bool) or not isinstance(settle_steps, int) or settle_steps < 1:
            raise ValueError(f"settle_steps must be an int >= 1, got {settle_steps!r}")
        if not isinstance(autojump, bool):
            raise TypeError(f"autojump must be a bool, got {autojump!r}")
        self._now = float(start)
        self._settle_steps = settle_steps
        self._autojump = autojump
        self._jump_pending = False
        self._sleepers: list[_Sleeper] = []
        self._order = 0

    def now(self) -> float:
        """The fake current time in seconds."""
        return self._now

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock has been advanced by ``seconds``."""
        if not seconds > 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()  # noqa: TID251 (a future, not a task; this is a clock)
        self._add_sleeper(seconds, future)
        # Cancelling the caller cancels the future; advance() skips cancelled sleepers.
        await future

    def _add_sleeper(self, seconds: float, future: asyncio.Future[None]) -> None:
        self._order += 1
        heapq.heappush(self._sleepers, _Sleeper(self._now + seconds, self._order, future))
        if self._autojump and not self._jump_pending:
            self._jump_pending = True
            future.get_loop().call_soon(self._count_down_to_jump, self._settle_steps)

    def _count_down_to_jump(self, steps_left: int) -> None:
        # One call per loop iteration: a plain callback chain, no task, so nothing to own.
        self._drop_done()
        if not self._sleepers:
            self._jump_pending = False
            return
        if steps_left > 0:
            self._sleepers[0].future.get_loop().call_soon(self._count_down_to_jump, steps_left - 1)
            return
        self._now = max(self._now, self._sleepers[0].wake_at)
        loop = self._sleepers[0].future.get_loop()
        while self._sleepers and self._sleepers[0].wake_at <= self._now:
            sleeper = heapq.heappop(self._sleepers)
            if not sleeper.future.done():
                sleeper.future.set_result(None)
        loop.call_soon(self._count_down_to_jump, self._settle_steps)

    def call_later(self, seconds: float, callback: Callable[[], object]) -> asyncio.Future[None]:
        """Call ``callback()`` once the clock has been advanced by ``seconds``.

        Returns a future whose ``cancel()`` drops the callback; a zero or negative delay calls
        it at the loop's next iteration.
        """
        loop = asyncio.get_running_loop()  # noqa: TID251 (a future and a callback, no task; this is a clock)
        future: asyncio.Future[None] = loop.create_future()
        future.add_done_callback(lambda done: None if done.cancelled() else callback())
        if not seconds > 0:
            loop.call_soon(_resolve, future)
            return future
        self._add_sleeper(seconds, future)
        return future

    @property
    def sleepers(self) -> int:
        """How many sleeps are waiting (cancelled ones excluded)."""
        return sum(1 for sleeper in self._sleepers if not sleeper.future.done())

    @property
    def next_wake_time(self) -> float | None:
        """The earliest time a waiting sleeper wakes, or ``None`` when nobody sleeps."""
        self._drop_done()
        return self._sleepers[0].wake_at if self._sleepers else None

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (>= 0), waking sleepers in order along the way.

        Raises :class:`ValueError` for a negative or non-finite ``seconds``.
        """
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"seconds must be a finite number >= 0, got {seconds!r}")
        target = self._now + seconds
        # Tasks that were just started have not reached their first sleep yet.
        await self._settle()
        while True:
            self._drop_done()
            if not self._sleepers or self._sleepers[0].wake_at > target:
                break
            self._now = max(self._now, self._sleepers[0].wake_at)
            while self._sleepers and self._sleepers[0].wake_at <= self._now:
                sleeper = heapq.heappop(self._sleepers)
                if not sleeper.future.done():
                    sleeper.future.set_result(None)
            await self._settle()
        self._now = target
        await self._settle()

    def _drop_done(self) -> None:
        while self._sleepers and self._sleepers[0].future.done():
            heapq.heappop(self._sleepers)

    async def _settle(self) -> None:
        for _ in range(self._settle_steps):
            await asyncio.sleep(0)
