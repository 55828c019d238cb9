"""The client: turns ``client.request(...)`` into attempts chosen by a strategy.

For each call it fixes the effective deadline (the earliest of the argument, the inherited
context and the client's default timeout, so a call can shorten but never extend what it
inherited), normalises the priority against the context, asks the endpoint provider, and runs
the strategy with a per-call :class:`AttemptSender` that sends attempts through the pipeline and
classifies their responses.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from types import TracebackType

import yarl

from aio_request._core.clock import MONOTONIC_CLOCK, Clock
from aio_request.client._call_events import CallTelemetry
from aio_request.client.endpoint import EndpointProvider, StaticEndpointProvider
from aio_request.events import DEFAULT_EVENT_HUB, EventHub
from aio_request.http.context import get_context
from aio_request.http.deadline import Deadline, earliest_within
from aio_request.http.priority import Priority, normalize_priority
from aio_request.http.request import Request
from aio_request.http.response import ClosableResponse, Response
from aio_request.pipeline import NextModuleFunc
from aio_request.policies.budget import AttemptBudget
from aio_request.policies.classify import ResponseClassifier
from aio_request.strategies.by_method import MethodBasedStrategy
from aio_request.strategies.request_strategy import (
    AttemptKind,
    AttemptSender,
    RequestStrategy,
    ResponseWithVerdict,
)
from aio_request.strategies.single import SingleAttemptRequestStrategy

Verdicted = ResponseWithVerdict[ClosableResponse]


class _AttemptContext(AbstractAsyncContextManager[Verdicted]):
    __slots__ = (
        "_classifier",
        "_deadline",
        "_endpoint",
        "_pipeline",
        "_priority",
        "_request",
        "_response",
        "_telemetry",
    )

    def __init__(
        self,
        pipeline: NextModuleFunc,
        classifier: ResponseClassifier,
        endpoint: yarl.URL,
        request: Request,
        deadline: Deadline,
        priority: Priority,
        telemetry: CallTelemetry | None = None,
    ) -> None:
        self._pipeline = pipeline
        self._classifier = classifier
        self._endpoint = endpoint
        self._request = request
        self._deadline = deadline
        self._priority = priority
        self._response: ClosableResponse | None = None
        self._telemetry = telemetry

    async def __aenter__(self) -> Verdicted:
        telemetry = self._telemetry
        started = None if telemetry is None else telemetry.attempt_started(self._request, self._deadline)
        try:
            response = await self._pipeline(self._endpoint, self._request, self._deadline, self._priority)
        except BaseException as error:
            if telemetry is not None:
                telemetry.attempt_failed(started, error)
            raise
        self._response = response
        try:
            verdict = self._classifier.classify(response)
        except BaseException as error:
            self._response = None
            if telemetry is not None:
                telemetry.attempt_failed(started, error)
            await response.close()
            raise
        if telemetry is not None:
            telemetry.attempt_finished(started, response, verdict)
        return ResponseWithVerdict(response, verdict)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        response, self._response = self._response, None
        if response is not None:
            await response.close()


class _CallSender(AttemptSender):
    """Sends the attempts of one call; extra attempts are rationed by the client's budget.

    The call is counted in the budget of its endpoint when the sender is made (once per call).
    """

    __slots__ = ("_budget", "_classifier", "_pipeline", "_scope", "telemetry")

    def __init__(
        self,
        pipeline: NextModuleFunc,
        classifier: ResponseClassifier,
        budget: AttemptBudget | None = None,
        scope: str = "",
    ) -> None:
        self._pipeline = pipeline
        self._classifier = classifier
        self._budget = budget
        self._scope = scope
        self.telemetry: CallTelemetry | None = None
        """Set by the call when its hub is active: every attempt then reports to it."""
        if budget is not None:
            budget.record_request(scope)

    def __call__(
        self, endpoint: yarl.URL, request: Request, deadline: Deadline, priority: Priority
    ) -> AbstractAsyncContextManager[Verdicted]:
        return _AttemptContext(
            self._pipeline, self._classifier, endpoint, request, deadline, priority, self.telemetry
        )

    def admit_extra_attempt(self, kind: AttemptKind) -> bool:
        budget = self._budget
        if budget is None:
            return True
        return budget.admit(self._scope, hedge=kind is AttemptKind.HEDGE)


class _RequestContext(AbstractAsyncContextManager[Response]):
    __slots__ = ("_client", "_deadline", "_priority", "_request", "_strategy", "_strategy_context")

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
        self._strategy_context: AbstractAsyncContextManager[Verdicted] | None = None

    async def __aenter__(self) -> Response:
        client = self._client
        request = self._request
        context = get_context()
        # client.timeout was validated by setup(); the default deadline is built only when no
        # given or inherited deadline is earlier.
        deadline = earliest_within(client.timeout, client.clock, self._deadline, context.deadline)
        priority = self._priority or context.priority or client.priority
        if context.priority is not None:
            priority = normalize_priority(priority, context.priority)
        provider = client.endpoint_provider
        if type(provider) is StaticEndpointProvider:  # no coroutine for the common case
            endpoint = provider.endpoint
        else:
            endpoint = await provider.get()
        strategy = self._strategy or client.strategy
        if type(strategy) is MethodBasedStrategy:
            strategy = strategy.strategy_for(request.method) or strategy
        budget = client.attempt_budget
        sender = None
        if type(strategy) is SingleAttemptRequestStrategy:
            # One attempt: no strategy layer nor sender, only the attempt context they would
            # build; the call is still counted in the budget, as the sender would.
            if budget is not None:
                budget.record_request(client._budget_scope(endpoint))
        else:
            scope = "" if budget is None else client._budget_scope(endpoint)
            sender = _CallSender(client.pipeline, client.response_classifier, budget, scope)
        hub = client.event_hub
        telemetry = None
        if hub.active:
            telemetry = CallTelemetry(hub, client.clock, endpoint, request, deadline, priority)
            if sender is not None:
                sender.telemetry = telemetry
        try:
            strategy_context: AbstractAsyncContextManager[Verdicted]
            if sender is None:
                strategy_context = _AttemptContext(
                    client.pipeline,
                    client.response_classifier,
                    endpoint,
                    request,
                    deadline,
                    priority,
                    telemetry,
                )
            else:
                strategy_context = strategy.request(sender, endpoint, request, deadline, priority)
            result = await strategy_context.__aenter__()
        except BaseException as error:
            if telemetry is not None:
                telemetry.failed(error)
            raise
        self._strategy_context = strategy_context
        if telemetry is not None:
            telemetry.finished(result.response)
        return result.response

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        strategy_context, self._strategy_context = self._strategy_context, None
        if strategy_context is not None:
            await strategy_context.__aexit__(exc_type, exc, traceback)


class Client:
    """Sends requests with a strategy; build one with :func:`aio_request.setup`."""

    __slots__ = (
        "_last_scope",
        "attempt_budget",
        "clock",
        "endpoint_provider",
        "event_hub",
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
        self._last_scope: tuple[yarl.URL | None, str] = (None, "")
        self.event_hub = event_hub
        """Receives the events of every call (:mod:`aio_request.events`); its automatic
        listeners (Prometheus when installed, for the default hub) are loaded here."""
        event_hub.load_auto_listeners()

    def _budget_scope(self, endpoint: yarl.URL) -> str:
        """The budget scope of ``endpoint``: its URL string, remembered for the last endpoint
        (a static endpoint is the same object on every call, and formatting a URL is not free)."""
        last, scope = self._last_scope
        if endpoint is not last:
            scope = str(endpoint)
            self._last_scope = (endpoint, scope)
        return scope

    def request(
        self,
        request: Request,
        *,
        deadline: Deadline | None = None,
        priority: Priority | None = None,
        strategy: RequestStrategy | None = None,
    ) -> AbstractAsyncContextManager[Response]:
        """Send ``request``; use as ``async with client.request(get("x")) as response:``.

        ``deadline`` can only shorten the inherited or default one; ``priority`` defaults to the
        inherited one, else the client's; ``strategy`` overrides the client's for this call.
        Everything the call opened is closed when the block exits, also on error or cancellation.
        """
        return _RequestContext(self, request, deadline, priority, strategy)
