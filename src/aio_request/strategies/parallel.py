"""Hedged attempts: start another attempt after a delay unless one was already accepted."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

import yarl

from aio_request._core.concurrency import staggered_race
from aio_request._core.errors import FailureKind
from aio_request._core.validate import at_least
from aio_request.http.deadline import Deadline
from aio_request.http.priority import Priority
from aio_request.http.request import Request
from aio_request.http.response import ClosableResponse
from aio_request.policies.classify import ResponseVerdict
from aio_request.policies.delays import DelaysProvider, linear_backoff_delays, resolve_delays
from aio_request.policies.retry_after import retry_after_seconds
from aio_request.strategies.request_strategy import (
    AttemptKind,
    OpenedAttempt,
    OpenedAttemptContext,
    RequestStrategy,
    ResponseWithVerdict,
    SendRequestFunc,
    Verdicted,
    admit_extra_attempt,
    open_attempt,
)


def _is_circuit_fallback(response: ClosableResponse) -> bool:
    failure = response.failure
    return failure is not None and failure.kind is FailureKind.CIRCUIT_OPEN


def _is_accepted(opened: OpenedAttempt[Verdicted]) -> bool:
    value = opened.value
    return value.verdict is ResponseVerdict.ACCEPT and not _is_circuit_fallback(value.response)


async def _close(opened: OpenedAttempt[Verdicted]) -> None:
    await opened.close()


class ParallelRequestStrategy(RequestStrategy):
    """Up to ``attempts_count`` overlapping attempts (hedging).

    Attempt ``k`` starts ``delays_provider(k)`` seconds after attempt ``k-1`` — at once if an
    attempt is rejected first — unless an attempt was accepted. The first accepted response wins;
    every other attempt is cancelled and its response closed before the caller's block starts.
    With no acceptance, the last rejected response is returned. The client's hedge budget may
    refuse extra attempts, and no further attempt is started once a rejected response is a 429
    or 503 with ``Retry-After``: the server asked to back off, hedging would defy it.

    A circuit breaker's fallback (the local ``502``, failure kind ``CIRCUIT_OPEN``) never wins a
    race and starts no further attempt: otherwise a hedge that meets the half-open circuit would
    beat, and cancel, the very probe that could close it. The call then waits for the attempts
    already running, and returns the fallback only when nothing better arrives.
    """

    __slots__ = ("_attempts_count", "_delays_provider")

    def __init__(self, *, attempts_count: int = 3, delays_provider: DelaysProvider | None = None) -> None:
        self._attempts_count = at_least("attempts_count", attempts_count, 1)
        self._delays_provider = delays_provider if delays_provider is not None else linear_backoff_delays()

    @property
    def delays_provider(self) -> DelaysProvider:
        """The delays provider (``setup()`` registers it as an observer when it is one)."""
        return self._delays_provider

    def request(
        self,
        send_request: SendRequestFunc,
        endpoint: yarl.URL,
        request: Request,
        deadline: Deadline,
        priority: Priority,
    ) -> AbstractAsyncContextManager[ResponseWithVerdict[ClosableResponse]]:
        """Race the attempts; the context yields the winner."""
        if self._attempts_count == 1:
            return send_request(endpoint, request, deadline, priority)
        return OpenedAttemptContext(self._run(send_request, endpoint, request, deadline, priority))

    async def _run(
        self,
        send_request: SendRequestFunc,
        endpoint: yarl.URL,
        request: Request,
        deadline: Deadline,
        priority: Priority,
    ) -> OpenedAttempt[Verdicted]:
        async def start(_attempt: int) -> OpenedAttempt[Verdicted]:
            return await open_attempt(send_request(endpoint, request, deadline, priority))

        def may_start_another(last_rejected: OpenedAttempt[Verdicted] | None) -> bool:
            if deadline.expired:
                return False
            if last_rejected is not None:
                response = last_rejected.value.response
                if retry_after_seconds(response) is not None:
                    return False  # the server asked to back off: no more attempts against it now
                if _is_circuit_fallback(response):
                    return False  # the circuit is not closed: another attempt gets the fallback too
            return admit_extra_attempt(send_request, AttemptKind.HEDGE)

        return await staggered_race(
            start,
            count=self._attempts_count,
            delay_before=resolve_delays(self._delays_provider, request),
            is_winner=_is_accepted,
            discard=_close,
            may_start_another=may_start_another,
            clock=deadline.clock,
        )


def parallel_strategy(
    *, attempts_count: int = 3, delays_provider: DelaysProvider | None = None
) -> RequestStrategy:
    """Hedged requests (default: 3 attempts, :func:`linear_backoff_delays`)."""
    return ParallelRequestStrategy(attempts_count=attempts_count, delays_provider=delays_provider)
