"""The client: turns ``client.request(...)`` into attempts chosen by a strategy.

For each call it fixes the effective deadline (the earliest of the argument, the inherited
context and the client's default timeout, so a call can shorten but never extend what it
inherited), takes the call's or else the client's priority normalised against the context's,
asks the endpoint provider, and runs the strategy with a per-call :class:`AttemptSender` that
sends attempts through the pipeline and classifies their responses.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Iterable
from contextlib import AbstractAsyncContextManager
from types import TracebackType

import yarl

from aio_request._core.clock import MONOTONIC_CLOCK, Clock
from aio_request._core.outcomes import AttemptKind
from aio_request.client._call_events import CallTelemetry
from aio_request.client.endpoint import EndpointProvider, StaticEndpointProvider
from aio_request.events import DEFAULT_EVENT_HUB, EventHub
from aio_request.http.context import get_context
from aio_request.http.deadline import Deadline, earliest_within
from aio_request.http.priority import Priority, normalize_priority
from aio_request.http.request import Request
from aio_request.http.response import Response
from aio_request.pipeline import NextModuleFunc
from aio_request.policies.budget import AttemptBudget
from aio_request.policies.classify import ResponseClassifier
from aio_request.policies.observer import RequestResponseObserver
from aio_request.strategies.request_strategy import (
    AttemptSender,
    OpenedAttempt,
    RequestStrategy,
    ResponseWithVerdict,
    Verdicted,
)

_log = logging.getLogger(__name__)


class _OpenedResponse(OpenedAttempt[Verdicted]):
    """An attempt's response and verdict; :meth:`close` closes the response."""

    __slots__ = ()

    async def close(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.value.response.close()


class _AttemptContext(AbstractAsyncContextManager[Verdicted]):
    """One attempt of ``call`` as a context manager (:meth:`_Call.send`), closed on exit."""

    __slots__ = ("_call", "_deadline", "_endpoint", "_kind", "_opened", "_priority", "_request")

    def __init__(
        self,
        call: _Call,
        endpoint: yarl.URL,
        request: Request,
        deadline: Deadline,
        priority: Priority,
        kind: AttemptKind,
    ) -> None:
        self._call = call
        self._endpoint = endpoint
        self._request = request
        self._deadline = deadline
        self._priority = priority
        self._kind = kind
        self._opened: OpenedAttempt[Verdicted] | None = None

    async def __aenter__(self) -> Verdicted:
        self._opened = opened = await self._call.attempt(
            self._endpoint, self._request, self._deadline, self._priority, self._kind
        )
        return opened.value

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        opened, self._opened = self._opened, None
        if opened is not None:
            await opened.close()


def _observe(observers: tuple[RequestResponseObserver, ...], request: Request, response: Response) -> None:
    """Tell ``observers`` of an attempt that reached the network; one that raises is logged."""
    failure = response.failure
    if failure is not None and failure.kind.sent_nothing:
        return
    for observer in observers:
        try:
            observer.observe(request, response)
        except Exception:
            _log.exception("response observer %r failed", observer)


class _Call(AttemptSender, AbstractAsyncContextManager[Response]):
    """One ``client.request(...)`` call: its context manager, and the sender of its attempts.

    Entering it fixes the deadline, priority, endpoint and pipeline, counts the call in the
    budget of its endpoint (once per call) and runs the strategy with this object as the
    attempt sender; extra attempts are rationed by the client's budget. An attempt sent without
    a declared kind is the first one if none was sent yet, else a retry. One object serves
    both roles because every call needs both, and a call is the unit the hot path repeats.
    """

    __slots__ = (
        "_budget",
        "_classifier",
        "_client",
        "_deadline",
        "_observers",
        "_opened",
        "_pipeline",
        "_priority",
        "_request",
        "_scope",
        "_sent",
        "_strategy",
        "_telemetry",
    )

    def __init__(
        self,
        client: Client,
        request: Request,
        deadline: Deadline | None,
        priority: Priority | None,
        strategy: RequestStrategy | None,
    ) -> None:
        self._client = client
        self._request = request
        self._deadline = deadline
        self._priority = priority
        self._strategy = strategy
        self._opened: OpenedAttempt[Verdicted] | None = None

    async def __aenter__(self) -> Response:
        client = self._client
        self._sent = 0
        inherited = get_context()
        # client.timeout was validated by setup(); the default deadline is built only when no
        # given or inherited deadline is earlier.
        deadline = earliest_within(client.timeout, client.clock, self._deadline, inherited.deadline)
        priority = self._priority or client.priority
        if inherited.priority is not None:
            priority = normalize_priority(priority, inherited.priority)
        provider = client.endpoint_provider
        pipeline = client.pipeline
        if type(provider) is StaticEndpointProvider:  # the common case: no coroutine, one pipeline
            endpoint = provider.endpoint
        else:
            endpoint = await provider.get()
            # A balanced endpoint provider routes each attempt of this call to a replica.
            call_pipeline = getattr(provider, "call_pipeline", None)
            if call_pipeline is not None:
                pipeline = call_pipeline(pipeline)
        strategy = self._strategy
        if strategy is None or strategy is client.strategy:
            strategy, self._observers = client.strategy, client.observers
        else:
            self._observers = client.observers_for(strategy)
        self._pipeline = pipeline
        self._classifier = client.response_classifier
        budget = self._budget = client.attempt_budget
        hub = client.event_hub
        scope = self._scope = client._budget_scope(endpoint) if budget is not None or hub.active else ""
        if budget is not None:
            budget.record_request(scope)
        request = self._request
        telemetry = self._telemetry = (
            CallTelemetry(hub, client.clock, scope, request, deadline, priority) if hub.active else None
        )
        try:
            self._opened = opened = await strategy.open(self, endpoint, request, deadline, priority)
        except BaseException as error:
            if telemetry is not None:
                telemetry.failed(error)
            raise
        response = opened.value.response
        if telemetry is not None:
            telemetry.finished(response)
        return response

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        opened, self._opened = self._opened, None
        if opened is not None:
            await opened.close(exc_type, exc, traceback)

    def __call__(
        self, endpoint: yarl.URL, request: Request, deadline: Deadline, priority: Priority
    ) -> AbstractAsyncContextManager[Verdicted]:
        kind = AttemptKind.FIRST if self._sent == 0 else AttemptKind.RETRY
        return self.send(endpoint, request, deadline, priority, kind)

    def send(
        self, endpoint: yarl.URL, request: Request, deadline: Deadline, priority: Priority, kind: AttemptKind
    ) -> AbstractAsyncContextManager[Verdicted]:
        self._sent += 1
        return _AttemptContext(self, endpoint, request, deadline, priority, kind)

    def open(
        self, endpoint: yarl.URL, request: Request, deadline: Deadline, priority: Priority, kind: AttemptKind
    ) -> Awaitable[OpenedAttempt[Verdicted]]:
        self._sent += 1
        return self.attempt(endpoint, request, deadline, priority, kind)

    async def attempt(
        self, endpoint: yarl.URL, request: Request, deadline: Deadline, priority: Priority, kind: AttemptKind
    ) -> OpenedAttempt[Verdicted]:
        """Send one attempt through the pipeline, tell the observers, classify the response
        (counted by :meth:`send` or :meth:`open`, when the strategy asked for it)."""
        telemetry = self._telemetry
        started = None if telemetry is None else telemetry.attempt_started(request, deadline, kind)
        try:
            response = await self._pipeline(endpoint, request, deadline, priority)
        except BaseException as error:
            if telemetry is not None and started is not None:
                telemetry.attempt_failed(started, error)
            raise
        if self._observers:
            _observe(self._observers, request, response)
        try:
            verdict = self._classifier.classify(response)
        except BaseException as error:
            if telemetry is not None and started is not None:
                telemetry.attempt_failed(started, error)
            await response.close()
            raise
        if telemetry is not None and started is not None:
            telemetry.attempt_finished(started, response, verdict)
        return _OpenedResponse(ResponseWithVerdict(response, verdict))

    def admit_extra_attempt(self, kind: AttemptKind) -> bool:
        budget = self._budget
        if budget is None:
            return True
        return budget.admit(self._scope, kind)


class Client:
    """Sends requests with a strategy; build one with :func:`aio_request.setup`."""

    __slots__ = (
        "_last_scope",
        "_response_observers",
        "attempt_budget",
        "clock",
        "endpoint_provider",
        "event_hub",
        "observers",
        "pipeline",
        "priority",
        "response_classifier",
        "strategy",
        "timeout",
    )

    def __init__(
        self,
        *,
        endpoint_provider: EndpointProvider,
        pipeline: NextModuleFunc,
        strategy: RequestStrategy,
        response_classifier: ResponseClassifier,
        timeout: float,
        priority: Priority,
        clock: Clock = MONOTONIC_CLOCK,
        attempt_budget: AttemptBudget | None = None,
        event_hub: EventHub = DEFAULT_EVENT_HUB,
        response_observers: Iterable[RequestResponseObserver] = (),
    ) -> None:
        self.endpoint_provider = endpoint_provider
        self.pipeline = pipeline
        self.strategy = strategy
        self.response_classifier = response_classifier
        self.timeout = timeout
        self.priority = priority
        self.clock = clock
        self.attempt_budget = attempt_budget
        """Rations retries and hedges per endpoint (``None``: every extra attempt is sent)."""
        self.event_hub = event_hub
        """Receives the events of every call (:mod:`aio_request.events`); its automatic
        listeners (Prometheus when installed, for the default hub) are loaded here."""
        event_hub.load_auto_listeners()
        self._response_observers = tuple(response_observers)
        self._last_scope: tuple[yarl.URL | None, str] = (None, "")
        self.observers = self.observers_for(strategy)
        """Told of every attempt of a call using the client's strategy: ``response_observers``
        and the observers the strategy holds (:meth:`RequestStrategy.observers`)."""

    def _budget_scope(self, endpoint: yarl.URL) -> str:
        """The budget scope of ``endpoint``: its URL string, remembered for the last endpoint
        (a static endpoint is the same object on every call, and formatting a URL is not free)."""
        last, scope = self._last_scope
        if endpoint is not last:
            scope = str(endpoint)
            self._last_scope = (endpoint, scope)
        return scope

    def observers_for(self, strategy: RequestStrategy) -> tuple[RequestResponseObserver, ...]:
        """The observers told of the attempts of a call that uses ``strategy``: the client's
        ``response_observers``, then those ``strategy`` holds, each once."""
        found = list(self._response_observers)
        for observer in strategy.observers():
            if all(observer is not seen for seen in found):
                found.append(observer)
        return tuple(found)

    def request(
        self,
        request: Request,
        *,
        deadline: Deadline | None = None,
        priority: Priority | str | None = None,
        strategy: RequestStrategy | None = None,
    ) -> AbstractAsyncContextManager[Response]:
        """Send ``request``; use as ``async with client.request(get("x")) as response:``.

        ``deadline`` (a :class:`Deadline`) can only shorten the inherited or default one.
        ``priority`` (a :class:`Priority`, or its name such as ``"high"``) defaults to the client's;
        it is normalised against the inherited one (LOW under HIGH, or HIGH under LOW, is sent as
        NORMAL). ``strategy`` overrides the client's for this call. Everything the call opened is
        closed when the block exits, also on error or cancellation.

        Raises ``TypeError`` naming the argument when one has the wrong type.
        """
        if not isinstance(request, Request):
            raise TypeError(
                f"request must be an aio_request.Request (e.g. aio_request.get('path')), "
                f"got {type(request).__name__}: {request!r}"
            )
        if deadline is not None and not isinstance(deadline, Deadline):
            raise TypeError(
                f"deadline must be an aio_request.Deadline (e.g. Deadline.from_timeout(5)) or None, "
                f"got {type(deadline).__name__}: {deadline!r}"
            )
        if priority is not None and not isinstance(priority, Priority):
            parsed = Priority.try_parse(priority) if isinstance(priority, str) else None
            if parsed is None:
                raise TypeError(
                    f"priority must be an aio_request.Priority (or 'high', 'normal', 'low') or None, "
                    f"got {type(priority).__name__}: {priority!r}"
                )
            priority = parsed
        if strategy is not None and not isinstance(strategy, RequestStrategy):
            raise TypeError(
                f"strategy must be an aio_request.RequestStrategy or None, "
                f"got {type(strategy).__name__}: {strategy!r}"
            )
        return _Call(self, request, deadline, priority, strategy)
