"""The service's seeded draws: paired per call and attempt, and what each incident does."""

from __future__ import annotations

import pytest

from aio_request.demo.outcomes import STEADY, OutcomeDrawer, Timeline
from aio_request.demo.profile import load_profile, parse_profile

FLAT = {"latency": {"min_ms": 1, "histogram": [[1000, 1]]}}


def with_incident(**incident: object) -> OutcomeDrawer:
    return OutcomeDrawer(
        parse_profile({**FLAT, "incidents": [{"start": 0.5, "end": 0.6, **incident}]}), seed=3
    )


def test_the_same_call_and_attempt_get_the_same_draw_whatever_came_before() -> None:
    first, second = OutcomeDrawer(load_profile(), seed=7), OutcomeDrawer(load_profile(), seed=7)
    for call in range(50):
        second.draw(0.0, call, 1)
    assert [first.draw(0.0, call, 1) for call in range(50, 60)] == [
        second.draw(0.0, call, 1) for call in range(50, 60)
    ]


def test_a_retry_draws_anew_and_another_seed_changes_the_draws() -> None:
    drawer = OutcomeDrawer(load_profile(), seed=7)
    first_attempts = [drawer.draw(0.0, call, 1).latency for call in range(20)]
    assert first_attempts != [drawer.draw(0.0, call, 2).latency for call in range(20)]
    other = OutcomeDrawer(load_profile(), seed=8)
    assert first_attempts != [other.draw(0.0, call, 1).latency for call in range(20)]


def test_latencies_stay_within_the_histogram() -> None:
    drawer = OutcomeDrawer(parse_profile({"latency": {"min_ms": 2, "histogram": [[4, 1], [8, 1]]}}), seed=1)
    latencies = [drawer.draw(0.0, call, 1).latency for call in range(500)]
    assert min(latencies) >= 0.002
    assert max(latencies) <= 0.008
    assert 150 < sum(latency <= 0.004 for latency in latencies) < 350


def test_an_outage_answers_its_status_at_once_only_inside_its_window() -> None:
    drawer = with_incident(kind="outage")
    inside, outside = drawer.draw(0.55, 1, 1), drawer.draw(0.45, 1, 1)
    assert (inside.status, inside.latency, inside.window) == (503, 0.0, "outage")
    assert (outside.status, outside.window) == (200, STEADY)


def test_a_throttle_answers_429_with_retry_after() -> None:
    outcome = with_incident(kind="throttle", rate=1.0, retry_after_seconds=2).draw(0.55, 1, 1)
    assert (outcome.status, outcome.retry_after, outcome.latency) == (429, 2.0, 0.0)


def test_an_error_burst_fails_about_its_rate() -> None:
    drawer = with_incident(kind="errors", rate=0.25, status=502)
    statuses = [drawer.draw(0.55, call, 1).status for call in range(2000)]
    assert set(statuses) == {200, 502}
    assert statuses.count(502) == pytest.approx(500, abs=80)


def test_a_slowdown_multiplies_the_same_draw() -> None:
    slow, calm = with_incident(kind="slowdown", factor=4), OutcomeDrawer(parse_profile(FLAT), seed=3)
    assert slow.draw(0.55, 9, 1).latency == pytest.approx(4 * calm.draw(0.55, 9, 1).latency)


def test_windows_are_named_after_incidents_and_the_first_listed_wins() -> None:
    profile = parse_profile(
        {
            **FLAT,
            "incidents": [
                {"kind": "errors", "start": 0.1, "end": 0.5},
                {"kind": "errors", "start": 0.3, "end": 0.9},
            ],
        }
    )
    timeline = Timeline(profile)
    assert timeline.names == (STEADY, "errors", "errors#2")
    assert [timeline.at(p)[0] for p in (0.0, 0.35, 0.6, 0.95)] == [STEADY, "errors", "errors#2", STEADY]
