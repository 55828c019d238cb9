"""Repeat another strategy until a response is accepted or the deadline runs out."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

import yarl

from aio_request._core.outcomes import AttemptKind, ResponseVerdict
from aio_request.deadline import Deadline
from aio_request.delays import DelaysProvider, linear_backoff_delays
from aio_request.observer import RequestResponseObserver
from aio_request.priority import Priority
from aio_request.request import Request
from aio_request.response import ClosableResponse
from aio_request.strategies.request_strategy import (
    AttemptSender,
    OpenedAttempt,
    OpenedAttemptContext,
    RequestStrategy,
    ResponseWithVerdict,
    SendRequestFunc,
    Verdicted,
    admit_extra_attempt,
    observers_of_provider,
    open_attempt,
    retry_wait_or_stop,
    send_attempt,
    unique_observers,
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

    def observers(self) -> tuple[RequestResponseObserver, ...]:
        """The inner strategy's observers and the delays provider when it learns, each once."""
        inner = unique_observers([self._strategy])
        own = [o for o in observers_of_provider(self._delays_provider) if all(o is not i for i in inner)]
        return (*inner, *own)

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
        round_sender = send_request
        while True:
            opened = await open_attempt(
                self._strategy.request(round_sender, endpoint, request, deadline, priority)
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
            round_sender = _LaterRoundSender(send_request)


class _LaterRoundSender(AttemptSender):
    """The sender of a later round: the inner strategy's first attempt is a retry there."""

    __slots__ = ("_send_request",)

    def __init__(self, send_request: SendRequestFunc) -> None:
        self._send_request = send_request

    def __call__(
        self, endpoint: yarl.URL, request: Request, deadline: Deadline, priority: Priority
    ) -> AbstractAsyncContextManager[Verdicted]:
        return self.send(endpoint, request, deadline, priority, AttemptKind.RETRY)

    def send(
        self, endpoint: yarl.URL, request: Request, deadline: Deadline, priority: Priority, kind: AttemptKind
    ) -> AbstractAsyncContextManager[Verdicted]:
        if kind is AttemptKind.FIRST:
            kind = AttemptKind.RETRY
        return send_attempt(self._send_request, kind, endpoint, request, deadline, priority)

    def admit_extra_attempt(self, kind: AttemptKind) -> bool:
        return admit_extra_attempt(self._send_request, kind)


def retry_until_deadline_expired(
    strategy: RequestStrategy, *, delays_provider: DelaysProvider | None = None
) -> RequestStrategy:
    """Wrap ``strategy`` so it is repeated until accepted or out of time."""
    return RetryUntilDeadlineExpiredStrategy(strategy, delays_provider=delays_provider)
