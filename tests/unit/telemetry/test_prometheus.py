"""The Prometheus adapter: names, labels, buckets, cardinality, statuses, laziness, cost-free absence."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import textwrap
import threading

import prometheus_client
import pytest

import aio_request
from aio_request import EmptyResponse, get
from aio_request._core.outcomes import AttemptKind, BudgetKind, CircuitState
from aio_request.events import BudgetExhausted, CircuitStateChanged, EventHub, ServerRequestFinished
from aio_request.http.response import BufferedResponse
from aio_request.telemetry.prometheus import DEFAULT_BUCKETS, PrometheusMetrics, default_listener, install
from aio_request.testing import FakeClock

from .helpers import ENDPOINT, client, status_of

OK = BufferedResponse(status=200, body=b"ok")
UNAVAILABLE = EmptyResponse(status=503)
BUCKET_BOUNDS = [
    *("0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75"),
    *("1.0", "2.5", "5.0", "7.5", "10.0", "20.0", "+Inf"),
]


def prometheus_hub() -> tuple[EventHub, prometheus_client.CollectorRegistry]:
    registry = prometheus_client.CollectorRegistry()
    hub = EventHub()
    hub.subscribe(PrometheusMetrics(registry))
    return hub, registry


def label_sets(registry: prometheus_client.CollectorRegistry, sample_name: str) -> list[dict[str, str]]:
    return [
        dict(sample.labels)
        for family in registry.collect()
        for sample in family.samples
        if sample.name == sample_name
    ]


def bucket_bounds(registry: prometheus_client.CollectorRegistry, metric: str) -> list[str]:
    return [
        sample.labels["le"]
        for family in registry.collect()
        for sample in family.samples
        if sample.name == f"{metric}_bucket"
    ]


async def test_client_histograms_have_the_api_names_labels_and_buckets() -> None:
    hub, registry = prometheus_hub()
    clock = FakeClock(autojump=True)
    c, _ = client(hub, routes={("GET", "users/{id}"): OK}, clock=clock, latency=0.03)
    await status_of(c, get("users/{id}", path_parameters={"id": 7}))

    labels = {
        "request_endpoint": ENDPOINT,
        "request_method": "GET",
        "request_path": "users/{id}",
        "response_status": "200",
    }
    assert label_sets(registry, "aio_request_latency_count") == [{**labels, "circuit_breaker": "false"}]
    assert label_sets(registry, "aio_request_transport_latency_count") == [labels]
    assert bucket_bounds(registry, "aio_request_latency") == BUCKET_BOUNDS
    assert bucket_bounds(registry, "aio_request_transport_latency") == BUCKET_BOUNDS
    latency = {**labels, "circuit_breaker": "false"}
    assert registry.get_sample_value("aio_request_latency_sum", latency) == pytest.approx(0.03)
    assert registry.get_sample_value("aio_request_latency_bucket", {**latency, "le": "0.025"}) == 0
    assert registry.get_sample_value("aio_request_latency_bucket", {**latency, "le": "0.05"}) == 1
    assert registry.get_sample_value("aio_request_latency_bucket", {**latency, "le": "+Inf"}) == 1
    assert DEFAULT_BUCKETS[0] == 0.005
    assert DEFAULT_BUCKETS[-1] == 20.0


async def test_a_thousand_distinct_ids_make_one_label_set() -> None:
    hub, registry = prometheus_hub()
    c, _ = client(hub, routes={("GET", "users/{id}"): OK})
    for user_id in range(1000):
        await status_of(c, get("users/{id}", path_parameters={"id": user_id}))
    for sample in (
        "aio_request_latency_count",
        "aio_request_transport_latency_count",
        "aio_request_attempts_total",
    ):
        sets = label_sets(registry, sample)
        assert len(sets) == 1, sample
        assert sets[0]["request_path"] == "users/{id}"
    labels = {
        "request_endpoint": ENDPOINT,
        "request_method": "GET",
        "request_path": "users/{id}",
        "response_status": "200",
    }
    assert registry.get_sample_value("aio_request_transport_latency_count", labels) == 1000


async def test_attempts_are_counted_by_kind_and_outcome() -> None:
    hub, registry = prometheus_hub()
    answers = iter([UNAVAILABLE, UNAVAILABLE, OK])
    c, _ = client(hub, lambda url, request: next(answers))
    await status_of(c, get("x"))
    base = {"request_endpoint": ENDPOINT, "request_method": "GET", "request_path": "x"}
    counts = {
        (s["attempt_kind"], s["attempt_outcome"]): registry.get_sample_value("aio_request_attempts_total", s)
        for s in label_sets(registry, "aio_request_attempts_total")
    }
    assert counts == {("first", "reject"): 1, ("retry", "reject"): 1, ("retry", "accept"): 1}
    assert (
        registry.get_sample_value("aio_request_transport_latency_count", {**base, "response_status": "503"})
        == 2
    )
    assert (
        registry.get_sample_value("aio_request_transport_latency_count", {**base, "response_status": "200"})
        == 1
    )


async def test_a_losing_hedge_is_counted_as_a_cancelled_hedge_with_status_499() -> None:
    hub, registry = prometheus_hub()
    clock = FakeClock(autojump=True)
    latencies = iter([1.0, 0.05])
    c, _ = client(
        hub,
        lambda url, request: OK,
        clock=clock,
        latency=lambda request: next(latencies),
        safe_method_strategy=aio_request.parallel_strategy(
            attempts_count=2, delays_provider=aio_request.constant_delays(delay=0.1)
        ),
    )
    await status_of(c, get("x"))
    base = {"request_endpoint": ENDPOINT, "request_method": "GET", "request_path": "x"}
    assert (
        registry.get_sample_value(
            "aio_request_attempts_total", {**base, "attempt_kind": "first", "attempt_outcome": "cancelled"}
        )
        == 1
    )
    assert (
        registry.get_sample_value(
            "aio_request_attempts_total", {**base, "attempt_kind": "hedge", "attempt_outcome": "accept"}
        )
        == 1
    )
    assert (
        registry.get_sample_value("aio_request_transport_latency_count", {**base, "response_status": "499"})
        == 1
    )


async def test_a_call_the_caller_cancels_is_recorded_with_status_499() -> None:
    hub, registry = prometheus_hub()
    clock = FakeClock()
    c, _ = client(hub, lambda url, request: OK, clock=clock, latency=5.0)
    task = asyncio.ensure_future(status_of(c, get("slow")))
    await clock.advance(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    labels = {
        "request_endpoint": ENDPOINT,
        "request_method": "GET",
        "request_path": "slow",
        "response_status": "499",
        "circuit_breaker": "false",
    }
    assert registry.get_sample_value("aio_request_latency_count", labels) == 1
    assert registry.get_sample_value("aio_request_latency_sum", labels) == pytest.approx(0.5)


def test_server_budget_and_circuit_events_have_their_metrics() -> None:
    hub, registry = prometheus_hub()
    hub.emit(
        ServerRequestFinished(route="/users/{id}", method="GET", status=500, client="billing", duration=0.2)
    )
    hub.emit(BudgetExhausted(scope=ENDPOINT, kind=AttemptKind.HEDGE, budget=BudgetKind.HEDGE))
    hub.emit(CircuitStateChanged(scope=ENDPOINT, old=CircuitState.CLOSED, new=CircuitState.OPEN))
    server = {
        "request_client": "billing",
        "request_method": "GET",
        "request_path": "/users/{id}",
        "response_status": "500",
    }
    assert registry.get_sample_value("aio_request_server_latency_count", server) == 1
    assert bucket_bounds(registry, "aio_request_server_latency") == BUCKET_BOUNDS
    assert (
        registry.get_sample_value(
            "aio_request_budget_exhausted_total",
            {"request_endpoint": ENDPOINT, "attempt_kind": "hedge", "budget": "hedge"},
        )
        == 1
    )
    assert (
        registry.get_sample_value(
            "aio_request_circuit_state_changes_total", {"request_endpoint": ENDPOINT, "circuit_state": "open"}
        )
        == 1
    )
    assert registry.get_sample_value("aio_request_circuit_state", {"request_endpoint": ENDPOINT}) == 2
    hub.emit(CircuitStateChanged(scope=ENDPOINT, old=CircuitState.OPEN, new=CircuitState.HALF_OPEN))
    assert registry.get_sample_value("aio_request_circuit_state", {"request_endpoint": ENDPOINT}) == 1


async def test_the_client_budget_reports_refused_retries() -> None:
    hub, registry = prometheus_hub()
    c, _ = client(
        hub,
        lambda url, request: UNAVAILABLE,
        retry_budget=aio_request.RetryBudget(ratio=0.0, min_retries_per_second=0.0),
    )
    assert await status_of(c, get("x")) == 503
    assert (
        registry.get_sample_value(
            "aio_request_budget_exhausted_total",
            {"request_endpoint": ENDPOINT, "attempt_kind": "retry", "budget": "retry"},
        )
        == 1
    )


def test_a_registry_shows_nothing_before_the_first_event() -> None:
    registry = prometheus_client.CollectorRegistry()
    PrometheusMetrics(registry)
    assert prometheus_client.generate_latest(registry) == b""


def test_listeners_of_one_registry_share_its_metrics_and_other_buckets_are_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = prometheus_client.CollectorRegistry()
    first, second = PrometheusMetrics(registry), PrometheusMetrics(registry)
    event = ServerRequestFinished(route="/", method="GET", status=200, client="", duration=0.01)
    first(event)
    second(event)
    labels = {"request_client": "", "request_method": "GET", "request_path": "/", "response_status": "200"}
    assert registry.get_sample_value("aio_request_server_latency_count", labels) == 2
    with caplog.at_level(logging.WARNING):
        other = PrometheusMetrics(registry, buckets=[1.0, 2.0])
    assert other.event_handlers == {}
    assert "off for this registry" in caplog.records[0].getMessage()


@pytest.mark.parametrize("buckets", [[], [1.0, 0.5], [0.1, float("nan")], [1.0, 1.0]])
def test_invalid_buckets_are_refused(buckets: list[float]) -> None:
    with pytest.raises(ValueError, match="buckets"):
        PrometheusMetrics(prometheus_client.CollectorRegistry(), buckets=buckets)


def test_install_replaces_the_automatic_listener_with_a_registry_of_ones_own() -> None:
    hub = EventHub(auto_listeners=[default_listener])
    registry = prometheus_client.CollectorRegistry()
    unsubscribe = install(registry, event_hub=hub)
    hub.emit(ServerRequestFinished(route="/", method="GET", status=200, client="", duration=0.01))
    labels = {"request_client": "", "request_method": "GET", "request_path": "/", "response_status": "200"}
    assert registry.get_sample_value("aio_request_server_latency_count", labels) == 1
    assert len(hub.listeners_by_type[ServerRequestFinished]) == 1, "the automatic listener never loaded"
    unsubscribe()
    assert not hub.active


def test_threads_with_their_own_loops_lose_no_observation() -> None:
    hub, registry = prometheus_hub()

    def work() -> None:
        async def calls() -> None:
            c, _ = client(hub, lambda url, request: OK)
            for _ in range(300):
                await status_of(c, get("x"))

        asyncio.run(calls())

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    labels = {
        "request_endpoint": ENDPOINT,
        "request_method": "GET",
        "request_path": "x",
        "response_status": "200",
        "circuit_breaker": "false",
    }
    assert registry.get_sample_value("aio_request_latency_count", labels) == 900


def _run(code: str) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter; it prints one JSON object."""
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, check=True
    )
    result: dict[str, object] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


