"""The default circuit breaker: a rolling failure rate per scope, one probe when half-open.

Each scope (the client uses the endpoint URL string) gets its own circuit, made of a
:class:`~aio_request.circuit_breaker.controller.CircuitController` and a
:class:`~aio_request.circuit_breaker.metrics.RollingCircuitBreakerMetrics`. Circuits are created
on first use and kept for the breaker's lifetime: scopes are expected to be few (endpoints).

Time comes from the injected monotonic ``clock``; every transition is announced as a
:class:`~aio_request.events.CircuitStateChanged` event on ``event_hub``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType

from aio_request._core.clock import MONOTONIC_CLOCK, Clock
from aio_request._core.validate import at_least, fraction, int_between, positive
from aio_request.circuit_breaker.breaker import CircuitBreaker, TResult, TScope
from aio_request.circuit_breaker.controller import Admission, CircuitController, StateListener
from aio_request.circuit_breaker.metrics import MAX_WINDOWS_COUNT, RollingCircuitBreakerMetrics
from aio_request.circuit_breaker.state import CircuitState
from aio_request.events import DEFAULT_EVENT_HUB, CircuitStateChanged, EventHub


class DefaultCircuitBreaker(CircuitBreaker[TScope, TResult]):
    """Opens a scope's circuit when too many of its recent calls failed.

    Per scope, results are counted over a rolling ``sampling_duration`` seconds made of
    ``windows_count`` windows. When at least ``minimum_throughput`` results were counted and
    ``failures / total >= failure_threshold``, the circuit opens for ``break_duration`` seconds:
    calls return ``fallback`` without running. The first call after that is the probe
    (half-open) and every other call keeps getting the fallback while it runs; when the probe
    finishes, success closes the circuit and failure (an unsuccessful result or an exception)
    reopens it. A cancelled probe gives its slot back: the circuit stays half-open and the next
    call probes (cancellation says nothing about the server).

    Raises ``ValueError`` naming the option when ``break_duration`` or ``sampling_duration`` is
    not > 0, ``failure_threshold`` is not in ``(0, 1]`` (1 means "open only when every call
    failed"), or ``minimum_throughput``/``windows_count`` is not an int >= 1.

    Example::

        >>> breaker = DefaultCircuitBreaker[str, int](
        ...     break_duration=1.0, sampling_duration=1.0, minimum_throughput=2, failure_threshold=0.5
        ... )
    """

    __slots__ = (
        "_break_duration",
        "_circuits",
        "_clock",
        "_event_hub",
        "_failure_threshold",
        "_minimum_throughput",
        "_sampling_duration",
        "_windows_count",
    )

    def __init__(
        self,
        *,
        break_duration: float,
        failure_threshold: float,
        minimum_throughput: int,
        sampling_duration: float,
        windows_count: int = 10,
        clock: Clock = MONOTONIC_CLOCK,
        event_hub: EventHub = DEFAULT_EVENT_HUB,
    ) -> None:
        self._break_duration = positive("break_duration", break_duration)
        self._failure_threshold = fraction(
            "failure_threshold", failure_threshold, low_inclusive=False, high_inclusive=True
        )
        self._minimum_throughput = at_least("minimum_throughput", minimum_throughput, 1)
        self._sampling_duration = positive("sampling_duration", sampling_duration)
        self._windows_count = int_between("windows_count", windows_count, 1, MAX_WINDOWS_COUNT)
        self._clock = clock
        self._event_hub = event_hub
        self._circuits: dict[TScope, CircuitController] = {}

    def _circuit(self, scope: TScope) -> CircuitController:
        circuit = self._circuits.get(scope)
        if circuit is None:
            circuit = CircuitController(
                metrics=RollingCircuitBreakerMetrics(self._sampling_duration, self._windows_count),
                break_duration=self._break_duration,
                failure_threshold=self._failure_threshold,
                minimum_throughput=self._minimum_throughput,
                listener=self._listener_for(scope),
            )
            self._circuits[scope] = circuit
        return circuit

    def _listener_for(self, scope: TScope) -> StateListener:
        hub = self._event_hub

        def changed(old: CircuitState, new: CircuitState) -> None:
            if hub.active:
                hub.emit(CircuitStateChanged(scope=scope, old=old, new=new))

        return changed

    async def execute(
        self,
        *,
        scope: TScope,
        operation: Callable[[], Awaitable[TResult]],
        fallback: TResult,
        is_successful: Callable[[TResult], bool],
    ) -> TResult:
        """Run ``operation`` unless the scope's circuit is open (see the class docstring).

        An exception from ``operation`` or ``is_successful`` counts as a failure and propagates.
        """
        circuit = self._circuit(scope)
        admission = circuit.admit(self._clock.now())
        if admission is Admission.REJECT:
            return fallback
        try:
            result = await operation()
            successful = bool(is_successful(result))
        except asyncio.CancelledError:
            circuit.release(admission)
            raise
        except BaseException:
            circuit.record(admission, is_successful=False, now=self._clock.now())
            raise
        circuit.record(admission, is_successful=successful, now=self._clock.now())
        return result

    @property
    def state(self) -> Mapping[TScope, CircuitState]:
        """A read-only snapshot: scope → state, for every scope seen so far.

        An open circuit whose ``break_duration`` has passed still reads ``OPEN`` until the next
        call arrives and becomes the probe.
        """
        return MappingProxyType({scope: circuit.state for scope, circuit in self._circuits.items()})
