"""``setup()``: build a :class:`Client` with the defaults of the original aio-request.

| option | default |
|---|---|
| safe methods (GET, HEAD, OPTIONS) | ``sequential_strategy()``: 3 attempts, linear backoff |
| other methods (POST, PUT, PATCH, DELETE, ...) | ``single_attempt_strategy()`` |
| ``response_classifier`` | ``DefaultResponseClassifier()`` |
| ``timeout`` | 20 s: the default deadline and the longest any call may take |
| ``priority`` | ``Priority.NORMAL`` |
| ``low_timeout_threshold`` | 0.005 s |
| ``emit_system_headers`` | ``True`` |
| ``circuit_breaker`` | ``None``: no circuit breaker (scope: the endpoint URL string) |
| ``retry_budget`` | ``RetryBudget()``: retries ≤ 20 % of calls per endpoint + 1/s; ``None``: off |
| ``hedge_budget`` | ``HedgeBudget()``: hedges ≤ 5 % of calls per endpoint + 10/s; ``None``: off |
| ``response_observers`` | none; the observers each strategy holds are added per call (below) |

The per-attempt pipeline is: low-timeout guard → circuit breaker → ``request_modules`` (yours,
e.g. trace-context injection) → transport. The client tells the observers of every attempt that
reached the network: ``response_observers`` and those the call's strategy holds
(:meth:`RequestStrategy.observers`, e.g. a :class:`PercentileBasedRequestAttemptDelaysProvider`
given as a delays provider, however deeply the strategy wraps it; a per-call ``strategy=``
brings its own).
See ``docs/overload-protection.md`` for the budgets, the breaker and adaptive hedging.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import yarl

from aio_request._core.clock import MONOTONIC_CLOCK, Clock
from aio_request._core.deprecation import MetricsProvider, warn_metrics_provider
from aio_request._core.validate import positive
from aio_request.circuit_breaker import CircuitBreaker
from aio_request.client.client import Client
from aio_request.client.endpoint import EndpointProvider, StaticEndpointProvider
from aio_request.events import DEFAULT_EVENT_HUB, EventHub
from aio_request.http.priority import Priority
from aio_request.http.request import Method
from aio_request.http.transport import Transport
from aio_request.pipeline import (
    LowTimeoutModule,
    RequestEnricher,
    RequestModule,
    TransportModule,
    build_pipeline,
)
from aio_request.pipeline.breaker import CircuitBreakerModule
from aio_request.policies.budget import (
    DEFAULT_HEDGE_BUDGET,
    DEFAULT_RETRY_BUDGET,
    AttemptBudget,
    HedgeBudget,
    RetryBudget,
)
from aio_request.policies.classify import DefaultResponseClassifier, ResponseClassifier
from aio_request.policies.observer import RequestResponseObserver
from aio_request.strategies import (
    MethodBasedStrategy,
    RequestStrategy,
    sequential_strategy,
    single_attempt_strategy,
)

_SAFE_METHODS = (Method.GET, "HEAD", "OPTIONS")


def setup(
    *,
    transport: Transport,
    endpoint: str | yarl.URL | None = None,
    endpoint_provider: EndpointProvider | None = None,
    safe_method_strategy: RequestStrategy | None = None,
    unsafe_method_strategy: RequestStrategy | None = None,
    response_classifier: ResponseClassifier | None = None,
    timeout: float = 20.0,
    priority: Priority = Priority.NORMAL,
    low_timeout_threshold: float = 0.005,
    emit_system_headers: bool = True,
    request_enricher: RequestEnricher | None = None,
    clock: Clock = MONOTONIC_CLOCK,
    event_hub: EventHub = DEFAULT_EVENT_HUB,
    circuit_breaker: CircuitBreaker[str, Any] | None = None,
    retry_budget: RetryBudget | None = DEFAULT_RETRY_BUDGET,
    hedge_budget: HedgeBudget | None = DEFAULT_HEDGE_BUDGET,
    response_observers: Iterable[RequestResponseObserver] = (),
    request_modules: Sequence[RequestModule] = (),
    metrics_provider: MetricsProvider | None = None,
) -> Client:
    """Build a client for one service (see the module docstring for the defaults).

    Give exactly one of ``endpoint`` (an absolute http(s) URL) and ``endpoint_provider``.
    Invalid options raise ``ValueError`` naming the option. ``event_hub`` receives the client's
    telemetry events (:mod:`aio_request.events`); pass ``EventHub()`` for a client that reports
    nothing, not even the Prometheus metrics that installing ``prometheus-client`` turns on.

    ``circuit_breaker`` (e.g. ``DefaultCircuitBreaker[str, ClosableResponse](...)``; its result
    type parameter is not checked, so the original's ``[str, int]`` works too) guards every
    attempt per endpoint; ``retry_budget`` and ``hedge_budget`` ration extra attempts per
    endpoint (``None`` turns one off); ``response_observers`` are told of every attempt sent,
    as are the observers each strategy reports (:meth:`RequestStrategy.observers`: a delays
    provider that learns, such as :class:`PercentileBasedRequestAttemptDelaysProvider`, at any
    depth of wrapping), for the calls that use that strategy.
    ``request_modules`` run for every attempt just before the transport, e.g.
    ``[aio_request.telemetry.otel.TraceContextModule()]`` to send the W3C trace context.
    ``metrics_provider`` is deprecated and has no effect (a ``DeprecationWarning`` says so):
    Prometheus metrics are recorded through ``event_hub`` when ``prometheus-client`` is installed.
    """
    warn_metrics_provider("setup()", metrics_provider)
    if (endpoint is None) == (endpoint_provider is None):
        raise ValueError("give exactly one of endpoint and endpoint_provider")
    provider = endpoint_provider if endpoint_provider is not None else StaticEndpointProvider(endpoint)  # type: ignore[arg-type]
    if not isinstance(priority, Priority):
        raise ValueError(f"priority must be a Priority, got {priority!r}")
    safe = safe_method_strategy if safe_method_strategy is not None else sequential_strategy()
    unsafe = unsafe_method_strategy if unsafe_method_strategy is not None else single_attempt_strategy()
    classifier = response_classifier if response_classifier is not None else DefaultResponseClassifier()
    modules: list[RequestModule] = [LowTimeoutModule(low_timeout_threshold)]
    if circuit_breaker is not None:
        if not isinstance(circuit_breaker, CircuitBreaker):
            raise ValueError(f"circuit_breaker must be a CircuitBreaker or None, got {circuit_breaker!r}")
        modules.append(CircuitBreakerModule(circuit_breaker, classifier))
    observers = _checked_observers(response_observers)
    for module in request_modules:
        if not isinstance(module, RequestModule):
            raise ValueError(f"request_modules must hold RequestModule instances, got {module!r}")
        modules.append(module)
    modules.append(
        TransportModule(transport, emit_system_headers=emit_system_headers, request_enricher=request_enricher)
    )
    if retry_budget is not None and not isinstance(retry_budget, RetryBudget):
        raise ValueError(f"retry_budget must be a RetryBudget or None, got {retry_budget!r}")
    if hedge_budget is not None and not isinstance(hedge_budget, HedgeBudget):
        raise ValueError(f"hedge_budget must be a HedgeBudget or None, got {hedge_budget!r}")
    budget = None
    if retry_budget is not None or hedge_budget is not None:
        budget = AttemptBudget(retry=retry_budget, hedge=hedge_budget, clock=clock, event_hub=event_hub)
    return Client(
        endpoint_provider=provider,
        pipeline=build_pipeline(modules),
        strategy=MethodBasedStrategy(dict.fromkeys(_SAFE_METHODS, safe), default=unsafe),
        response_classifier=classifier,
        timeout=positive("timeout", timeout),
        priority=priority,
        clock=clock,
        event_hub=event_hub,
        attempt_budget=budget,
        response_observers=observers,
    )


def _checked_observers(given: Iterable[RequestResponseObserver]) -> list[RequestResponseObserver]:
    """``given``, each once, after checking that every one is an observer."""
    observers: list[RequestResponseObserver] = []
    for observer in given:
        if not isinstance(observer, RequestResponseObserver):
            raise ValueError(f"response_observers must hold RequestResponseObserver, got {observer!r}")
        if all(observer is not seen for seen in observers):
            observers.append(observer)
    return observers
