"""aio_request: deadline-aware, hedged and budgeted HTTP calls between asyncio microservices.

Integrations (aiohttp, httpx) are resolved lazily: ``aio_request.AioHttpTransport`` imports
aiohttp on first use, and names an extra to install when it is missing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from aio_request._errors import UnexpectedContentTypeError
from aio_request._version import __version__ as __version__
from aio_request.budget import HedgeBudget, RetryBudget
from aio_request.circuit_breaker import (
    AdaptiveThrottlingCircuitBreaker,
    CircuitBreaker,
    CircuitBreakerMetrics,
    CircuitBreakerMetricsSnapshot,
    CircuitState,
    DefaultCircuitBreaker,
    NoopCircuitBreaker,
    RollingCircuitBreakerMetrics,
)
from aio_request.classify import DefaultResponseClassifier, ResponseClassifier, ResponseVerdict
from aio_request.client import Client
from aio_request.context import Context, get_context, set_context
from aio_request.deadline import Deadline
from aio_request.deadlines import pass_deadline_through, split_deadline_between_attempts
from aio_request.delays import (
    RequestAttemptDelaysProvider,
    constant_delays,
    linear_backoff_delays,
    linear_delays,
)
from aio_request.endpoint import DelegateEndpointProvider, EndpointProvider, StaticEndpointProvider
from aio_request.headers import Header
from aio_request.observer import RequestResponseObserver
from aio_request.percentile_delays import PercentileBasedRequestAttemptDelaysProvider
from aio_request.pipeline import (
    BypassModule,
    LowTimeoutModule,
    NextModuleFunc,
    RequestModule,
    TransportModule,
    build_pipeline,
)
from aio_request.priority import Priority
from aio_request.request import Headers, Method, Request
from aio_request.request_builders import (
    delete,
    get,
    patch,
    patch_json,
    post,
    post_json,
    put,
    put_json,
    request,
    request_json,
)
from aio_request.response import ClosableResponse, EmptyResponse, Response
from aio_request.server.asgi import AsgiMiddleware, asgi_timeout
from aio_request.setup import setup
from aio_request.strategies import (
    MethodBasedStrategy,
    ParallelRequestStrategy,
    RequestStrategy,
    ResponseWithVerdict,
    RetryUntilDeadlineExpiredStrategy,
    SendRequestFunc,
    SequentialRequestStrategy,
    SingleAttemptRequestStrategy,
    parallel_strategy,
    retry_until_deadline_expired,
    sequential_strategy,
    single_attempt_strategy,
)
from aio_request.transport import Transport
from aio_request.url import PathParameters, QueryParameters

if TYPE_CHECKING:
    from aio_request.server.aiohttp import aiohttp_middleware_factory, aiohttp_timeout
    from aio_request.transports.aiohttp import AioHttpDnsResolver, AioHttpTransport
    from aio_request.transports.httpx import HttpxTransport

__all__ = [
    "AdaptiveThrottlingCircuitBreaker",
    "AioHttpDnsResolver",
    "AioHttpTransport",
    "AsgiMiddleware",
    "BypassModule",
    "CircuitBreaker",
    "CircuitBreakerMetrics",
    "CircuitBreakerMetricsSnapshot",
    "CircuitState",
    "Client",
    "ClosableResponse",
    "Context",
    "Deadline",
    "DefaultCircuitBreaker",
    "DefaultResponseClassifier",
    "DelegateEndpointProvider",
    "EmptyResponse",
    "EndpointProvider",
    "Header",
    "Headers",
    "HedgeBudget",
    "HttpxTransport",
    "LowTimeoutModule",
    "Method",
    "MethodBasedStrategy",
    "NextModuleFunc",
    "NoopCircuitBreaker",
    "ParallelRequestStrategy",
    "PathParameters",
    "PercentileBasedRequestAttemptDelaysProvider",
    "Priority",
    "QueryParameters",
    "Request",
    "RequestAttemptDelaysProvider",
    "RequestModule",
    "RequestResponseObserver",
    "RequestStrategy",
    "Response",
    "ResponseClassifier",
    "ResponseVerdict",
    "ResponseWithVerdict",
    "RetryBudget",
    "RetryUntilDeadlineExpiredStrategy",
    "RollingCircuitBreakerMetrics",
    "SendRequestFunc",
    "SequentialRequestStrategy",
    "SingleAttemptRequestStrategy",
    "StaticEndpointProvider",
    "Transport",
    "TransportModule",
    "UnexpectedContentTypeError",
    "aiohttp_middleware_factory",
    "aiohttp_timeout",
    "asgi_timeout",
    "build_pipeline",
    "constant_delays",
    "delete",
    "get",
    "get_context",
    "linear_backoff_delays",
    "linear_delays",
    "parallel_strategy",
    "pass_deadline_through",
    "patch",
    "patch_json",
    "post",
    "post_json",
    "put",
    "put_json",
    "request",
    "request_json",
    "retry_until_deadline_expired",
    "sequential_strategy",
    "set_context",
    "setup",
    "single_attempt_strategy",
    "split_deadline_between_attempts",
]

# name -> (module, the extra that installs its integration)
_LAZY = {
    "AioHttpTransport": ("aio_request.transports.aiohttp", "aiohttp"),
    "AioHttpDnsResolver": ("aio_request.transports.aiohttp", "aiohttp"),
    "HttpxTransport": ("aio_request.transports.httpx", "httpx"),
    "aiohttp_middleware_factory": ("aio_request.server.aiohttp", "aiohttp"),
    "aiohttp_timeout": ("aio_request.server.aiohttp", "aiohttp"),
}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'aio_request' has no attribute {name!r}")
    module_name, extra = target
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ImportError(
            f"aio_request.{name} needs the {extra!r} integration: pip install 'aio-request[{extra}]'"
        ) from error
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
