"""OpenTelemetry for balanced clients: the replica of each attempt span, and replica metrics.

:class:`~aio_request.telemetry.otel.OpenTelemetryListener` adds these handlers. With traces on,
an attempt's span gets ``aio_request.replica`` (the replica's URL) and ``network.peer.address``
/ ``network.peer.port`` (where the attempt went; ``server.address`` stays the service's). With
metrics on:

* ``aio_request.replica.attempts`` (counter): ``aio_request.endpoint``,
  ``aio_request.replica``, ``aio_request.replica.outcome`` (success, failure, overload,
  neutral, cancelled);
* ``aio_request.replica.ejections`` (counter): ``aio_request.endpoint``,
  ``aio_request.replica``, ``aio_request.replica.reason`` (failures, unanswered,
  failure_backoff, circuit_open, retry_after);
* ``aio_request.replica.restorations`` (counter): ``aio_request.endpoint``,
  ``aio_request.replica``;
* ``aio_request.replicas`` (gauge): ``aio_request.endpoint``; the size of the replica set;
* ``aio_request.balancer.panic`` (gauge): ``aio_request.endpoint``; 1 while in panic mode.
"""

from __future__ import annotations

from collections.abc import Callable

import yarl
from opentelemetry import metrics as otel_metrics
from opentelemetry import trace

from aio_request.events import (
    BalancerPanicChanged,
    EventHandler,
    ReplicaAttemptFinished,
    ReplicaEjected,
    ReplicaRestored,
    ReplicasChanged,
)


class _ReplicaInstruments:
    def __init__(self, meter: otel_metrics.Meter) -> None:
        self.attempts = meter.create_counter(
            "aio_request.replica.attempts", unit="1", description="Attempts sent to each replica"
        )
        self.ejections = meter.create_counter(
            "aio_request.replica.ejections", unit="1", description="Times a replica was left out of picks"
        )
        self.restorations = meter.create_counter(
            "aio_request.replica.restorations", unit="1", description="Times a replica was restored"
        )
        self.replicas = meter.create_gauge(
            "aio_request.replicas", unit="1", description="Replicas in a balanced service's set"
        )
        self.panic = meter.create_gauge(
            "aio_request.balancer.panic", unit="1", description="1 while a balanced service is in panic mode"
        )


class ReplicaTelemetry:
    """The replica handlers of one listener; ``meter`` is asked for on first use."""

    __slots__ = ("_instruments", "_meter", "_traces", "handlers")

    def __init__(self, meter: Callable[[], otel_metrics.Meter], *, traces: bool, metrics: bool) -> None:
        self._meter = meter
        self._instruments: _ReplicaInstruments | None = None
        handlers: dict[type, EventHandler] = {}
        if traces or metrics:
            handlers[ReplicaAttemptFinished] = self._attempt_finished if metrics else self._tag_span
        if metrics:
            handlers[ReplicaEjected] = self._ejected
            handlers[ReplicaRestored] = self._restored
            handlers[ReplicasChanged] = self._changed
            handlers[BalancerPanicChanged] = self._panic_changed
        self.handlers = handlers
        self._traces = traces

    def _get(self) -> _ReplicaInstruments:
        instruments = self._instruments
        if instruments is None:
            instruments = self._instruments = _ReplicaInstruments(self._meter())
        return instruments

    def _tag_span(self, event: ReplicaAttemptFinished) -> None:
        span = trace.get_current_span()
        if not span.is_recording():
            return
        url = yarl.URL(event.replica)
        span.set_attribute("aio_request.replica", event.replica)
        if url.host is not None:
            span.set_attribute("network.peer.address", url.host)
        if url.port is not None:
            span.set_attribute("network.peer.port", url.port)

    def _attempt_finished(self, event: ReplicaAttemptFinished) -> None:
        if self._traces:
            self._tag_span(event)
        self._get().attempts.add(
            1,
            {
                "aio_request.endpoint": event.service,
                "aio_request.replica": event.replica,
                "aio_request.replica.outcome": event.outcome,
            },
        )

    def _ejected(self, event: ReplicaEjected) -> None:
        self._get().ejections.add(
            1,
            {
                "aio_request.endpoint": event.service,
                "aio_request.replica": event.replica,
                "aio_request.replica.reason": event.reason,
            },
        )

    def _restored(self, event: ReplicaRestored) -> None:
        self._get().restorations.add(
            1, {"aio_request.endpoint": event.service, "aio_request.replica": event.replica}
        )

    def _changed(self, event: ReplicasChanged) -> None:
        self._get().replicas.set(event.replicas, {"aio_request.endpoint": event.service})

    def _panic_changed(self, event: BalancerPanicChanged) -> None:
        self._get().panic.set(1 if event.panic else 0, {"aio_request.endpoint": event.service})
