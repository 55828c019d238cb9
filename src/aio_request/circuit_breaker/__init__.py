"""Circuit breakers: stop calling an endpoint that keeps failing, then probe it once.

* :mod:`.state` — :class:`CircuitState`;
* :mod:`.breaker` — the :class:`CircuitBreaker` role and :class:`NoopCircuitBreaker`;
* :mod:`.metrics` — the rolling health window (:class:`RollingCircuitBreakerMetrics`);
* :mod:`.controller` — the state machine of one circuit;
* :mod:`.default` — :class:`DefaultCircuitBreaker`, one circuit per scope;
* :mod:`.adaptive` — :class:`AdaptiveThrottlingCircuitBreaker`, the SRE book's client-side
  adaptive throttling.

The circuit breaker does not import the strategies nor the budgets (policies are independent).
"""

from aio_request.circuit_breaker.adaptive import AdaptiveThrottlingCircuitBreaker
from aio_request.circuit_breaker.breaker import CircuitBreaker, NoopCircuitBreaker
from aio_request.circuit_breaker.default import DefaultCircuitBreaker
from aio_request.circuit_breaker.metrics import (
    CircuitBreakerMetrics,
    CircuitBreakerMetricsSnapshot,
    RollingCircuitBreakerMetrics,
)
from aio_request.circuit_breaker.state import CircuitState

__all__ = [
    "AdaptiveThrottlingCircuitBreaker",
    "CircuitBreaker",
    "CircuitBreakerMetrics",
    "CircuitBreakerMetricsSnapshot",
    "CircuitState",
    "DefaultCircuitBreaker",
    "NoopCircuitBreaker",
    "RollingCircuitBreakerMetrics",
]
