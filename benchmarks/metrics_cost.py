"""What telemetry costs per client request: events alone, Prometheus, OpenTelemetry.

Every variant sends single-attempt GETs through the same client over a transport that answers
at once, so the time measured is the library's own. Variants differ only in the event hub:

* ``off``: a hub nobody listens to (``setup(event_hub=EventHub())``): the baseline;
* ``events``: one listener that does nothing (the price of building and delivering events);
* ``prometheus``: :class:`~aio_request.telemetry.prometheus.PrometheusMetrics` on a fresh
  registry (every client metric: call latency, attempt latency, attempts counter);
* ``prom-client``: the same three metrics kept with ``prometheus_client``'s own labelled
  ``Histogram``/``Counter`` from the same events, for comparison (the original aio-request
  used those instruments);
* ``prom-cached``: the same instruments with each label set's child looked up once and kept
  (the cheapest way to use ``prometheus_client``'s own instruments);
* ``otel-metrics`` / ``otel``: the OpenTelemetry listener with the SDK's meter provider
  (in-memory reader), and with the tracer provider too (spans go nowhere, no processor).

Rounds alternate the variants; the median and the best round are reported, each with its
difference to ``off`` (the best round is the least disturbed by other work on the machine).
A hedged variant (two attempts per call, the first rejected at once) shows the per-attempt
share. Usage: ``python benchmarks/metrics_cost.py [--rounds 9] [--requests 5000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any

import prometheus_client
import yarl
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

import aio_request
from aio_request.events import AttemptFinished, Event, EventHub, RequestFinished
from aio_request.http.response import BufferedResponse, ClosableResponse
from aio_request.telemetry import LATENCY_BUCKETS
from aio_request.telemetry.otel import OpenTelemetryListener
from aio_request.telemetry.prometheus import PrometheusMetrics


class _InstantTransport(aio_request.Transport):
    """Answers 200, or 503 for the first attempt of each call when ``reject_first``."""

    def __init__(self, reject_first: bool) -> None:
        self._reject_first = reject_first
        self._odd = False

    async def send(
        self, endpoint: yarl.URL, request: aio_request.Request, timeout: float
    ) -> ClosableResponse:
        if self._reject_first:
            self._odd = not self._odd
            if self._odd:
                return BufferedResponse(status=503)
        return BufferedResponse(status=200, body=b"{}")


def _nothing(event: Event) -> None:
    pass


class _Handlers:
    """A listener made of one function per event class."""

    def __init__(self, handlers: Mapping[type, Callable[[Any], None]]) -> None:
        self.event_handlers = handlers

    def __call__(self, event: Event) -> None:
        self.event_handlers[type(event)](event)


def _client_instruments() -> tuple[
    prometheus_client.Histogram, prometheus_client.Histogram, prometheus_client.Counter
]:
    """The three client metrics as ``prometheus_client`` instruments, on a fresh registry."""
    registry = prometheus_client.CollectorRegistry()
    labels = ["request_endpoint", "request_method", "request_path", "response_status"]
    latency = prometheus_client.Histogram(
        "aio_request_latency", "", [*labels, "circuit_breaker"], registry=registry, buckets=LATENCY_BUCKETS
    )
    attempt_latency = prometheus_client.Histogram(
        "aio_request_transport_latency", "", labels, registry=registry, buckets=LATENCY_BUCKETS
    )
    attempts = prometheus_client.Counter(
        "aio_request_attempts", "", [*labels[:3], "attempt_kind", "attempt_outcome"], registry=registry
    )
    return latency, attempt_latency, attempts


def _hubs() -> dict[str, Callable[[], EventHub]]:
    def off() -> EventHub:
        return EventHub()

    def events() -> EventHub:
        hub = EventHub()
        hub.subscribe(_nothing)
        return hub

    def prometheus() -> EventHub:
        hub = EventHub()
        hub.subscribe(PrometheusMetrics(prometheus_client.CollectorRegistry()))
        return hub

    def prom_client() -> EventHub:
        hub = EventHub()
        latency, attempt_latency, attempts = _client_instruments()

        def on_attempt(event: AttemptFinished) -> None:
            attempt_latency.labels(event.endpoint, event.method, event.path, str(event.status)).observe(
                event.duration
            )
            attempts.labels(
                event.endpoint, event.method, event.path, event.kind, event.verdict or "error"
            ).inc()

        def on_request(event: RequestFinished) -> None:
            latency.labels(
                event.endpoint,
                event.method,
                event.path,
                str(event.status),
                str(event.circuit_breaker).lower(),
            ).observe(event.duration)

        hub.subscribe(_Handlers({AttemptFinished: on_attempt, RequestFinished: on_request}))
        return hub

    def prom_cached() -> EventHub:
        hub = EventHub()
        latency, attempt_latency, attempts = _client_instruments()
        attempt_children: dict[tuple[object, ...], tuple[Any, Any]] = {}
        request_children: dict[tuple[object, ...], Any] = {}

        def on_attempt(event: AttemptFinished) -> None:
            key = (event.endpoint, event.method, event.path, event.status, event.kind, event.verdict)
            children = attempt_children.get(key)
            if children is None:
                children = attempt_children[key] = (
                    attempt_latency.labels(event.endpoint, event.method, event.path, str(event.status)),
                    attempts.labels(
                        event.endpoint, event.method, event.path, event.kind, event.verdict or "error"
                    ),
                )
            children[0].observe(event.duration)
            children[1].inc()

        def on_request(event: RequestFinished) -> None:
            key = (event.endpoint, event.method, event.path, event.status, event.circuit_breaker)
            child = request_children.get(key)
            if child is None:
                child = request_children[key] = latency.labels(
                    event.endpoint,
                    event.method,
                    event.path,
                    str(event.status),
                    str(event.circuit_breaker).lower(),
                )
            child.observe(event.duration)

        hub.subscribe(_Handlers({AttemptFinished: on_attempt, RequestFinished: on_request}))
        return hub

    def otel_metrics() -> EventHub:
        hub = EventHub()
        provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
        hub.subscribe(OpenTelemetryListener(meter_provider=provider, traces=False))
        return hub

    def otel() -> EventHub:
        hub = EventHub()
        meters = MeterProvider(metric_readers=[InMemoryMetricReader()])
        hub.subscribe(OpenTelemetryListener(meter_provider=meters, tracer_provider=TracerProvider()))
        return hub

    return {
        "off": off,
        "events": events,
        "prometheus": prometheus,
        "prom-client": prom_client,
        "prom-cached": prom_cached,
        "otel-metrics": otel_metrics,
        "otel": otel,
    }


async def _per_request(hub: EventHub, requests: int, hedged: bool) -> float:
    """Seconds of wall time per request (one task, nothing else running)."""
    strategy = (
        aio_request.sequential_strategy(attempts_count=2, delays_provider=aio_request.constant_delays())
        if hedged
        else aio_request.single_attempt_strategy()
    )
    client = aio_request.setup(
        transport=_InstantTransport(reject_first=hedged),
        endpoint="http://bench.test/",
        safe_method_strategy=strategy,
        event_hub=hub,
    )
    request = aio_request.get("things/{id}", path_parameters={"id": 1})
    for _ in range(200):  # warm up caches and lazily created instruments
        async with client.request(request):
            pass
    started = time.perf_counter()
    for _ in range(requests):
        async with client.request(request):
            pass
    return (time.perf_counter() - started) / requests


async def measure(rounds: int, requests: int, hedged: bool) -> dict[str, list[float]]:
    """µs per request of each round, for each variant (rounds alternate the variants)."""
    hubs = _hubs()
    samples: dict[str, list[float]] = {name: [] for name in hubs}
    for _ in range(rounds):
        for name, make in hubs.items():
            samples[name].append(await _per_request(make(), requests, hedged) * 1e6)
    return samples


def main() -> None:
    """Print the tables: median and best round, each also as the difference to ``off``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args()
    for hedged in (False, True):
        samples = asyncio.run(measure(args.rounds, args.requests, hedged))
        title = "2 attempts per call (first rejected)" if hedged else "1 attempt per call"
        print(f"\n{title}: {args.rounds} rounds x {args.requests} requests, µs per request")
        print(f"{'variant':<14}{'median':>9}{'over off':>10}{'best':>9}{'over off':>10}")
        median_off, best_off = statistics.median(samples["off"]), min(samples["off"])
        for name, values in samples.items():
            median, best = statistics.median(values), min(values)
            print(f"{name:<14}{median:>9.2f}{median - median_off:>10.2f}{best:>9.2f}{best - best_off:>10.2f}")


if __name__ == "__main__":
    main()
