"""Replica telemetry: Prometheus and OpenTelemetry metrics, and the replica on attempt spans."""

from __future__ import annotations

from collections.abc import Iterator

import prometheus_client
import pytest
import yarl
from opentelemetry.trace import SpanKind

import aio_request
from aio_request import (
    BalancedEndpointProvider,
    EmptyResponse,
    LeastOutstandingPolicy,
    OutlierDetection,
    StaticReplicas,
    get,
)
from aio_request.events import EventHub
from aio_request.http.request import Request
from aio_request.http.response import Response
from aio_request.telemetry.prometheus import PrometheusMetrics
from aio_request.testing import FakeTransport

from .test_otel import Telemetry

A, B, C = (yarl.URL(f"http://10.0.0.{i}:8080/") for i in (1, 2, 3))
SERVICE = "http://users.internal/"


def answers(url: yarl.URL, request: Request) -> Response:
    return EmptyResponse(status=500 if url.host == A.host else 200)


async def run_calls(hub: EventHub, calls: int) -> BalancedEndpointProvider:
    """A fails everything: it is ejected after 5 failures in a row (least outstanding, no backoff)."""
    provider = BalancedEndpointProvider(
        StaticReplicas([A, B, C], service_url=SERVICE),
        policy=LeastOutstandingPolicy(),
        outlier_detection=OutlierDetection(failure_backoff_seconds=0.0),
        random=lambda: 0.0,
        event_hub=hub,
    )
    client = aio_request.setup(
        transport=FakeTransport(answers),
        endpoint_provider=provider,
        event_hub=hub,
        retry_budget=None,
        safe_method_strategy=aio_request.sequential_strategy(delays_provider=aio_request.constant_delays()),
    )
    for _ in range(calls):
        async with client.request(get("thing")) as response:
            assert response.status == 200
    return provider


async def test_prometheus_counts_attempts_per_replica_ejections_and_the_set() -> None:
    registry = prometheus_client.CollectorRegistry()
    hub = EventHub()
    hub.subscribe(PrometheusMetrics(registry))
    await run_calls(hub, 10)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"request_endpoint": SERVICE, **labels})

    assert value("aio_request_replica_attempts_total", replica=str(A), replica_outcome="failure") == 5
    assert value("aio_request_replica_attempts_total", replica=str(B), replica_outcome="success") == 10
    assert value("aio_request_replica_ejections_total", replica=str(A), reason="failures") == 1
    assert value("aio_request_replica_changes_total", change="added") == 3
    assert value("aio_request_replicas") == 3
    assert value("aio_request_balancer_panic") is None  # never changed


@pytest.fixture
def otel() -> Iterator[Telemetry]:
    telemetry = Telemetry()
    yield telemetry
    telemetry.tracer_provider.shutdown()
    telemetry.meter_provider.shutdown()


async def test_opentelemetry_names_the_replica_of_every_attempt_span(otel: Telemetry) -> None:
    await run_calls(otel.hub, 1)
    attempts = [span for span in otel.finished() if span.kind is SpanKind.CLIENT]
    assert [span.attributes["aio_request.replica"] for span in attempts] == [str(A), str(B)]  # type: ignore[index]
    assert [span.attributes["network.peer.address"] for span in attempts] == ["10.0.0.1", "10.0.0.2"]  # type: ignore[index]
    assert {span.attributes["server.address"] for span in attempts} == {"users.internal"}  # type: ignore[index]


async def test_opentelemetry_replica_metrics(otel: Telemetry) -> None:
    await run_calls(otel.hub, 10)
    counted = {
        (p.attributes["aio_request.replica"], p.attributes["aio_request.replica.outcome"]): p.value
        for p in otel.points("aio_request.replica.attempts")
    }
    assert counted == {(str(A), "failure"): 5, (str(B), "success"): 10}
    (ejection,) = otel.points("aio_request.replica.ejections")
    assert dict(ejection.attributes) == {
        "aio_request.endpoint": SERVICE,
        "aio_request.replica": str(A),
        "aio_request.replica.reason": "failures",
    }
    (size,) = otel.points("aio_request.replicas")
    assert size.value == 3
