"""The state controller of one circuit: when to open, when to probe, when to close.

It holds no clock and awaits nothing: the breaker passes ``now`` and reports results, so every
transition happens synchronously between two awaits and needs no lock under asyncio.

Transitions::

    CLOSED ──(≥ minimum_throughput results and failure rate ≥ threshold)──▶ OPEN
    OPEN ──(first call after break_duration: it becomes the probe)──▶ HALF_OPEN
    HALF_OPEN ──(probe succeeded)──▶ CLOSED        (counts start afresh)
    HALF_OPEN ──(probe failed or raised)──▶ OPEN    (for another break_duration)

The circuit leaves half-open when the probe finishes, however long it takes; there is no timer.
A probe that is *cancelled* proves nothing about the server (hedging cancels the losers of every
race, callers give up), so it neither closes nor reopens the circuit: it gives the probe slot
back, the circuit stays half-open and the next call becomes the probe. It can never stay stuck.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from aio_request.circuit_breaker.metrics import CircuitBreakerMetrics
from aio_request.circuit_breaker.state import CircuitState


class Admission(enum.Enum):
    """What a call may do: run normally, run as the half-open probe, or take the fallback."""

    RUN = "run"
    PROBE = "probe"
    REJECT = "reject"


StateListener = Callable[[CircuitState, CircuitState], None]
"""Told ``(old, new)`` on every transition."""


class CircuitController:
    """The state of one circuit and its transitions (see the module docstring)."""

    __slots__ = (
        "_break_duration",
        "_failure_threshold",
        "_listener",
        "_metrics",
        "_minimum_throughput",
        "_opened_at",
        "_probing",
        "_state",
    )

    def __init__(
        self,
        *,
        metrics: CircuitBreakerMetrics,
        break_duration: float,
        failure_threshold: float,
        minimum_throughput: int,
        listener: StateListener,
    ) -> None:
        self._metrics = metrics
        self._break_duration = break_duration
        self._failure_threshold = failure_threshold
        self._minimum_throughput = minimum_throughput
        self._listener = listener
        self._state = CircuitState.CLOSED
        self._opened_at = 0.0
        self._probing = False

    @property
    def state(self) -> CircuitState:
        """The current state (an open circuit turns half-open only when a call arrives)."""
        return self._state

    def admit(self, now: float) -> Admission:
        """Decide what the call arriving at ``now`` may do (and mark the probe as running)."""
        state = self._state
        if state is CircuitState.CLOSED:
            return Admission.RUN
        if state is CircuitState.OPEN:
            if now - self._opened_at < self._break_duration:
                return Admission.REJECT
            self._move(CircuitState.HALF_OPEN)
        if self._probing:
            return Admission.REJECT
        self._probing = True
        return Admission.PROBE

    def record(self, admission: Admission, *, is_successful: bool, now: float) -> None:
        """Account for the finished call that was admitted as ``admission``."""
        if admission is Admission.PROBE:
            self._probing = False
            if is_successful:
                self._metrics.reset()
                self._move(CircuitState.CLOSED)
            else:
                self._open(now)
            return
        if admission is not Admission.RUN or self._state is not CircuitState.CLOSED:
            # A call that started while closed may finish after the circuit opened: it says
            # nothing new about a circuit that is already open or probing.
            return
        metrics = self._metrics
        metrics.add(is_successful=is_successful, now=now)
        if is_successful:
            return
        snapshot = metrics.snapshot(now)
        if snapshot.total >= self._minimum_throughput and snapshot.failure_rate >= self._failure_threshold:
            self._open(now)

    def release(self, admission: Admission) -> None:
        """The call admitted as ``admission`` was cancelled: give the probe slot back if it held it."""
        if admission is Admission.PROBE:
            self._probing = False

    def _open(self, now: float) -> None:
        self._opened_at = now
        self._metrics.reset()
        self._move(CircuitState.OPEN)

    def _move(self, new: CircuitState) -> None:
        old, self._state = self._state, new
        if old is not new:
            self._listener(old, new)