REQUEST_ONCE = """
    import asyncio, json, sys
    import aio_request
    from aio_request.http.response import BufferedResponse
    from aio_request.testing import FakeTransport

    async def once():
        client = aio_request.setup(
            transport=FakeTransport(lambda url, request: BufferedResponse(status=200)),
            endpoint="http://svc.test/",
        )
        async with client.request(aio_request.get("users/{id}", path_parameters={"id": 1})) as response:
            return response.status
"""


def test_importing_aio_request_imports_no_integration() -> None:
    result = _run(
        """
        import json, sys
        import aio_request, aio_request.events
        loaded = [name for name in ("prometheus_client", "opentelemetry") if name in sys.modules]
        print(json.dumps({"loaded": loaded}))
        """
    )
    assert result == {"loaded": []}


def test_installing_prometheus_client_is_enough_to_get_metrics_in_the_default_registry() -> None:
    result = _run(
        REQUEST_ONCE
        + """
    status = asyncio.run(once())
    import prometheus_client
    value = prometheus_client.REGISTRY.get_sample_value("aio_request_latency_count", {
        "request_endpoint": "http://svc.test/", "request_method": "GET", "request_path": "users/{id}",
        "response_status": "200", "circuit_breaker": "false"})
    print(json.dumps({"status": status, "count": value}))
    """
    )
    assert result == {"status": 200, "count": 1.0}


def test_disabling_the_automatic_listener_keeps_the_default_registry_empty() -> None:
    result = _run(
        REQUEST_ONCE
        + """
    aio_request.events.DEFAULT_EVENT_HUB.disable_auto_listeners()
    status = asyncio.run(once())
    print(json.dumps({"status": status, "prometheus": "prometheus_client" in sys.modules,
                      "active": aio_request.events.DEFAULT_EVENT_HUB.active}))
    """
    )
    assert result == {"status": 200, "prometheus": False, "active": False}


def test_without_prometheus_client_there_is_no_error_and_no_listener() -> None:
    result = _run(
        """
    import sys
    sys.modules["prometheus_client"] = None  # as if it were not installed
    """
        + REQUEST_ONCE
        + """
    status = asyncio.run(once())
    print(json.dumps({"status": status, "active": aio_request.events.DEFAULT_EVENT_HUB.active}))
    """
    )
    assert result == {"status": 200, "active": False}
