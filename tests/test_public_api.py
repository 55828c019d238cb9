"""The public surface: ``aio_request.__all__`` is exactly the documented set, sorted."""

from __future__ import annotations

import subprocess
import sys

import aio_request

# Every name of ../shared/API.md, plus this project's documented additions (README "Beyond").
DOCUMENTED = {
    # Requests
    "Request", "get", "delete", "post", "put", "patch", "request",
    "post_json", "put_json", "patch_json", "request_json",
    "Headers", "PathParameters", "QueryParameters", "Method", "Header",
    # Responses
    "Response", "ClosableResponse", "EmptyResponse", "UnexpectedContentTypeError",
    # Beyond the original: why a synthetic response failed
    "FailureKind", "TransportFailure",
    # Deadline, priority, context
    "Deadline", "Priority", "Context", "get_context", "set_context",
    # Client
    "setup", "Client", "Transport", "AioHttpTransport", "HttpxTransport",
    "EndpointProvider", "StaticEndpointProvider", "DelegateEndpointProvider", "AioHttpDnsResolver",
    "RequestModule", "NextModuleFunc", "BypassModule", "LowTimeoutModule", "TransportModule",
    "build_pipeline",
    # Response classification
    "ResponseVerdict", "ResponseClassifier", "DefaultResponseClassifier",
    # Strategies
    "RequestStrategy", "ResponseWithVerdict", "SendRequestFunc",
    "single_attempt_strategy", "SingleAttemptRequestStrategy",
    "sequential_strategy", "SequentialRequestStrategy",
    "parallel_strategy", "ParallelRequestStrategy",
    "retry_until_deadline_expired", "RetryUntilDeadlineExpiredStrategy", "MethodBasedStrategy",
    # Delays and per-attempt deadlines
    "constant_delays", "linear_backoff_delays", "linear_delays", "RequestAttemptDelaysProvider",
    "pass_deadline_through", "split_deadline_between_attempts",
    "PercentileBasedRequestAttemptDelaysProvider", "RequestResponseObserver",
    # Circuit breaker
    "CircuitState", "CircuitBreaker", "NoopCircuitBreaker", "DefaultCircuitBreaker",
    "CircuitBreakerMetrics", "RollingCircuitBreakerMetrics", "CircuitBreakerMetricsSnapshot",
    # Server side (aiohttp)
    "aiohttp_middleware_factory", "aiohttp_timeout",
    # Beyond the original: ASGI server side
    "AsgiMiddleware", "asgi_timeout",
    # Beyond the original: budgets
    "RetryBudget", "HedgeBudget",
    # Beyond the original: balancing over replicas
    "BalancedEndpointProvider", "StaticReplicas", "DnsReplicas", "OutlierDetection",
    "PeakEwmaPolicy", "LeastOutstandingPolicy", "RoundRobinPolicy",
    # Beyond the original: server overload protection
    "OverloadProtection", "PriorityPartitions", "VegasLimit", "Gradient2Limit", "AimdLimit", "FixedLimit",
    # Beyond the original: client-side adaptive throttling (SRE book)
    "AdaptiveThrottlingCircuitBreaker",
}  # fmt: skip


def test_all_is_exactly_the_documented_set_and_sorted() -> None:
    assert set(aio_request.__all__) == DOCUMENTED
    assert aio_request.__all__ == sorted(aio_request.__all__)
    assert len(aio_request.__all__) == len(set(aio_request.__all__))


def test_every_exported_name_resolves_and_has_a_docstring() -> None:
    for name in aio_request.__all__:
        value = getattr(aio_request, name)
        if isinstance(value, type) or (callable(value) and not hasattr(value, "__origin__")):
            assert getattr(value, "__doc__", None), f"{name} has no docstring"


def test_version_is_a_string() -> None:
    assert isinstance(aio_request.__version__, str)


def test_the_core_imports_without_any_integration() -> None:
    blocker = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in {'aiohttp', 'httpx', 'prometheus_client', 'opentelemetry',"
        " 'starlette'}:\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import aio_request\n"
        "client = aio_request.setup(transport=__import__('aio_request.testing').testing.FakeTransport(),"
        " endpoint='http://x/')\n"
        "try:\n"
        "    aio_request.AioHttpTransport\n"
        "except AttributeError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, check=True)
    assert "pip install 'aio-request-ng[aiohttp]'" in result.stdout
