"""The rolling health window: what is counted, when it is forgotten."""

from __future__ import annotations

import pytest

from aio_request.circuit_breaker import CircuitBreakerMetricsSnapshot, RollingCircuitBreakerMetrics


def test_counts_successes_and_failures_over_the_window() -> None:
    metrics = RollingCircuitBreakerMetrics(sampling_duration=10, windows_count=10)
    metrics.add(is_successful=True, now=0.0)
    metrics.add(is_successful=False, now=0.5)
    metrics.add(is_successful=False, now=3.0)
    assert metrics.snapshot(now=3.0) == CircuitBreakerMetricsSnapshot(started_at=0.0, successes=1, failures=2)
    assert metrics.snapshot(now=3.0).failure_rate == pytest.approx(2 / 3)
    assert [w.started_at for w in metrics.windows(now=3.0)] == [0.0, 3.0], "0.5 fell in the first window"


def test_a_window_is_forgotten_whole_once_it_started_a_sampling_duration_ago() -> None:
    metrics = RollingCircuitBreakerMetrics(sampling_duration=10, windows_count=10)
    metrics.add(is_successful=False, now=0.0)
    metrics.add(is_successful=False, now=0.9)
    metrics.add(is_successful=True, now=5.0)
    assert metrics.snapshot(now=9.99).total == 3
    later = metrics.snapshot(now=10.0)
    assert (later.successes, later.failures, later.started_at) == (1, 0, 5.0)
    assert metrics.snapshot(now=15.0).total == 0


def test_empty_and_reset_windows_report_nothing() -> None:
    metrics = RollingCircuitBreakerMetrics(sampling_duration=1, windows_count=1)
    assert metrics.snapshot(now=7.0) == CircuitBreakerMetricsSnapshot(started_at=7.0, successes=0, failures=0)
    assert metrics.snapshot(now=7.0).failure_rate == 0.0
    metrics.add(is_successful=False, now=7.0)
    metrics.reset()
    assert metrics.snapshot(now=7.0).total == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sampling_duration": 0}, "sampling_duration must be a finite number > 0, got 0"),
        (
            {"sampling_duration": 1, "windows_count": 0},
            r"windows_count must be an int in \[1, 10000\], got 0",
        ),
    ],
)
def test_invalid_options_name_the_parameter(options: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RollingCircuitBreakerMetrics(**options)  # type: ignore[arg-type]
