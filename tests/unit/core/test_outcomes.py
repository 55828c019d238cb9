"""One outcome vocabulary: the old import paths name the same objects; events are frozen enums."""

from __future__ import annotations

import pytest

import aio_request
from aio_request import EmptyResponse, get
from aio_request._core import outcomes
from aio_request._core.errors import FailureKind, TransportFailure
from aio_request.circuit_breaker import CircuitState
from aio_request.events import AttemptFinished, AttemptStarted, RequestFinished, RequestStarted
from aio_request.http.response import BufferedResponse
from aio_request.pipeline.breaker import CIRCUIT_OPEN_STATUS
from aio_request.policies.classify import DefaultResponseClassifier, ResponseVerdict
from aio_request.strategies import AttemptKind
from aio_request.testing import FakeTransport
from tests.unit.telemetry.helpers import recorded_hub


def test_the_old_names_are_the_outcome_module_s() -> None:
    assert FailureKind is outcomes.FailureKind
    assert ResponseVerdict is outcomes.ResponseVerdict is aio_request.ResponseVerdict
    assert CircuitState is outcomes.CircuitState is aio_request.CircuitState
    assert AttemptKind is outcomes.AttemptKind
    assert CIRCUIT_OPEN_STATUS == outcomes.CIRCUIT_OPEN_STATUS == 502


@pytest.mark.parametrize(
    ("status", "kind", "verdict"),
    [
        (502, FailureKind.CIRCUIT_OPEN, ResponseVerdict.ACCEPT),
        (408, FailureKind.DEADLINE, ResponseVerdict.ACCEPT),
        (488, FailureKind.TOO_MANY_REDIRECTS, ResponseVerdict.ACCEPT),
        (489, FailureKind.CONNECT, ResponseVerdict.REJECT),
        (200, FailureKind.RESET, ResponseVerdict.REJECT),
        (408, FailureKind.TIMEOUT, ResponseVerdict.REJECT),
    ],
)
def test_the_classifier_judges_a_synthetic_response_by_its_failure_first(
    status: int, kind: FailureKind, verdict: ResponseVerdict
) -> None:
    classifier = DefaultResponseClassifier(
        verdict_for_status={502: ResponseVerdict.REJECT, 489: ResponseVerdict.ACCEPT}
    )
    assert classifier.classify(EmptyResponse(status=status, failure=TransportFailure(kind))) is verdict


def test_a_status_mapping_still_decides_for_real_responses() -> None:
    classifier = DefaultResponseClassifier(verdict_for_status={502: ResponseVerdict.ACCEPT})
    assert classifier.classify(EmptyResponse(status=502)) is ResponseVerdict.ACCEPT
    assert DefaultResponseClassifier().classify(EmptyResponse(status=502)) is ResponseVerdict.REJECT


async def test_client_events_are_frozen_and_typed_with_enums() -> None:
    hub, recorder = recorded_hub()
    client = aio_request.setup(
        transport=FakeTransport(lambda url, request: BufferedResponse(status=200)),
        endpoint="http://svc.test/",
        event_hub=hub,
    )
    async with client.request(get("x")):
        pass
    started, attempt, finished, done = (
        recorder.of(RequestStarted)[0],
        recorder.of(AttemptStarted)[0],
        recorder.of(AttemptFinished)[0],
        recorder.of(RequestFinished)[0],
    )
    assert attempt.kind is AttemptKind.FIRST
    assert finished.kind is AttemptKind.FIRST
    assert finished.verdict is ResponseVerdict.ACCEPT
    assert done.failure is None
    assert started.priority is aio_request.Priority.NORMAL
    label: str = "first"
    assert finished.kind == label, "string enums compare equal to their values"
    for event in (started, attempt, finished, done):
        with pytest.raises(AttributeError):
            event.request_id = 0  # type: ignore[misc]
