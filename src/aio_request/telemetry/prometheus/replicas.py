"""Prometheus metrics of balanced clients, from the replica events of :mod:`aio_request.events`.

:class:`~aio_request.telemetry.prometheus.PrometheusMetrics` records these alongside the others,
in the same registry:

* ``aio_request_replica_attempts_total``: request_endpoint, replica, replica_outcome (success,
  failure, overload, neutral, cancelled);
* ``aio_request_replica_ejections_total``: request_endpoint, replica, reason (failures,
  unanswered, failure_backoff, circuit_open, retry_after);
* ``aio_request_replica_restorations_total``: request_endpoint, replica;
* ``aio_request_replica_changes_total``: request_endpoint, change (added, removed);
* ``aio_request_replicas`` (gauge): request_endpoint; the size of the replica set;
* ``aio_request_balancer_panic`` (gauge): request_endpoint; 1 while in panic mode.

``request_endpoint`` is the service URL; ``replica`` a replica's URL, so the number of series
grows with the replicas a service ever had (a DNS-discovered fleet that keeps changing its
addresses keeps adding series until the process restarts).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Mapping

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from aio_request.events import (
    BalancerPanicChanged,
    EventHandler,
    ReplicaAttemptFinished,
    ReplicaEjected,
    ReplicaRestored,
    ReplicasChanged,
)

_Counts = dict[tuple[str, ...], float]


class _ReplicaCollector(Collector):
    """The replica metrics of one registry."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._attempts: _Counts = {}
        self._ejections: _Counts = {}
        self._restorations: _Counts = {}
        self._changes: _Counts = {}
        self._replicas: _Counts = {}
        self._panic: _Counts = {}
        self.handlers: Mapping[type, EventHandler] = {
            ReplicaAttemptFinished: self._attempt_finished,
            ReplicaEjected: self._ejected,
            ReplicaRestored: self._restored,
            ReplicasChanged: self._changed,
            BalancerPanicChanged: self._panic_changed,
        }

    @staticmethod
    def _count(counts: _Counts, key: tuple[str, ...], amount: float = 1.0) -> None:
        counts[key] = counts.get(key, 0.0) + amount

    def _attempt_finished(self, event: ReplicaAttemptFinished) -> None:
        with self._lock:
            self._count(self._attempts, (event.service, event.replica, event.outcome))

    def _ejected(self, event: ReplicaEjected) -> None:
        with self._lock:
            self._count(self._ejections, (event.service, event.replica, event.reason))

    def _restored(self, event: ReplicaRestored) -> None:
        with self._lock:
            self._count(self._restorations, (event.service, event.replica))

    def _changed(self, event: ReplicasChanged) -> None:
        with self._lock:
            if event.added:
                self._count(self._changes, (event.service, "added"), len(event.added))
            if event.removed:
                self._count(self._changes, (event.service, "removed"), len(event.removed))
            self._replicas[(event.service,)] = float(event.replicas)

    def _panic_changed(self, event: BalancerPanicChanged) -> None:
        with self._lock:
            self._panic[(event.service,)] = 1.0 if event.panic else 0.0

    def _families(self) -> list[Metric]:
        families: list[Metric] = []
        for name, documentation, labels, counts in (
            (
                "aio_request_replica_attempts",
                "Attempts sent to each replica of a balanced service, by how they counted",
                ("request_endpoint", "replica", "replica_outcome"),
                self._attempts,
            ),
            (
                "aio_request_replica_ejections",
                "Times a replica was left out of picks, by reason",
                ("request_endpoint", "replica", "reason"),
                self._ejections,
            ),
            (
                "aio_request_replica_restorations",
                "Times a replica left out of picks was restored",
                ("request_endpoint", "replica"),
                self._restorations,
            ),
            (
                "aio_request_replica_changes",
                "Replicas added to or removed from a balanced service's set",
                ("request_endpoint", "change"),
                self._changes,
            ),
        ):
            counter = CounterMetricFamily(name, documentation, labels=labels)
            for key, value in counts.items():
                counter.add_metric(list(key), value)
            families.append(counter)
        for name, documentation, gauge_counts in (
            ("aio_request_replicas", "Replicas in a balanced service's set", self._replicas),
            ("aio_request_balancer_panic", "1 while a balanced service is in panic mode", self._panic),
        ):
            gauge = GaugeMetricFamily(name, documentation, labels=("request_endpoint",))
            for key, value in gauge_counts.items():
                gauge.add_metric(list(key), value)
            families.append(gauge)
        return families

    def describe(self) -> Iterable[Metric]:
        """The metric families, without samples."""
        return _ReplicaCollector()._families()

    def collect(self) -> Iterable[Metric]:
        """The families that have samples."""
        with self._lock:
            families = self._families()
        return [family for family in families if family.samples]


_collectors: weakref.WeakKeyDictionary[CollectorRegistry, _ReplicaCollector] = weakref.WeakKeyDictionary()
_collectors_lock = threading.Lock()


def replica_handlers(registry: CollectorRegistry) -> Mapping[type, EventHandler]:
    """The event handlers recording the replica metrics into ``registry`` (registered once)."""
    with _collectors_lock:
        collector = _collectors.get(registry)
        if collector is None:
            collector = _ReplicaCollector()
            registry.register(collector)
            _collectors[registry] = collector
        return collector.handlers
