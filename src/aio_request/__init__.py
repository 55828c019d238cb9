"""aio_request: deadline-aware, hedged and budgeted HTTP calls between asyncio microservices.

Integrations (aiohttp, httpx) are resolved lazily: ``aio_request.AioHttpTransport`` imports
aiohttp on first use. When an integration's extra is not installed its names are left out of
``__all__`` and ``dir()``, and reading one raises an ``AttributeError`` (so ``hasattr`` is
``False``) that names the extra to install. The deprecated names and module paths of
aio-request 0.2.9 are served by :mod:`aio_request._deprecated`.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import TYPE_CHECKING, Any

from aio_request import _deprecated
from aio_request._core.errors import FailureKind, TransportFailure, UnexpectedContentTypeError
from aio_request._version import __version__ as __version__
from aio_request.balancing import (
    DnsReplicas,
    LeastOutstandingPolicy,
    OutlierDetection,
    PeakEwmaPolicy,
    RoundRobinPolicy,
    StaticReplicas,
)
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
from aio_request.client.balanced_endpoint import BalancedEndpointProvider
from aio_request.client.client import Client
from aio_request.client.endpoint import DelegateEndpointProvider, EndpointProvider, StaticEndpointProvider
from aio_request.client.setup import setup
from aio_request.http.builders import (
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
from aio_request.http.context import Context, get_context, set_context
from aio_request.http.deadline import Deadline
from aio_request.http.headers import Header
from aio_request.http.priority import Priority
from aio_request.http.request import Headers, Method, Request
from aio_request.http.response import ClosableResponse, EmptyResponse, Response
from aio_request.http.transport import Transport
from aio_request.http.url import PathParameters, QueryParameters
from aio_request.pipeline import (
    BypassModule,
    LowTimeoutModule,
    NextModuleFunc,
    RequestModule,
    TransportModule,
    build_pipeline,
)
from aio_request.policies.budget import HedgeBudget, RetryBudget
from aio_request.policies.classify import DefaultResponseClassifier, ResponseClassifier, ResponseVerdict
from aio_request.policies.deadline_split import pass_deadline_through, split_deadline_between_attempts
from aio_request.policies.delays import (
    RequestAttemptDelaysProvider,
    constant_delays,
    linear_backoff_delays,
    linear_delays,
)
from aio_request.policies.observer import RequestResponseObserver
from aio_request.policies.percentile_delays import PercentileBasedRequestAttemptDelaysProvider
from aio_request.server.asgi import AsgiMiddleware, asgi_timeout
from aio_request.server.overload import (
    AimdLimit,
    FixedLimit,
    Gradient2Limit,
    OverloadProtection,
    PriorityPartitions,
    VegasLimit,
)
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

if TYPE_CHECKING:
    from aio_request.server.aiohttp import aiohttp_middleware_factory, aiohttp_timeout
    from aio_request.transports.aiohttp import AioHttpDnsResolver, AioHttpTransport
    from aio_request.transports.httpx import HttpxTransport

__all__ = [
    "AdaptiveThrottlingCircuitBreaker",
    "AimdLimit",
    "AioHttpDnsResolver",
    "AioHttpTransport",
    "AsgiMiddleware",
    "BalancedEndpointProvider",
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
    "DnsReplicas",
    "EmptyResponse",
    "EndpointProvider",
    "FailureKind",
    "FixedLimit",
    "Gradient2Limit",
    "Header",
    "Headers",
    "HedgeBudget",
    "HttpxTransport",
    "LeastOutstandingPolicy",
    "LowTimeoutModule",
    "Method",
    "MethodBasedStrategy",
    "NextModuleFunc",
    "NoopCircuitBreaker",
    "OutlierDetection",
    "OverloadProtection",
    "ParallelRequestStrategy",
    "PathParameters",
    "PeakEwmaPolicy",
    "PercentileBasedRequestAttemptDelaysProvider",
    "Priority",
    "PriorityPartitions",
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
    "RoundRobinPolicy",
    "SendRequestFunc",
    "SequentialRequestStrategy",
    "SingleAttemptRequestStrategy",
    "StaticEndpointProvider",
    "StaticReplicas",
    "Transport",
    "TransportFailure",
    "TransportModule",
    "UnexpectedContentTypeError",
    "VegasLimit",
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
# extra -> the top-level packages it installs that its integration imports
_EXTRA_PACKAGES = {"aiohttp": ("aiohttp",), "httpx": ("httpx", "anyio")}


def _installed(extra: str) -> bool:
    """Whether ``extra``'s packages can be found (without importing them)."""
    try:
        return all(importlib.util.find_spec(package) is not None for package in _EXTRA_PACKAGES[extra])
    except (ImportError, ValueError):  # a finder that refuses the package, a broken install
        return False


_MISSING = frozenset(name for name, (_module, extra) in _LAZY.items() if not _installed(extra))
if _MISSING:
    __all__ = [name for name in __all__ if name not in _MISSING]

_deprecated.install_legacy_module_finder(sys.modules[__name__])


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        return _deprecated.attribute(name)
    module_name, extra = target
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise AttributeError(
            f"aio_request.{name} needs the {extra!r} integration: pip install 'aio-request-ng[{extra}]'"
        ) from error
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *(name for name in _LAZY if name not in _MISSING)})
