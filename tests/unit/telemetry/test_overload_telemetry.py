"""Overload protection telemetry: limit, in flight by priority, shed by reason, queue time."""

from __future__ import annotations

import asyncio

import prometheus_client
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from aio_request import Priority
from aio_request.events import EventHub
from aio_request.server.overload import FixedLimit, OverloadProtection, Permit
from aio_request.telemetry.otel import OpenTelemetryListener
from aio_request.telemetry.prometheus import PrometheusMetrics


def route() -> str:
    return "/work"


async def overload(hub: EventHub) -> None:
    """One request runs, one waits then runs, one is shed because the queue is full."""
    protection = OverloadProtection(limit=FixedLimit(1), max_queue_size=1, name="api", event_hub=hub)
    running = await protection.acquire(priority=Priority.HIGH, remaining=10, route_of=route)
    waiting = asyncio.create_task(protection.acquire(priority=Priority.LOW, remaining=10, route_of=route))
    for _ in range(5):
        await asyncio.sleep(0)
    await protection.acquire(priority=Priority.LOW, remaining=10, route_of=route)
    assert isinstance(running, Permit)
    running.release()
    assert isinstance(await waiting, Permit)


async def test_prometheus_records_the_overload_metrics() -> None:
    registry = prometheus_client.CollectorRegistry()
    hub = EventHub()
    hub.subscribe(PrometheusMetrics(registry))
    await overload(hub)
    value = registry.get_sample_value
    assert value("aio_request_server_concurrency_limit", {"protection": "api"}) == 1
    assert value("aio_request_server_in_flight", {"protection": "api", "request_priority": "high"}) == 0
    assert value("aio_request_server_in_flight", {"protection": "api", "request_priority": "low"}) == 1
    shed = {"protection": "api", "request_path": "/work", "request_priority": "low", "reason": "queue_full"}
    assert value("aio_request_server_shed_total", shed) == 1
    assert value("aio_request_server_queue_time_count", {"protection": "api", "request_priority": "low"}) == 1
    assert (
        value("aio_request_server_queue_time_count", {"protection": "api", "request_priority": "high"}) == 1
    )


async def test_opentelemetry_records_the_overload_metrics() -> None:
    reader = InMemoryMetricReader()
    hub = EventHub()
    hub.subscribe(OpenTelemetryListener(meter_provider=MeterProvider(metric_readers=[reader]), traces=False))
    await overload(hub)
    data = reader.get_metrics_data()
    assert data is not None
    points: dict[str, list[tuple[dict[str, object], object]]] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    value = getattr(point, "value", None)
                    if value is None:
                        value = getattr(point, "count", None)
                    points.setdefault(metric.name, []).append((dict(point.attributes or {}), value))
    assert points["aio_request.server.concurrency_limit"] == [({"aio_request.protection": "api"}, 1)]
    in_flight = {
        str(attributes["aio_request.priority"]): value
        for attributes, value in points["aio_request.server.in_flight"]
    }
    assert in_flight == {"high": 0, "low": 1}
    [(shed_attributes, shed_count)] = points["aio_request.server.shed"]
    assert shed_attributes == {
        "aio_request.protection": "api",
        "aio_request.priority": "low",
        "aio_request.shed.reason": "queue_full",
        "http.route": "/work",
    }
    assert shed_count == 1
    assert [count for _, count in points["aio_request.server.queue_time"]] == [1, 1]
