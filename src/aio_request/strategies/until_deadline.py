"""Repeat another strategy until a response is accepted or the deadline runs out."""

from __future__ import annotations

from collections.abc import Awaitable
from contextlib import AbstractAsyncContextManager

import yarl

from aio_request._core.outcomes import AttemptKind, ResponseVerdict
from aio_request.http.deadline import Deadline
from aio_request.http.priority import Priority
from aio_request.http.request import Request
from aio_request.policies.delays import DelaysProvider, delay_for, linear_backoff_delays
from aio_request.policies.observer import RequestResponseObserver
from aio_request.policies.retry_after import retry_after_seconds
from aio_request.strategies.request_strategy import (
    AttemptSender,
    OpenedAttempt,
    OpeningStrategy,
    RequestStrategy,
    SendRequestFunc,
    Verdicted,
    admit_extra_attempt,
    observers_of_provider,
    open_attempt_of,
    send_attempt,
    unique_observers,
)


class RetryUntilDeadlineExpiredStrategy(OpeningStrategy):
    """Runs ``strategy`` again, after ``delays_provider(k)`` seconds, until it yields an ACCEPT.

    A rejected 429 or 503 with ``Retry-After`` makes the wait at least that long (as the
    sequential strategy does). When the deadline is shorter than the next wait, or the retry
    budget refuses the next retry, it waits until the deadline and ends with the ``408`` of an
    attempt that is no longer sent (as aio-request 0.2.9 does): the caller gets a success or a
    timeout at its deadline, and the budget still bounds the load sent.
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

    async def open(
        self,
        send_request: SendRequestFunc,
        endpoint: yarl.URL,
        request: Request,
        deadline: Deadline,
        priority: Priority,
    ) -> OpenedAttempt[Verdicted]:
        """Repeat the inner strategy; its last result, open."""
        round_ = 0
        round_sender = send_request
        while True:
            opened = await self._strategy.open(round_sender, endpoint, request, deadline, priority)
            round_ += 1
            if opened.value.verdict is ResponseVerdict.ACCEPT or deadline.expired:
                return opened
            try:
                delay = delay_for(self._delays_provider, request, round_)
                pushback = retry_after_seconds(opened.value.response)
                if pushback is not None and pushback > delay:
                    delay = pushback
                retry = deadline.timeout > delay and admit_extra_attempt(send_request, AttemptKind.RETRY)
            except BaseException:
                await opened.close()
                raise
            await opened.close()
            # No retry fits in what is left, or the retry budget refused one: wait the deadline out;
            # the next round is then answered 408 locally, without being sent.
            await deadline.clock.sleep(delay if retry else deadline.timeout)
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

    def open(
        self, endpoint: yarl.URL, request: Request, deadline: Deadline, priority: Priority, kind: AttemptKind
    ) -> Awaitable[OpenedAttempt[Verdicted]]:
        if kind is AttemptKind.FIRST:
            kind = AttemptKind.RETRY
        return open_attempt_of(self._send_request, kind, endpoint, request, deadline, priority)


def retry_until_deadline_expired(
    strategy: RequestStrategy, *, delays_provider: DelaysProvider | None = None
) -> RequestStrategy:
    """Wrap ``strategy`` so it is repeated until accepted or out of time."""
    return RetryUntilDeadlineExpiredStrategy(strategy, delays_provider=delays_provider)
