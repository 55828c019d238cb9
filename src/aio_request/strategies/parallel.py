"""Hedged attempts: start another attempt after a delay unless one was already accepted."""

from __future__ import annotations

from collections.abc import Awaitable

import yarl

from aio_request._core.concurrency import staggered_race
from aio_request._core.outcomes import AttemptKind, FailureKind, ResponseVerdict
from aio_request._core.validate import at_least
from aio_request.http.deadline import Deadline
from aio_request.http.priority import Priority
from aio_request.http.request import Request
from aio_request.http.response import ClosableResponse
from aio_request.policies.classify import is_shed
from aio_request.policies.delays import DelaysProvider, linear_backoff_delays, resolve_delays
from aio_request.policies.observer import RequestResponseObserver
from aio_request.policies.retry_after import retry_after_seconds
from aio_request.strategies.request_strategy import (
    OpenedAttempt,
    OpeningStrategy,
    RequestStrategy,
    SendRequestFunc,
    Verdicted,
    admit_extra_attempt,
    observers_of_provider,
    open_attempt_of,
)


def _is_circuit_fallback(response: ClosableResponse) -> bool:
    failure = response.failure
    return failure is not None and failure.kind is FailureKind.CIRCUIT_OPEN


def _is_accepted(opened: OpenedAttempt[Verdicted]) -> bool:
    value = opened.value
    return value.verdict is ResponseVerdict.ACCEPT and not _is_circuit_fallback(value.response)


async def _close(opened: OpenedAttempt[Verdicted]) -> None:
    await opened.close()


class ParallelRequestStrategy(OpeningStrategy):
    """Up to ``attempts_count`` attempts, each ``delays_provider(k)`` seconds after the previous one.

    Attempt ``k`` starts ``delays_provider(k)`` seconds after attempt ``k-1`` started, unless an
    attempt was accepted by then: one by one with delays between them, as in aio-request 0.2.9.
    The first accepted response wins; every other attempt is cancelled and its response closed
    before the caller's block starts. With no acceptance, the last rejected response is returned.

    An attempt started while another one is still waiting for its response is a *hedge*
    (``AttemptKind.HEDGE``: the client's hedge budget rations it); one started when every earlier
    attempt was already rejected is a *retry* (``AttemptKind.RETRY``: the retry budget rations
    it). A hedge the budget refuses is asked for again one delay later, then two, four, ...
    delays later, as long as an attempt is still in flight (and not at all with a zero delay); a
    refused retry ends the call. A rejection does not hurry the next attempt:
    it still starts at its scheduled time, which gives a passing blip time to pass;
    ``start_after_rejection=True`` starts it at once instead. A shed answer (``503`` with
    ``X-Request-Shed``, see :func:`~aio_request.policies.classify.is_shed`), which the server
    did not process, always starts the next attempt at once.
    No further attempt is started once a rejected response is a 429 or 503 with ``Retry-After``
    (a shed answer excepted): the server asked to back off, hedging would defy it.

    A circuit breaker's fallback (the local ``502``, failure kind ``CIRCUIT_OPEN``) never wins a
    race and starts no further attempt: otherwise a hedge that meets the half-open circuit would
    beat, and cancel, the very probe that could close it. The call then waits for the attempts
    already running, and returns the fallback only when nothing better arrives.
    """

    __slots__ = ("_attempts_count", "_delays_provider", "_starts_next_at_once")

    def __init__(
        self,
        *,
        attempts_count: int = 3,
        delays_provider: DelaysProvider | None = None,
        start_after_rejection: bool = False,
    ) -> None:
        self._attempts_count = at_least("attempts_count", attempts_count, 1)
        self._delays_provider = delays_provider if delays_provider is not None else linear_backoff_delays()
        if not isinstance(start_after_rejection, bool):
            raise ValueError(f"start_after_rejection must be a bool, got {start_after_rejection!r}")
        self._starts_next_at_once = _is_rejected if start_after_rejection else _is_shed

    @property
    def delays_provider(self) -> DelaysProvider:
        """The delays provider."""
        return self._delays_provider

    def observers(self) -> tuple[RequestResponseObserver, ...]:
        """The delays provider, when it learns from responses."""
        return observers_of_provider(self._delays_provider)

    def open(
        self,
        send_request: SendRequestFunc,
        endpoint: yarl.URL,
        request: Request,
        deadline: Deadline,
        priority: Priority,
    ) -> Awaitable[OpenedAttempt[Verdicted]]:
        """Race the attempts; the winner (or the last rejected response), open."""
        if self._attempts_count == 1:
            return open_attempt_of(send_request, AttemptKind.FIRST, endpoint, request, deadline, priority)
        return self._race(send_request, endpoint, request, deadline, priority)

    async def _race(
        self,
        send_request: SendRequestFunc,
        endpoint: yarl.URL,
        request: Request,
        deadline: Deadline,
        priority: Priority,
    ) -> OpenedAttempt[Verdicted]:
        async def start(number: int, in_flight: int) -> OpenedAttempt[Verdicted]:
            kind = AttemptKind.FIRST if number == 0 else _kind_of_extra(in_flight)
            return await open_attempt_of(send_request, kind, endpoint, request, deadline, priority)

        def may_start(in_flight: int) -> bool:
            if deadline.expired:
                return False
            return admit_extra_attempt(send_request, _kind_of_extra(in_flight))

        def gives_up(rejected: OpenedAttempt[Verdicted]) -> bool:
            response = rejected.value.response
            # The server asked to back off, or the circuit is not closed (another attempt would
            # get the fallback too): no more attempts against it now. A shed answer's
            # Retry-After is for clients that do not know X-Request-Shed: it is sent again.
            if is_shed(response):
                return False
            return retry_after_seconds(response) is not None or _is_circuit_fallback(response)

        delays = resolve_delays(self._delays_provider, request)

        def delay_before(number: int, postponed: int) -> float | None:
            delay = delays(number)
            if postponed:
                # A refused hedge is asked for again after its delay, doubled at each refusal
                # (never with no delay: that would spin while the attempts in flight run).
                if delay <= 0:
                    return None
                delay *= 2 ** (postponed - 1)
            return None if deadline.timeout <= delay else delay  # due after the deadline: never

        return await staggered_race(
            start,
            count=self._attempts_count,
            delay_before=delay_before,
            is_winner=_is_accepted,
            discard=_close,
            may_start=may_start,
            gives_up=gives_up,
            starts_next_at_once=self._starts_next_at_once,
            clock=deadline.clock,
        )


def _is_shed(opened: OpenedAttempt[Verdicted]) -> bool:
    return is_shed(opened.value.response)


def _is_rejected(_opened: OpenedAttempt[Verdicted]) -> bool:
    return True  # asked only of rejected attempts


def _kind_of_extra(in_flight: int) -> AttemptKind:
    return AttemptKind.HEDGE if in_flight else AttemptKind.RETRY


def parallel_strategy(
    *,
    attempts_count: int = 3,
    delays_provider: DelaysProvider | None = None,
    start_after_rejection: bool = False,
) -> RequestStrategy:
    """Hedged requests (default: 3 attempts, :func:`linear_backoff_delays`, see the class)."""
    return ParallelRequestStrategy(
        attempts_count=attempts_count,
        delays_provider=delays_provider,
        start_after_rejection=start_after_rejection,
    )
