"""The OpenTelemetry adapter: span tree, attributes, hedges, propagation, server spans, metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import yarl
from multidict import CIMultiDict
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import aio_request
from aio_request import EmptyResponse, get
from aio_request._core.outcomes import AttemptKind, BudgetKind, CircuitState
from aio_request.events import BudgetExhausted, CircuitStateChanged, EventHub, ServerRequestFinished
from aio_request.http.response import BufferedResponse
from aio_request.pipeline import TransportModule, build_pipeline
from aio_request.telemetry.otel import (
    OpenTelemetryListener,
    TraceContextModule,
    extract_context,
    inject_trace_context,
    server_span,
    set_response_status,
)
from aio_request.testing import FakeClock, FakeTransport

from .helpers import ENDPOINT, client, status_of

OK = BufferedResponse(status=200, body=b"ok")
UNAVAILABLE = EmptyResponse(status=503)


class Telemetry:
    """An SDK tracer and meter provider with in-memory exporter and reader, and a hub."""

    def __init__(self, **options: Any) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.hub = EventHub()
        self.listener = OpenTelemetryListener(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider, **options
        )
        self.hub.subscribe(self.listener)

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        assert data is not None
        return [
            point
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
        ]


@pytest.fixture
def otel() -> Iterator[Telemetry]:
    telemetry = Telemetry()
    yield telemetry
    telemetry.tracer_provider.shutdown()
    telemetry.meter_provider.shutdown()


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_a_call_span_has_a_client_child_span_per_attempt(otel: Telemetry) -> None:
    answers = iter([UNAVAILABLE, OK])
    c, _ = client(otel.hub, lambda url, request: next(answers))
    assert await status_of(c, get("users/{id}", path_parameters={"id": 3})) == 200
    first, second, call = otel.finished()

    assert (call.name, call.kind, call.parent) == ("GET users/{id}", SpanKind.INTERNAL, None)
    assert call.status.status_code is StatusCode.UNSET
    assert call.attributes is not None
    assert call.attributes["aio_request.attempts"] == 2
    assert call.attributes["http.response.status_code"] == 200
    assert call.attributes["url.template"] == "users/{id}"
    assert (call.attributes["server.address"], call.attributes["server.port"]) == ("svc.test", 80)

    for span in (first, second):
        assert (span.name, span.kind) == ("GET users/{id}", SpanKind.CLIENT)
        assert parent_id(span) == call.context.span_id
        assert span.context.trace_id == call.context.trace_id
    assert first.attributes is not None
    assert second.attributes is not None
    assert dict(first.attributes) == {
        "http.request.method": "GET",
        "url.template": "users/{id}",
        "url.full": "http://svc.test/users/3",
        "server.address": "svc.test",
        "server.port": 80,
        "aio_request.attempt": 1,
        "aio_request.attempt.kind": "first",
        "aio_request.timeout": pytest.approx(20.0),
        "aio_request.status": 503,
        "http.response.status_code": 503,
        "error.type": "503",
        "aio_request.verdict": "reject",
    }
    assert first.status.status_code is StatusCode.ERROR
    assert second.attributes["aio_request.attempt.kind"] == "retry"
    assert second.attributes["http.request.resend_count"] == 1
    assert second.attributes["aio_request.verdict"] == "accept"
    assert second.status.status_code is StatusCode.UNSET


async def test_a_losing_hedge_ends_cancelled_not_failed(otel: Telemetry) -> None:
    clock = FakeClock(autojump=True)
    latencies = iter([1.0, 0.05])
    c, _ = client(
        otel.hub,
        lambda url, request: OK,
        clock=clock,
        latency=lambda request: next(latencies),
        safe_method_strategy=aio_request.parallel_strategy(
            attempts_count=2, delays_provider=aio_request.constant_delays(delay=0.1)
        ),
    )
    assert await status_of(c, get("x")) == 200
    spans = {
        span.attributes["aio_request.attempt"]: span
        for span in otel.finished()
        if span.kind is SpanKind.CLIENT and span.attributes is not None
    }
    loser, winner = spans[1], spans[2]
    assert loser.attributes is not None
    assert winner.attributes is not None
    assert loser.attributes["aio_request.cancelled"] is True
    assert loser.attributes["aio_request.status"] == 499
    assert "http.response.status_code" not in loser.attributes
    assert loser.status.status_code is StatusCode.UNSET
    assert winner.attributes["aio_request.attempt.kind"] == "hedge"
    assert winner.attributes["aio_request.verdict"] == "accept"


async def test_a_local_failure_names_its_cause_and_has_no_http_status(otel: Telemetry) -> None:
    clock = FakeClock(autojump=True)
    c, _ = client(
        otel.hub,
        lambda url, request: OK,
        clock=clock,
        latency=30.0,
        safe_method_strategy=aio_request.single_attempt_strategy(),
    )
    assert await status_of(c, get("x")) == 408
    attempt, call = otel.finished()
    for span in (attempt, call):
        assert span.attributes is not None
        assert span.attributes["error.type"] == "timeout"
        assert span.attributes["aio_request.status"] == 408
        assert "http.response.status_code" not in span.attributes
        assert span.status.status_code is StatusCode.ERROR


async def test_a_cancelled_call_is_not_an_error_and_an_exception_is_recorded(otel: Telemetry) -> None:
    clock = FakeClock()
    c, _ = client(otel.hub, routes={("GET", "slow"): OK}, clock=clock, latency=5.0)
    task = asyncio.ensure_future(status_of(c, get("slow")))
    await clock.advance(1.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    failing = asyncio.ensure_future(status_of(c, get("nowhere")))
    await clock.advance(5.0)
    with pytest.raises(LookupError):
        await failing
    cancelled_attempt, cancelled_call, failed_attempt, failed_call = otel.finished()
    for span in (cancelled_attempt, cancelled_call):
        assert span.attributes is not None
        assert span.attributes["aio_request.cancelled"] is True
        assert span.status.status_code is StatusCode.UNSET
    for span in (failed_attempt, failed_call):
        assert span.attributes is not None
        assert span.attributes["error.type"] == "LookupError"
        assert span.status.status_code is StatusCode.ERROR
        assert [event.name for event in span.events] == ["exception"]


async def test_the_callers_context_is_restored_after_the_call(otel: Telemetry) -> None:
    c, _ = client(otel.hub, lambda url, request: OK)
    outer = otel.tracer_provider.get_tracer("test").start_span("outer")
    with trace.use_span(outer, end_on_exit=True):
        await status_of(c, get("x"))
        assert trace.get_current_span() is outer
    call = next(span for span in otel.finished() if span.name == "GET x" and span.kind is SpanKind.INTERNAL)
    assert parent_id(call) == outer.get_span_context().span_id


async def test_the_trace_context_injected_into_an_attempt_names_that_attempt(otel: Telemetry) -> None:
    answers = iter([UNAVAILABLE, OK])
    c, transport = client(otel.hub, lambda url, request: next(answers), request_enricher=inject_trace_context)
    await status_of(c, get("x"))
    attempts = [span for span in otel.finished() if span.kind is SpanKind.CLIENT]
    sent = [request.request.headers["traceparent"].split("-")[1:3] for request in transport.requests]
    expected = [[f"{s.context.trace_id:032x}", f"{s.context.span_id:016x}"] for s in attempts]
    assert sent == expected


async def test_trace_context_module_injects_as_a_pipeline_module(otel: Telemetry) -> None:
    transport = FakeTransport(lambda url, request: OK)
    c = aio_request.Client(
        endpoint_provider=aio_request.StaticEndpointProvider(ENDPOINT),
        pipeline=build_pipeline([TraceContextModule(), TransportModule(transport)]),
        strategy=aio_request.single_attempt_strategy(),
        response_classifier=aio_request.DefaultResponseClassifier(),
        timeout=5,
        priority=aio_request.Priority.NORMAL,
        event_hub=otel.hub,
    )
    await status_of(c, get("x"))
    attempt = next(span for span in otel.finished() if span.kind is SpanKind.CLIENT)
    assert (
        transport.requests[0].request.headers["traceparent"].split("-")[2]
        == f"{attempt.context.span_id:016x}"
    )


async def test_without_a_current_span_nothing_is_injected() -> None:
    c, transport = client(EventHub(), lambda url, request: OK, request_enricher=inject_trace_context)
    await status_of(c, get("x"))
    assert "traceparent" not in transport.requests[0].request.headers


TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
SPAN_ID = 0xB7AD6B7169203331
TRACEPARENT = f"00-{TRACE_ID:032x}-{SPAN_ID:016x}-01"


@pytest.mark.parametrize(
    "headers",
    [
        {"traceparent": TRACEPARENT},
        {"Traceparent": TRACEPARENT},
        CIMultiDict({"TRACEPARENT": TRACEPARENT}),
        [(b"host", b"svc"), (b"traceparent", TRACEPARENT.encode())],
    ],
    ids=["dict", "dict-mixed-case", "multidict", "asgi-raw"],
)
def test_extract_context_reads_w3c_headers_of_any_server(headers: Any) -> None:
    span_context = trace.get_current_span(extract_context(headers)).get_span_context()
    assert (span_context.trace_id, span_context.span_id, span_context.is_remote) == (TRACE_ID, SPAN_ID, True)


def test_extract_context_without_headers_starts_no_trace() -> None:
    assert not trace.get_current_span(extract_context({})).get_span_context().is_valid


def test_server_span_is_a_child_of_the_caller_and_reports_the_status(otel: Telemetry) -> None:
    with server_span(
        {"traceparent": TRACEPARENT},
        method="GET",
        route="/users/{id}",
        client="billing",
        tracer_provider=otel.tracer_provider,
    ) as span:
        assert trace.get_current_span() is span
        set_response_status(span, 503)
    assert trace.get_current_span() is not span
    (served,) = otel.finished()
    assert (served.name, served.kind, served.context.trace_id, parent_id(served)) == (
        "GET /users/{id}",
        SpanKind.SERVER,
        TRACE_ID,
        SPAN_ID,
    )
    assert served.attributes is not None
    assert served.attributes["http.route"] == "/users/{id}"
    assert served.attributes["aio_request.client"] == "billing"
    assert served.attributes["http.response.status_code"] == 503
    assert served.status.status_code is StatusCode.ERROR


def test_a_server_span_of_a_client_gone_away_is_cancelled_not_failed(otel: Telemetry) -> None:
    with server_span({}, method="GET", route="/", tracer_provider=otel.tracer_provider) as span:
        set_response_status(span, 499)
    (served,) = otel.finished()
    assert served.attributes is not None
    assert served.attributes["aio_request.cancelled"] is True
    assert served.status.status_code is StatusCode.UNSET
    assert not trace.get_current_span().get_span_context().is_valid, "nothing left attached"


async def test_metrics_mirror_the_prometheus_ones(otel: Telemetry) -> None:
    answers = iter([UNAVAILABLE, OK])
    c, _ = client(otel.hub, lambda url, request: next(answers))
    await status_of(c, get("users/{id}", path_parameters={"id": 1}))
    otel.hub.emit(
        ServerRequestFinished(route="/users/{id}", method="GET", status=500, client="a", duration=0.1)
    )
    otel.hub.emit(BudgetExhausted(scope=ENDPOINT, kind=AttemptKind.RETRY, budget=BudgetKind.RETRY))
    otel.hub.emit(CircuitStateChanged(scope=ENDPOINT, old=CircuitState.CLOSED, new=CircuitState.OPEN))

    (call,) = otel.points("aio_request.client.duration")
    assert call.count == 1
    assert dict(call.attributes) == {
        "http.request.method": "GET",
        "server.address": "svc.test",
        "server.port": 80,
        "url.template": "users/{id}",
        "aio_request.circuit_breaker": False,
        "aio_request.status": 200,
        "http.response.status_code": 200,
    }
    assert list(call.explicit_bounds) == [
        0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
    ]  # fmt: skip
    attempts = {point.attributes["http.response.status_code"]: point.count for point in otel.points(
        "http.client.request.duration")}  # fmt: skip
    assert attempts == {503: 1, 200: 1}
    counted = {
        (p.attributes["aio_request.attempt.kind"], p.attributes["aio_request.attempt.outcome"]): p.value
        for p in otel.points("aio_request.client.attempts")
    }
    assert counted == {("first", "reject"): 1, ("retry", "accept"): 1}
    (served,) = otel.points("http.server.request.duration")
    assert dict(served.attributes) == {
        "http.request.method": "GET",
        "http.route": "/users/{id}",
        "http.response.status_code": 500,
        "aio_request.client": "a",
        "error.type": "500",
    }
    (refused,) = otel.points("aio_request.client.budget_exhausted")
    assert refused.value == 1
    (transition,) = otel.points("aio_request.circuit_breaker.transitions")
    assert dict(transition.attributes) == {
        "aio_request.endpoint": ENDPOINT,
        "aio_request.circuit.state": "open",
    }
    (state,) = otel.points("aio_request.circuit_breaker.state")
    assert state.value == 2


async def test_traces_or_metrics_can_be_turned_off() -> None:
    metrics_only = Telemetry(traces=False)
    c, _ = client(metrics_only.hub, lambda url, request: OK)
    await status_of(c, get("x"))
    assert metrics_only.finished() == []
    assert len(metrics_only.points("aio_request.client.duration")) == 1

    traces_only = Telemetry(metrics=False)
    c, _ = client(traces_only.hub, lambda url, request: OK)
    await status_of(c, get("x"))
    assert len(traces_only.finished()) == 2
    assert (
        traces_only.reader.get_metrics_data() is None
        or traces_only.points("aio_request.client.duration") == []
    )


def test_url_full_drops_credentials() -> None:
    from aio_request.telemetry.otel.listener import _full_url

    assert _full_url(get("a", query_parameters={"q": "1"}), "http://user:pw@svc.test/base/") == (
        "http://svc.test/base/a?q=1"
    )
    assert yarl.URL(_full_url(get("a"), ENDPOINT)).user is None


def attributes_of(span: ReadableSpan) -> dict[str, Any]:
    assert span.attributes is not None
    return dict(span.attributes)


async def test_calls_sharing_a_label_set_each_get_their_own_attributes(otel: Telemetry) -> None:
    # What a label set shares is built once and reused: the per-call values (URL, timeout,
    # attempts) and the outcome must still be each call's own.
    clock = FakeClock()
    c, _ = client(
        otel.hub,
        clock=clock,
        routes={("GET", "users/{id}"): OK, ("GET", "down"): UNAVAILABLE},
        safe_method_strategy=aio_request.single_attempt_strategy(),
    )
    calls = [("users/{id}", 1, 9.0), ("down", None, 8.0), ("users/{id}", 2, 7.0), ("down", None, 6.0)]
    calls.append(("users/{id}", 1, 5.0))
    for path, user, timeout in calls:
        request = get(path, path_parameters={"id": user} if user is not None else None)
        async with c.request(request, deadline=aio_request.Deadline.from_timeout(timeout, clock=clock)):
            pass

    spans = otel.finished()
    assert len(spans) == 2 * len(calls)
    for (path, user, timeout), attempt, call in zip(calls, spans[::2], spans[1::2], strict=True):
        ok = user is not None
        outcome: dict[str, object] = {"aio_request.status": 200 if ok else 503}
        outcome["http.response.status_code"] = outcome["aio_request.status"]
        if not ok:
            outcome["error.type"] = "503"
        shared: dict[str, object] = {"http.request.method": "GET", "url.template": path}
        shared |= {"server.address": "svc.test", "server.port": 80}
        assert attributes_of(attempt) == {
            **shared,
            "url.full": f"http://svc.test/users/{user}" if ok else "http://svc.test/down",
            "aio_request.attempt": 1,
            "aio_request.attempt.kind": "first",
            "aio_request.timeout": pytest.approx(timeout),
            **outcome,
            "aio_request.verdict": "accept" if ok else "reject",
        }
        assert attributes_of(call) == {
            **shared,
            "aio_request.endpoint": ENDPOINT,
            "aio_request.priority": "normal",
            "aio_request.timeout": pytest.approx(timeout),
            "aio_request.circuit_breaker": False,
            **outcome,
            "aio_request.attempts": 1,
        }
        failed = StatusCode.UNSET if ok else StatusCode.ERROR
        assert (attempt.status.status_code, call.status.status_code) == (failed, failed)

    calls_by_status = {
        p.attributes["aio_request.status"]: p.count for p in otel.points("aio_request.client.duration")
    }
    assert calls_by_status == {200: 3, 503: 2}
    counted = {
        p.attributes["aio_request.attempt.outcome"]: p.value
        for p in otel.points("aio_request.client.attempts")
    }
    assert counted == {"accept": 3, "reject": 2}


async def test_calls_alike_but_for_their_attempts_count_each_report_their_own(otel: Telemetry) -> None:
    answers = iter([UNAVAILABLE, OK, OK, UNAVAILABLE, OK])
    c, _ = client(otel.hub, lambda url, request: next(answers))
    for _ in range(3):
        assert await status_of(c, get("x")) == 200
    calls = [span for span in otel.finished() if span.kind is SpanKind.INTERNAL]
    assert [attributes_of(call)["aio_request.attempts"] for call in calls] == [2, 1, 2]


async def test_calls_alike_but_for_the_exception_raised_each_name_their_own(otel: Telemetry) -> None:
    errors: list[Exception] = [LookupError("a"), ValueError("b"), LookupError("c")]

    def fail(url: yarl.URL, request: aio_request.Request) -> BufferedResponse:
        raise errors.pop(0)

    c, _ = client(otel.hub, fail, safe_method_strategy=aio_request.single_attempt_strategy())
    for expected in (LookupError, ValueError, LookupError):
        with pytest.raises(expected):
            await status_of(c, get("x"))
    named = [attributes_of(span)["error.type"] for span in otel.finished()]
    assert named == ["LookupError"] * 2 + ["ValueError"] * 2 + ["LookupError"] * 2
    points = otel.points("http.client.request.duration")
    assert {p.attributes["error.type"]: p.count for p in points} == {"LookupError": 2, "ValueError": 1}


async def test_the_label_set_caches_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from aio_request.telemetry.otel import listener as module

    monkeypatch.setattr(module, "_MAX_CACHED", 3)
    monkeypatch.setattr(module, "_full_urls", {})
    telemetry = Telemetry()
    listener = telemetry.listener
    c, _ = client(telemetry.hub, lambda url, request: OK)
    paths = [f"p{number}" for number in range(7)]
    for path in paths + paths:
        assert await status_of(c, get(path)) == 200

    caches: list[dict[Any, Any]] = [
        listener._call_starts,
        listener._call_ends,
        listener._attempt_starts,
        listener._attempt_ends,
    ]
    assert all(0 < len(cache) <= 3 for cache in [*caches, module._full_urls])
    templates = [attributes_of(span)["url.template"] for span in telemetry.finished()]
    assert templates == [path for path in paths + paths for _ in range(2)]
    assert [attributes_of(span)["url.full"] for span in telemetry.finished()[::2]] == [
        f"http://svc.test/{path}" for path in paths + paths
    ]
    for name in ("aio_request.client.duration", "http.client.request.duration"):
        assert {p.attributes["url.template"]: p.count for p in telemetry.points(name)} == dict.fromkeys(
            paths, 2
        )
    counted = telemetry.points("aio_request.client.attempts")
    assert {p.attributes["url.template"]: p.value for p in counted} == dict.fromkeys(paths, 2)
