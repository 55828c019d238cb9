"""The event listener that records aio_request's metrics, and :func:`install`."""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Final

import prometheus_client
from prometheus_client.registry import CollectorRegistry

from aio_request.events import (
    DEFAULT_EVENT_HUB,
    Event,
    EventHandler,
    EventHub,
)
from aio_request.telemetry import LATENCY_BUCKETS
from aio_request.telemetry.prometheus.collector import collector_for
from aio_request.telemetry.prometheus.replicas import replica_handlers

_log = logging.getLogger(__name__)

DEFAULT_BUCKETS: Final[tuple[float, ...]] = LATENCY_BUCKETS
"""Histogram buckets in seconds, 5 ms to 20 s (the longest default deadline), plus ``+Inf``."""


def _checked_buckets(buckets: Sequence[float]) -> tuple[float, ...]:
    bounds = tuple(float(bound) for bound in buckets)
    if bounds and bounds[-1] == math.inf:
        bounds = bounds[:-1]
    if (
        not bounds
        or any(math.isnan(bound) for bound in bounds)
        or any(previous >= bound for previous, bound in itertools.pairwise(bounds))
    ):
        raise ValueError(f"buckets must be a non-empty increasing sequence, got {tuple(buckets)!r}")
    return bounds


class PrometheusMetrics:
    """An event listener that records aio_request's metrics into a Prometheus registry.

    ``registry`` defaults to ``prometheus_client.REGISTRY``; ``buckets`` (:data:`DEFAULT_BUCKETS`)
    are the histograms' upper bounds in seconds, increasing (a trailing ``+Inf`` is implied).
    The metrics are registered when the listener is made — which the automatic listener is at
    the first client or middleware — and show up once they have a sample. Every listener of
    one registry shares the same metrics. Subscribe it to a hub, or use :func:`install`::

        hub.subscribe(PrometheusMetrics(registry))

    Raises ``ValueError`` for empty, unsorted or NaN ``buckets``. If the registry already
    holds metrics of these names from elsewhere, a warning is logged and the listener records
    nothing.
    """

    __slots__ = ("event_handlers", "registry")

    event_handlers: Mapping[type, EventHandler]
    """The function for each event class it records; the hub calls these directly."""
    registry: CollectorRegistry
    """The registry the metrics are registered in."""

    def __init__(
        self, registry: CollectorRegistry | None = None, *, buckets: Sequence[float] = DEFAULT_BUCKETS
    ) -> None:
        bounds = _checked_buckets(buckets)
        self.registry = registry if registry is not None else prometheus_client.REGISTRY
        try:
            self.event_handlers = {
                **collector_for(self.registry, bounds).handlers,
                **replica_handlers(self.registry),
            }
        except ValueError as error:
            _log.warning("aio_request Prometheus metrics are off for this registry: %s", error)
            self.event_handlers = {}

    def __call__(self, event: Event) -> None:
        """Record ``event`` (events without a metric are ignored)."""
        handler = self.event_handlers.get(type(event))
        if handler is not None:
            handler(event)


def default_listener() -> PrometheusMetrics:
    """The automatic listener of :data:`~aio_request.events.DEFAULT_EVENT_HUB`: the default registry."""
    return PrometheusMetrics()


def install(
    registry: CollectorRegistry | None = None,
    *,
    event_hub: EventHub = DEFAULT_EVENT_HUB,
    buckets: Sequence[float] = DEFAULT_BUCKETS,
) -> Callable[[], None]:
    """Record ``event_hub``'s metrics into ``registry`` (default ``prometheus_client.REGISTRY``).

    The hub's automatic listeners are disabled first, so the metrics are not also recorded in
    the default registry. Returns the function that unsubscribes the new listener.
    """
    listener = PrometheusMetrics(registry, buckets=buckets)
    event_hub.disable_auto_listeners()
    return event_hub.subscribe(listener)
