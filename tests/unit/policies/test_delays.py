"""Constant and linear-backoff delay providers."""

from __future__ import annotations

import math

import pytest

from aio_request import constant_delays, linear_backoff_delays, linear_delays


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
    ],
)
def test_invalid_options_name_the_parameter(factory: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factory()  # type: ignore[operator]
