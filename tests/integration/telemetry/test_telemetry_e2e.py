"""Telemetry over real loopback aiohttp servers: Prometheus on both sides, one trace across A → B → C."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator

import aiohttp
import prometheus_client
import pytest
import yarl
from aiohttp import web
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import aio_request
from aio_request import AsgiMiddleware
from aio_request.events import EventHub
from aio_request.telemetry.otel import OpenTelemetryListener, TraceContextModule, inject_trace_context
from aio_request.telemetry.prometheus import PrometheusMetrics
from tests.integration.server.servers import run_uvicorn


@contextlib.asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[yarl.URL]:
    """Serve ``app`` on 127.0.0.1, port 0; yields its base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield yarl.URL.build(scheme="http", host=host, port=port, path="/")
    finally:
        await runner.cleanup()


async def test_prometheus_labels_use_the_template_and_the_route_on_both_sides() -> None:
    registry = prometheus_client.CollectorRegistry()
    hub = EventHub()
    hub.subscribe(PrometheusMetrics(registry))

    async def user(request: web.Request) -> web.Response:
        return web.json_response({"id": request.match_info["id"]})

    app = web.Application(middlewares=[aio_request.aiohttp_middleware_factory(event_hub=hub)])
    app.router.add_get("/users/{id}", user)
    async with serve(app) as base, aiohttp.ClientSession() as session:
        client = aio_request.setup(
            transport=aio_request.AioHttpTransport(session), endpoint=base, event_hub=hub
        )
        for user_id in range(1000):
            request = aio_request.get(
                "users/{id}", path_parameters={"id": user_id}, headers={"X-Service-Name": "tests"}
            )
            async with client.request(request) as response:
                assert response.status == 200

    def label_sets(sample_name: str) -> list[dict[str, str]]:
        return [
            dict(sample.labels)
            for family in registry.collect()
            for sample in family.samples
            if sample.name == sample_name
        ]

    endpoint = str(base)
    client_labels = {
        "request_endpoint": endpoint,
        "request_method": "GET",
        "request_path": "users/{id}",
        "response_status": "200",
    }
    assert label_sets("aio_request_latency_count") == [{**client_labels, "circuit_breaker": "false"}]
    assert label_sets("aio_request_transport_latency_count") == [client_labels]
    server_labels = {
        "request_client": "tests",
        "request_method": "GET",
        "request_path": "/users/{id}",
        "response_status": "200",
    }
    assert label_sets("aio_request_server_latency_count") == [server_labels]
    assert registry.get_sample_value("aio_request_server_latency_count", server_labels) == 1000
    assert registry.get_sample_value("aio_request_transport_latency_count", client_labels) == 1000
    total = registry.get_sample_value(
        "aio_request_latency_sum", {**client_labels, "circuit_breaker": "false"}
    )
    assert total is not None
    assert total > 0


async def test_a_caller_that_gives_up_is_recorded_with_status_499() -> None:
    registry = prometheus_client.CollectorRegistry()
    hub = EventHub()
    hub.subscribe(PrometheusMetrics(registry))

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.3)
        return web.Response(text="late")

    app = web.Application()
    app.router.add_get("/slow", slow)
    async with serve(app) as base, aiohttp.ClientSession() as session:
        client = aio_request.setup(
            transport=aio_request.AioHttpTransport(session), endpoint=base, event_hub=hub
        )
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05), client.request(aio_request.get("slow")):
                pass
    labels = {
        "request_endpoint": str(base),
        "request_method": "GET",
        "request_path": "slow",
        "response_status": "499",
    }
    assert registry.get_sample_value("aio_request_latency_count", {**labels, "circuit_breaker": "false"}) == 1
    assert registry.get_sample_value("aio_request_transport_latency_count", labels) == 1


async def test_one_trace_spans_a_to_b_to_c_through_both_middlewares() -> None:
    """A (client) → B (aiohttp middleware) → C (ASGI middleware under uvicorn): one trace."""
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    hub = EventHub()
    hub.subscribe(OpenTelemetryListener(tracer_provider=provider))

    async def c_endpoint(request: Request) -> PlainTextResponse:
        return PlainTextResponse("c")

    c_app = AsgiMiddleware(Starlette(routes=[Route("/c/{id}", c_endpoint)]), event_hub=hub, tracing=provider)
    async with contextlib.AsyncExitStack() as stack:
        session = await stack.enter_async_context(aiohttp.ClientSession())
        c_base = await stack.enter_async_context(run_uvicorn(c_app))
        to_c = aio_request.setup(
            transport=aio_request.AioHttpTransport(session),
            endpoint=c_base,
            event_hub=hub,
            request_modules=[TraceContextModule()],
        )

        async def b_handler(request: web.Request) -> web.Response:
            async with to_c.request(aio_request.get("c/{id}", path_parameters={"id": 1})) as response:
                return web.Response(text="b" + await response.text())

        b_app = web.Application(
            middlewares=[aio_request.aiohttp_middleware_factory(event_hub=hub, tracing=provider)]
        )
        b_app.router.add_get("/b", b_handler)
        b_base = await stack.enter_async_context(serve(b_app))
        to_b = aio_request.setup(
            transport=aio_request.AioHttpTransport(session),
            endpoint=b_base,
            event_hub=hub,
            request_enricher=inject_trace_context,
        )
        async with to_b.request(aio_request.get("b")) as response:
            assert await response.text() == "bc"

    finished = list(spans.get_finished_spans())

    def one(kind: SpanKind, name: str) -> ReadableSpan:
        (span,) = [s for s in finished if s.kind is kind and s.name == name]
        return span

    a_call, a_attempt = one(SpanKind.INTERNAL, "GET b"), one(SpanKind.CLIENT, "GET b")
    b_server = one(SpanKind.SERVER, "GET /b")
    b_call, b_attempt = one(SpanKind.INTERNAL, "GET c/{id}"), one(SpanKind.CLIENT, "GET c/{id}")
    c_server = one(SpanKind.SERVER, "GET /c/{id}")
    chain = [a_call, a_attempt, b_server, b_call, b_attempt, c_server]
    assert len({span.context.trace_id for span in chain}) == 1, "one trace from A to C"
    for parent, child in itertools.pairwise(chain):
        assert child.parent is not None, child.name
        assert child.parent.span_id == parent.context.span_id, child.name
    assert c_server.attributes is not None
    assert c_server.attributes["http.response.status_code"] == 200
