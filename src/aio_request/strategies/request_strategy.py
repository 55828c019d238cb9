"""The strategy role: how many attempts, when, and which response the caller gets.

A strategy receives ``send_request`` — a function that sends one attempt and returns an async
context manager of :class:`ResponseWithVerdict` that closes the response on exit — and returns
an async context manager of the chosen :class:`ResponseWithVerdict`. It closes every response it
does not hand over, and owns every task it starts.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Generic, TypeAlias, TypeVar

import yarl

from aio_request._core.outcomes import AttemptKind as AttemptKind  # re-exported
from aio_request._core.outcomes import ResponseVerdict
from aio_request.http.deadline import Deadline
from aio_request.http.priority import Priority
from aio_request.http.request import Request
from aio_request.http.response import ClosableResponse
from aio_request.policies.classify import is_shed
from aio_request.policies.delays import DelaysProvider, delay_for
from aio_request.policies.observer import RequestResponseObserver
from aio_request.policies.retry_after import retry_after_seconds

TResponse = TypeVar("TResponse", bound=ClosableResponse)
T = TypeVar("T")


@dataclasses.dataclass(frozen=True, slots=True)
class ResponseWithVerdict(Generic[TResponse]):
    """A response and the classifier's verdict on it."""

    response: TResponse
    verdict: ResponseVerdict


Verdicted: TypeAlias = ResponseWithVerdict[ClosableResponse]

SendRequestFunc: TypeAlias = Callable[
    [yarl.URL, Request, Deadline, Priority],
    AbstractAsyncContextManager[ResponseWithVerdict[ClosableResponse]],
]
"""(endpoint, request, deadline, priority) → a context manager of one attempt's result."""


class AttemptSender:
    """A ``SendRequestFunc`` that also knows attempt kinds and rations extra attempts.

    The client passes one of these to strategies. Built-in strategies send every attempt with
    :func:`send_attempt` or :func:`open_attempt_of` (naming its :class:`AttemptKind`) and ask
    :func:`admit_extra_attempt` before every attempt after the first; a plain call sends an
    attempt of undeclared kind.
    """

    # Not an abc.ABC, on purpose: strategies test ``isinstance(send_request, AttemptSender)``
    # for every attempt, and an ABC's instance check runs Python code each time. The abstract
    # methods are still enforced by the type checker.
    __slots__ = ()

    @abc.abstractmethod
    def __call__(
        self, endpoint: yarl.URL, request: Request, deadline: Deadline, priority: Priority
    ) -> AbstractAsyncContextManager[ResponseWithVerdict[ClosableResponse]]:
        """Send one attempt whose kind the strategy did not say."""

    @abc.abstractmethod
    def send(
        self, endpoint: yarl.URL, request: Request, deadline: Deadline, priority: Priority, kind: AttemptKind
    ) -> AbstractAsyncContextManager[ResponseWithVerdict[ClosableResponse]]:
        """Send one attempt of ``kind``."""

    @abc.abstractmethod
    def admit_extra_attempt(self, kind: AttemptKind) -> bool:
        """Whether one more attempt of ``kind`` may be sent now (and account for it if so)."""

    def open(
        self, endpoint: yarl.URL, request: Request, deadline: Deadline, priority: Priority, kind: AttemptKind
    ) -> Awaitable[OpenedAttempt[Verdicted]]:
        """Send one attempt of ``kind`` and keep it open until :meth:`OpenedAttempt.close`.

        The same as entering :meth:`send`'s context; a sender may do it more cheaply.
        """
        return open_attempt(self.send(endpoint, request, deadline, priority, kind))


def send_attempt(
    send_request: SendRequestFunc,
    kind: AttemptKind,
    endpoint: yarl.URL,
    request: Request,
    deadline: Deadline,
    priority: Priority,
) -> AbstractAsyncContextManager[ResponseWithVerdict[ClosableResponse]]:
    """Send one attempt of ``kind`` through ``send_request`` (plain functions ignore the kind)."""
    if isinstance(send_request, AttemptSender):
        return send_request.send(endpoint, request, deadline, priority, kind)
    return send_request(endpoint, request, deadline, priority)


def admit_extra_attempt(send_request: SendRequestFunc, kind: AttemptKind) -> bool:
    """Ask ``send_request`` for an extra attempt; plain functions always admit one."""
    if isinstance(send_request, AttemptSender):
        return send_request.admit_extra_attempt(kind)
    return True


def open_attempt_of(
    send_request: SendRequestFunc,
    kind: AttemptKind,
    endpoint: yarl.URL,
    request: Request,
    deadline: Deadline,
    priority: Priority,
) -> Awaitable[OpenedAttempt[Verdicted]]:
    """Send one attempt of ``kind`` and keep it open: :func:`send_attempt`, entered."""
    if isinstance(send_request, AttemptSender):
        return send_request.open(endpoint, request, deadline, priority, kind)
    return open_attempt(send_request(endpoint, request, deadline, priority))


def unique_observers(strategies: Iterable[RequestStrategy]) -> tuple[RequestResponseObserver, ...]:
    """The observers of ``strategies``, each once, in order."""
    found: list[RequestResponseObserver] = []
    for strategy in strategies:
        for observer in strategy.observers():
            if all(observer is not seen for seen in found):
                found.append(observer)
    return tuple(found)


