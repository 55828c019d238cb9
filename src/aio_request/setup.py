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
"""

from __future__ import annotations

import yarl

from aio_request._clock import MONOTONIC_CLOCK, Clock
from aio_request._validate import positive
from aio_request.classify import DefaultResponseClassifier, ResponseClassifier
from aio_request.client import Client
from aio_request.endpoint import EndpointProvider, StaticEndpointProvider
from aio_request.pipeline import (
    LowTimeoutModule,
    RequestEnricher,
    RequestModule,
    TransportModule,
    build_pipeline,
)
from aio_request.priority import Priority
from aio_request.request import Method
from aio_request.strategies import (
    MethodBasedStrategy,
    RequestStrategy,
    sequential_strategy,
    single_attempt_strategy,
)
from aio_request.transport import Transport

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
) -> Client:
    """Build a client for one service (see the module docstring for the defaults).

    Give exactly one of ``endpoint`` (an absolute http(s) URL) and ``endpoint_provider``.
    Invalid options raise ``ValueError`` naming the option.
    """
    if (endpoint is None) == (endpoint_provider is None):
        raise ValueError("give exactly one of endpoint and endpoint_provider")
    provider = endpoint_provider if endpoint_provider is not None else StaticEndpointProvider(endpoint)  # type: ignore[arg-type]
    if not isinstance(priority, Priority):
        raise ValueError(f"priority must be a Priority, got {priority!r}")
    safe = safe_method_strategy if safe_method_strategy is not None else sequential_strategy()
    unsafe = unsafe_method_strategy if unsafe_method_strategy is not None else single_attempt_strategy()
    modules: list[RequestModule] = [
        LowTimeoutModule(low_timeout_threshold),
        TransportModule(
            transport, emit_system_headers=emit_system_headers, request_enricher=request_enricher
        ),
    ]
    return Client(
        endpoint_provider=provider,
        pipeline=build_pipeline(modules),
        strategy=MethodBasedStrategy(dict.fromkeys(_SAFE_METHODS, safe), default=unsafe),
        response_classifier=response_classifier
        if response_classifier is not None
        else DefaultResponseClassifier(),
        timeout=positive("timeout", timeout),
        priority=priority,
        clock=clock,
    )
