"""The built-in modules behave the same as plain calls and through ``execute``.

``build_pipeline`` turns an exact :class:`LowTimeoutModule` or an enricher-less
:class:`TransportModule` into a plain function; a subclass goes through ``execute``. Every test
runs both shapes.
"""

from __future__ import annotations

import math

import pytest
import yarl

from aio_request import Deadline, Priority, get
from aio_request._core.errors import FailureKind
from aio_request.http.headers import MAX_SENT_TIMEOUT
from aio_request.http.response import EmptyResponse
from aio_request.pipeline import LowTimeoutModule, NextModuleFunc, TransportModule, build_pipeline
from aio_request.testing import FakeClock, FakeTransport

ENDPOINT = yarl.URL("http://service.test/")


class _LowTimeoutThroughExecute(LowTimeoutModule):
    __slots__ = ()


class _TransportThroughExecute(TransportModule):
    __slots__ = ()


@pytest.fixture(params=["plain", "execute"])
def shape(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _pipeline(
    shape: str, transport: FakeTransport, threshold: float = 0.5, emit_system_headers: bool = True
) -> NextModuleFunc:
    low = LowTimeoutModule if shape == "plain" else _LowTimeoutThroughExecute
    last = TransportModule if shape == "plain" else _TransportThroughExecute
    return build_pipeline([low(threshold), last(transport, emit_system_headers=emit_system_headers)])


async def test_low_timeout_short_circuits(shape: str) -> None:
    clock = FakeClock()
    transport = FakeTransport(lambda url, request: EmptyResponse(status=200), clock=clock)
    pipeline = _pipeline(shape, transport)
    response = await pipeline(ENDPOINT, get("x"), Deadline.from_timeout(0.5, clock=clock), Priority.NORMAL)
    assert response.status == 408
    assert response.headers["X-Do-Not-Retry"] == "1"
    assert response.failure is not None
    assert response.failure.kind is FailureKind.DEADLINE
    assert transport.requests == []


@pytest.mark.parametrize(
    ("seconds", "header", "sent"),
    [(3.0, "3", 3.0), (0.0125, "0.013", 0.0125), (math.inf, "86400", MAX_SENT_TIMEOUT)],
)
async def test_system_headers_and_timeout(shape: str, seconds: float, header: str, sent: float) -> None:
    clock = FakeClock()
    transport = FakeTransport(lambda url, request: EmptyResponse(status=200), clock=clock)
    pipeline = _pipeline(shape, transport, threshold=0.001)
    response = await pipeline(ENDPOINT, get("x"), Deadline.from_timeout(seconds, clock=clock), Priority.LOW)
    assert response.status == 200
    request = transport.requests[0].request
    assert request.headers["X-Request-Timeout"] == header
    assert request.headers["X-Request-Priority"] == "low"
    assert transport.requests[0].timeout == sent


async def test_system_headers_off(shape: str) -> None:
    clock = FakeClock()
    transport = FakeTransport(lambda url, request: EmptyResponse(status=200), clock=clock)
    pipeline = _pipeline(shape, transport, emit_system_headers=False)
    await pipeline(
        ENDPOINT, get("x", headers={"A": "1"}), Deadline.from_timeout(3, clock=clock), Priority.LOW
    )
    assert dict(transport.requests[0].request.headers) == {"A": "1"}


def test_only_the_exact_classes_become_plain_calls() -> None:
    transport = FakeTransport()
    assert LowTimeoutModule(0.1)._plain_call(build_pipeline([])) is not None
    assert _LowTimeoutThroughExecute(0.1)._plain_call(build_pipeline([])) is None
    assert TransportModule(transport)._plain_call(build_pipeline([])) is not None
    assert _TransportThroughExecute(transport)._plain_call(build_pipeline([])) is None
    assert TransportModule(transport, request_enricher=lambda r: r)._plain_call(build_pipeline([])) is None
