"""Attempts one after another, with a delay between them."""

from __future__ import annotations

import yarl

from aio_request._core.outcomes import AttemptKind, ResponseVerdict
from aio_request._core.validate import at_least
from aio_request.http.deadline import Deadline
from aio_request.http.priority import Priority
from aio_request.http.request import Request
from aio_request.policies.deadline_split import DeadlineProvider, pass_deadline_through
from aio_request.policies.delays import DelaysProvider, linear_backoff_delays
from aio_request.policies.observer import RequestResponseObserver
from aio_request.strategies.request_strategy import (
    OpenedAttempt,
    OpeningStrategy,
    RequestStrategy,
    SendRequestFunc,
    Verdicted,
    observers_of_provider,
    open_attempt_of,
    retry_wait_or_stop,
)


class SequentialRequestStrategy(OpeningStrategy):
    """Up to ``attempts_count`` attempts, each after the previous one was rejected.

    Before attempt ``k`` it waits ``delays_provider(k)`` seconds; it stops early, returning the
    last response, when the remaining deadline is shorter than that delay or the client's retry
    budget refuses. Each attempt's deadline comes from ``deadline_provider``.

    A rejected 429 or 503 with ``Retry-After`` (delay-seconds or an HTTP date, honoured up to
    :data:`~aio_request.policies.retry_after.MAX_RETRY_AFTER_SECONDS`) makes the wait at least that long;
    when the deadline cannot cover it, the strategy stops at once with that response.
    """

    __slots__ = ("_attempts_count", "_deadline_provider", "_delays_provider")

    def __init__(
        self,
        *,
        attempts_count: int = 3,
        delays_provider: DelaysProvider | None = None,
        deadline_provider: DeadlineProvider | None = None,
    ) -> None:
        self._attempts_count = at_least("attempts_count", attempts_count, 1)
        self._delays_provider = delays_provider if delays_provider is not None else linear_backoff_delays()
        self._deadline_provider = (
            deadline_provider if deadline_provider is not None else pass_deadline_through()
        )

    @property
    def delays_provider(self) -> DelaysProvider:
        """The delays provider."""
        return self._delays_provider

    def observers(self) -> tuple[RequestResponseObserver, ...]:
        """The delays provider, when it learns from responses."""
        return observers_of_provider(self._delays_provider)

    async def open(
        self,
        send_request: SendRequestFunc,
        endpoint: yarl.URL,
        request: Request,
        deadline: Deadline,
        priority: Priority,
    ) -> OpenedAttempt[Verdicted]:
        """Run the attempts; the first accepted or the last response, open."""
        attempts_count = self._attempts_count
        attempt = 0
        while True:
            attempt_deadline = self._deadline_provider(deadline, attempt, attempts_count)
            kind = AttemptKind.FIRST if attempt == 0 else AttemptKind.RETRY
            opened = await open_attempt_of(send_request, kind, endpoint, request, attempt_deadline, priority)
            attempt += 1
            if opened.value.verdict is ResponseVerdict.ACCEPT or attempt >= attempts_count:
                return opened
            delay = await retry_wait_or_stop(
                opened,
                delays_provider=self._delays_provider,
                request=request,
                attempt=attempt,
                deadline=deadline,
                send_request=send_request,
            )
            if delay is None:
                return opened
            await opened.close()
            await deadline.clock.sleep(delay)


def sequential_strategy(
    *,
    attempts_count: int = 3,
    delays_provider: DelaysProvider | None = None,
    deadline_provider: DeadlineProvider | None = None,
) -> RequestStrategy:
    """Sequential retries (default: 3 attempts, :func:`linear_backoff_delays`, whole deadline each)."""
    return SequentialRequestStrategy(
        attempts_count=attempts_count, delays_provider=delays_provider, deadline_provider=deadline_provider
    )
