"""Repeat another strategy until a response is accepted or the deadline runs out."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

import yarl

from aio_request.http.deadline import Deadline
from aio_request.http.priority import Priority
from aio_request.http.request import Request
from aio_request.http.response import ClosableResponse
from aio_request.policies.classify import ResponseVerdict
from aio_request.policies.delays import DelaysProvider, linear_backoff_delays
from aio_request.strategies.request_strategy import (
    OpenedAttempt,
    OpenedAttemptContext,
    RequestStrategy,
    ResponseWithVerdict,
    SendRequestFunc,
    Verdicted,
    open_attempt,
    retry_wait_or_stop,
)


class RetryUntilDeadlineExpiredStrategy(RequestStrategy):
    """Runs ``strategy`` again, after ``delays_provider(k)`` seconds, until it yields an ACCEPT.

    A rejected 429 or 503 with ``Retry-After`` makes the wait at least that long (as the
    sequential strategy does). Stops with the last response when the deadline is shorter than
    the next wait or the retry budget refuses.
    """

    __slots__ = ("_delays_provider", "_strategy")

    def __init__(self, strategy: RequestStrategy, *, delays_provider: DelaysProvider | None = None) -> None:
        self._strategy = strategy
        self._delays_provider = delays_provider if delays_provider is not None else linear_backoff_delays()

    def request(
        self,
        send_request: SendRequestFunc,
        endpoint: yarl.URL,
        request: Request,
        deadline: Deadline,
        priority: Priority,
    ) -> AbstractAsyncContextManager[ResponseWithVerdict[ClosableResponse]]:
        """Repeat the inner strategy; the context yields its last result."""
        return OpenedAttemptContext(self._run(send_request, endpoint, request, deadline, priority))

    async def _run(
        self,
        send_request: SendRequestFunc,
        endpoint: yarl.URL,
        request: Request,
        deadline: Deadline,
        priority: Priority,
    ) -> OpenedAttempt[Verdicted]:
        round_ = 0
        while True:
            opened = await open_attempt(
                self._strategy.request(send_request, endpoint, request, deadline, priority)
            )
            round_ += 1
            if opened.value.verdict is ResponseVerdict.ACCEPT:
                return opened
            delay = await retry_wait_or_stop(
                opened,
                delays_provider=self._delays_provider,
                request=request,
                attempt=round_,
                deadline=deadline,
                send_request=send_request,
            )
            if delay is None:
                return opened
            await opened.close()
            await deadline.clock.sleep(delay)


def retry_until_deadline_expired(
    strategy: RequestStrategy, *, delays_provider: DelaysProvider | None = None
) -> RequestStrategy:
    """Wrap ``strategy`` so it is repeated until accepted or out of time."""
    return RetryUntilDeadlineExpiredStrategy(strategy, delays_provider=delays_provider)
