"""One attempt, nothing more."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

import yarl

from aio_request._core.outcomes import AttemptKind
from aio_request.deadline import Deadline
from aio_request.priority import Priority
from aio_request.request import Request
from aio_request.response import ClosableResponse
from aio_request.strategies.request_strategy import (
    RequestStrategy,
    ResponseWithVerdict,
    SendRequestFunc,
    send_attempt,
)


class SingleAttemptRequestStrategy(RequestStrategy):
    """Sends exactly one attempt and returns its response whatever the verdict."""

    __slots__ = ()

    def request(
        self,
        send_request: SendRequestFunc,
        endpoint: yarl.URL,
        request: Request,
        deadline: Deadline,
        priority: Priority,
    ) -> AbstractAsyncContextManager[ResponseWithVerdict[ClosableResponse]]:
        """The attempt's own context manager."""
        return send_attempt(send_request, AttemptKind.FIRST, endpoint, request, deadline, priority)


def single_attempt_strategy() -> RequestStrategy:
    """A strategy that sends one attempt (the default for unsafe methods)."""
    return SingleAttemptRequestStrategy()
