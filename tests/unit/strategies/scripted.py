"""A scripted ``send_request`` on a fake clock, for testing strategy logic without a network."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import TypeVar

import yarl

from aio_request import Deadline, DefaultResponseClassifier, Priority, Request, ResponseWithVerdict
from aio_request.http.response import BufferedResponse, ClosableResponse
from aio_request.testing import FakeClock

T = TypeVar("T")
ENDPOINT = yarl.URL("http://127.0.0.1:1/")
CLASSIFIER = DefaultResponseClassifier()


class ScriptedSender:
    """Attempt ``i`` answers ``script[i] = (status, latency)``; records starts, closes and cancels."""

    def __init__(self, clock: FakeClock, script: Sequence[tuple[int, float]]) -> None:
        self.clock = clock
        self.script = script
        self.started_at: list[float] = []
        self.deadlines: list[float] = []
        self.closed: list[int] = []
        self.cancelled: list[int] = []
        self.failed: list[int] = []
        self.failing_attempt: int | None = None

    @property
    def open_attempts(self) -> list[int]:
        finished = set(self.closed) | set(self.cancelled) | set(self.failed)
        return [i for i in range(len(self.started_at)) if i not in finished]

    def __call__(
        self, endpoint: yarl.URL, request: Request, deadline: Deadline, priority: Priority
    ) -> AbstractAsyncContextManager[ResponseWithVerdict[ClosableResponse]]:
        index = len(self.started_at)
        self.started_at.append(self.clock.now())
        self.deadlines.append(deadline.timeout)
        return _Attempt(self, index)


class _Attempt(AbstractAsyncContextManager[ResponseWithVerdict[ClosableResponse]]):
    def __init__(self, sender: ScriptedSender, index: int) -> None:
        self.sender = sender
        self.index = index

    async def __aenter__(self) -> ResponseWithVerdict[ClosableResponse]:
        status, latency = self.sender.script[self.index]
        try:
            await self.sender.clock.sleep(latency)
        except asyncio.CancelledError:
            self.sender.cancelled.append(self.index)
            raise
        if self.index == self.sender.failing_attempt:
            self.sender.failed.append(self.index)
            raise RuntimeError(f"attempt {self.index} failed")
        response = BufferedResponse(status=status, elapsed=latency)
        return ResponseWithVerdict(response, CLASSIFIER.classify(response))

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.sender.closed.append(self.index)