def observers_of_provider(provider: object) -> tuple[RequestResponseObserver, ...]:
    """``(provider,)`` when it is a :class:`RequestResponseObserver` (learns from responses)."""
    return (provider,) if isinstance(provider, RequestResponseObserver) else ()


class OpenedAttempt(abc.ABC, Generic[T]):
    """The result of an attempt that is still open: its ``value``, and :meth:`close`."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    @abc.abstractmethod
    async def close(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        """Close what the attempt holds (its response); the arguments say how the caller's
        block exited, for a result that came from a context manager."""


class _OpenedContext(OpenedAttempt[T]):
    """An entered context manager and the value it gave; :meth:`close` exits it."""

    __slots__ = ("_context",)

    def __init__(self, context: AbstractAsyncContextManager[T], value: T) -> None:
        super().__init__(value)
        self._context = context

    async def close(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        """Exit the context (closing the response it holds), telling it how the block exited."""
        await self._context.__aexit__(exc_type, exc, traceback)


async def open_attempt(context: AbstractAsyncContextManager[T]) -> OpenedAttempt[T]:
    """Enter ``context`` and keep it open until :meth:`OpenedAttempt.close`."""
    value = await context.__aenter__()
    return _OpenedContext(context, value)


class OpenedAttemptContext(AbstractAsyncContextManager[Verdicted]):
    """Runs a coroutine that opens the chosen attempt; closes it when the block exits."""

    __slots__ = ("_opened", "_opener")

    def __init__(self, opener: Awaitable[OpenedAttempt[Verdicted]]) -> None:
        self._opener = opener
        self._opened: OpenedAttempt[Verdicted] | None = None

    async def __aenter__(self) -> Verdicted:
        self._opened = await self._opener
        return self._opened.value

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        opened, self._opened = self._opened, None
        if opened is not None:
            await opened.close(exc_type, exc, traceback)


async def retry_wait_or_stop(
    opened: OpenedAttempt[Verdicted],
    *,
    delays_provider: DelaysProvider,
    request: Request,
    attempt: int,
    deadline: Deadline,
    send_request: SendRequestFunc,
) -> float | None:
    """How long to wait before retry ``attempt`` after the rejected ``opened``, or ``None`` to stop.

    The wait is the provider's delay, or the server's ``Retry-After`` when that is longer, or
    none for a shed answer (:func:`~aio_request.policies.classify.is_shed`). The
    retries stop (``None``) when the deadline cannot cover the wait or the retry budget refuses.
    ``opened`` stays open when stopping (it is the answer) and is closed if anything here raises.
    """
    try:
        delay = delay_for(delays_provider, request, attempt)
        pushback = retry_after_seconds(opened.value.response)
        if pushback is not None and pushback > delay:
            delay = pushback
        if is_shed(opened.value.response):
            delay = 0.0  # not processed by the server: send it again at once
        if deadline.timeout <= delay or not admit_extra_attempt(send_request, AttemptKind.RETRY):
            return None
    except BaseException:
        await opened.close()
        raise
    return delay


class RequestStrategy(abc.ABC):
    """Decides when to send attempts and which result the caller gets."""

    __slots__ = ()

    def observers(self) -> tuple[RequestResponseObserver, ...]:
        """The observers this strategy holds, its inner strategies' included (none by default).

        The client tells them of every attempt of every call that uses this strategy, e.g. an
        adaptive delays provider learning latencies. Override to report what a strategy holds.
        """
        return ()

    @abc.abstractmethod
    def request(
        self,
        send_request: SendRequestFunc,
        endpoint: yarl.URL,
        request: Request,
        deadline: Deadline,
        priority: Priority,
    ) -> AbstractAsyncContextManager[ResponseWithVerdict[ClosableResponse]]:
        """Send ``request`` as the strategy sees fit; the context yields the chosen result."""

    def open(
        self,
        send_request: SendRequestFunc,
        endpoint: yarl.URL,
        request: Request,
        deadline: Deadline,
        priority: Priority,
    ) -> Awaitable[OpenedAttempt[Verdicted]]:
        """:meth:`request`'s context, entered: the chosen result, open until
        :meth:`OpenedAttempt.close` (which exits the context)."""
        return open_attempt(self.request(send_request, endpoint, request, deadline, priority))


class OpeningStrategy(RequestStrategy):
    """A strategy written as one awaitable giving the chosen attempt, still open.

    :meth:`request` wraps :meth:`open` in a context manager; the client awaits :meth:`open`
    directly, one layer less per call than through a context manager. Every built-in strategy
    is one.
    """

    __slots__ = ()

    @abc.abstractmethod
    def open(
        self,
        send_request: SendRequestFunc,
        endpoint: yarl.URL,
        request: Request,
        deadline: Deadline,
        priority: Priority,
    ) -> Awaitable[OpenedAttempt[Verdicted]]:
        """Send ``request`` as the strategy sees fit; the chosen result, open until closed."""

    def request(
        self,
        send_request: SendRequestFunc,
        endpoint: yarl.URL,
        request: Request,
        deadline: Deadline,
        priority: Priority,
    ) -> AbstractAsyncContextManager[ResponseWithVerdict[ClosableResponse]]:
        """:meth:`open` as a context manager that closes the result on exit."""
        return OpenedAttemptContext(self.open(send_request, endpoint, request, deadline, priority))
