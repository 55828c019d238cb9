"""Classification, delay providers and per-attempt deadline providers."""

from __future__ import annotations

import math

import pytest

from aio_request import (
    Deadline,
    DefaultResponseClassifier,
    EmptyResponse,
    ResponseVerdict,
    constant_delays,
    linear_backoff_delays,
    linear_delays,
    pass_deadline_through,
    split_deadline_between_attempts,
)
from aio_request.testing import FakeClock

ACCEPT, REJECT = ResponseVerdict.ACCEPT, ResponseVerdict.REJECT


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, ACCEPT),
        (404, ACCEPT),
        (488, ACCEPT),
        (500, REJECT),
        (503, REJECT),
        (489, REJECT),
        (408, REJECT),
        (429, REJECT),
    ],
)
def test_default_verdicts(status: int, verdict: ResponseVerdict) -> None:
    assert DefaultResponseClassifier().classify(EmptyResponse(status=status)) is verdict


def test_do_not_retry_header_and_explicit_verdicts_win() -> None:
    classifier = DefaultResponseClassifier(verdict_for_status={404: REJECT, 503: ACCEPT})
    assert classifier.classify(EmptyResponse(status=404)) is REJECT
    assert classifier.classify(EmptyResponse(status=503)) is ACCEPT
    assert (
        DefaultResponseClassifier().classify(EmptyResponse(status=503, headers={"X-Do-Not-Retry": "1"}))
        is ACCEPT
    )
    custom_codes = DefaultResponseClassifier(network_errors_code=599, too_many_redirects_code=598)
    assert custom_codes.classify(EmptyResponse(status=489)) is ACCEPT
    assert custom_codes.classify(EmptyResponse(status=599)) is REJECT


def test_constant_and_linear_delays() -> None:
    assert constant_delays(delay=0.3)(5) == 0.3
    exact = linear_backoff_delays(min_delay_seconds=0.1, delay_multiplier=0.2, jitter=0)
    assert [exact(k) for k in range(3)] == pytest.approx([0.1, 0.3, 0.5])
    assert linear_delays is linear_backoff_delays
    jittered = linear_backoff_delays(min_delay_seconds=1, delay_multiplier=0, jitter=0.2)
    assert all(0.8 <= jittered(1) <= 1.2 for _ in range(200))


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: constant_delays(delay=-1), "delay must be a finite number >= 0, got -1"),
        (lambda: linear_backoff_delays(min_delay_seconds=math.nan), "min_delay_seconds"),
        (lambda: linear_backoff_delays(delay_multiplier=-0.1), "delay_multiplier"),
        (lambda: linear_backoff_delays(jitter=1.5), "jitter must be in"),
        (lambda: split_deadline_between_attempts(attempts_count_to_split=1), "attempts_count_to_split"),
    ],
)
def test_invalid_options_name_the_parameter(factory: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factory()  # type: ignore[operator]


def test_pass_deadline_through_gives_the_same_deadline() -> None:
    deadline = Deadline.from_timeout(3)
    assert pass_deadline_through()(deadline, 1, 3) is deadline


def test_split_deadline_between_attempts() -> None:
    clock = FakeClock()
    deadline = Deadline.from_timeout(9, clock=clock)
    split = split_deadline_between_attempts()
    assert split(deadline, 0, 3).timeout == 3
    assert split(deadline, 1, 3).timeout == 4.5
    assert split(deadline, 2, 3) is deadline
    limited = split_deadline_between_attempts(attempts_count_to_split=2)
    assert limited(deadline, 0, 5).timeout == 4.5
    assert limited(deadline, 1, 5) is deadline
    assert limited(deadline, 3, 5) is deadline
