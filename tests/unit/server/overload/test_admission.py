"""Deadline-aware admission: the typical service time of each route."""

from __future__ import annotations

import pytest

from aio_request.server.overload import ServiceTimes


def test_service_time_is_unknown_until_enough_samples() -> None:
    times = ServiceTimes(min_samples=3)
    times.observe("/a", 0.1)
    times.observe("/a", 0.1)
    assert times.typical("/a") == 0.0
    assert not times.too_late("/a", 0.001)
    times.observe("/a", 0.1)
    assert times.typical("/a") == pytest.approx(0.1)
    assert times.too_late("/a", 0.05)
    assert not times.too_late("/a", 0.2)
    assert times.longest_bound() == pytest.approx(0.1)


def test_service_times_are_per_route_and_bounded() -> None:
    times = ServiceTimes(min_samples=1, max_routes=2, smoothing=0.5)
    times.observe("/a", 0.1)
    times.observe("/b", 0.3)
    times.observe("/b", 0.1)
    assert times.typical("/b") == pytest.approx(0.2)
    times.observe("/c", 0.05)  # forgets /a, the least recently updated
    assert times.typical("/a") == 0.0
    assert times.typical("/c") == pytest.approx(0.05)
