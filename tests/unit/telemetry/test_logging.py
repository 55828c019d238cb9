"""The logging adapter: one line per call, attempt, refusal and transition, at the documented levels."""

from __future__ import annotations

import logging

import pytest

from aio_request import EmptyResponse, get
from aio_request._core.outcomes import AttemptKind, BudgetKind, CircuitState
from aio_request.events import BudgetExhausted, CircuitStateChanged, EventHub, ServerRequestFinished
from aio_request.telemetry.logging import LoggingListener, install

from .helpers import client, status_of


async def test_calls_attempts_refusals_and_transitions_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    hub = EventHub()
    unsubscribe = install(logging.getLogger("test.aio_request"), event_hub=hub)
    c, _ = client(hub, lambda url, request: EmptyResponse(status=503))
    with caplog.at_level(logging.DEBUG, logger="test.aio_request"):
        await status_of(c, get("users/{id}", path_parameters={"id": 1}))
        hub.emit(BudgetExhausted(scope="http://svc.test/", kind=AttemptKind.RETRY, budget=BudgetKind.RETRY))
        hub.emit(
            CircuitStateChanged(scope="http://svc.test/", old=CircuitState.CLOSED, new=CircuitState.OPEN)
        )
        hub.emit(
            CircuitStateChanged(scope="http://svc.test/", old=CircuitState.OPEN, new=CircuitState.HALF_OPEN)
        )
        hub.emit(ServerRequestFinished(route="/x", method="GET", status=500, client="a", duration=0.01))
    lines = [(record.levelno, record.getMessage()) for record in caplog.records]
    assert lines[0][0] == logging.DEBUG
    assert lines[0][1].startswith("GET http://svc.test/users/{id} attempt 1 (first) -> 503 reject in ")
    assert lines[3][1].startswith("GET http://svc.test/users/{id} -> 503 in ")
    assert lines[3][1].endswith("after 3 attempt(s)")
    assert lines[4:] == [
        (logging.WARNING, "retry not sent to http://svc.test/: retry budget exhausted"),
        (logging.WARNING, "circuit of http://svc.test/: closed -> open"),
        (logging.INFO, "circuit of http://svc.test/: open -> half_open"),
        (logging.WARNING, "served GET /x to 'a' -> 500 in 10.0 ms"),
    ]
    assert all(hasattr(record, "aio_request_event") for record in caplog.records)
    unsubscribe()
    assert not hub.active


def test_a_quiet_logger_formats_nothing(caplog: pytest.LogCaptureFixture) -> None:
    listener = LoggingListener(logging.getLogger("test.quiet"))
    logging.getLogger("test.quiet").setLevel(logging.ERROR)
    listener(ServerRequestFinished(route="/x", method="GET", status=200, client="", duration=0.01))
    assert caplog.records == []
