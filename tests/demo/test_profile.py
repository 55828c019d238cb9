"""Loading and validating service profiles (TOML and JSON), and the built-in one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aio_request.demo.profile import IncidentKind, ProfileError, load_profile, parse_profile

MINIMAL = {"latency": {"histogram": [[10, 1]]}}


def test_builtin_profile_has_a_long_tail_and_every_incident_of_the_issue() -> None:
    profile = load_profile()
    kinds = {incident.kind for incident in profile.incidents}
    assert {IncidentKind.ERRORS, IncidentKind.OUTAGE, IncidentKind.THROTTLE} <= kinds
    assert profile.latency_percentile_ms(0.999) > 10 * profile.latency_percentile_ms(0.5)
    assert sum(bucket.share for bucket in profile.buckets) == pytest.approx(1.0)


def test_percentiles_interpolate_log_uniformly_inside_a_bucket() -> None:
    profile = parse_profile({"latency": {"min_ms": 1, "histogram": [[100, 1]]}})
    assert profile.latency_percentile_ms(0.5) == pytest.approx(10.0)


def test_shares_are_normalised() -> None:
    profile = parse_profile({"latency": {"histogram": [[10, 3], [20, 1]]}})
    assert [bucket.share for bucket in profile.buckets] == [0.75, 0.25]
    assert [(bucket.lower_ms, bucket.upper_ms) for bucket in profile.buckets] == [(1.0, 10.0), (10.0, 20.0)]


def test_a_json_profile_reads_like_the_toml_one(tmp_path: Path) -> None:
    toml = tmp_path / "service.toml"
    toml.write_text("deadline_seconds = 1.5\n[latency]\nhistogram = [[10, 1]]\n", "utf-8")
    as_json = tmp_path / "service.json"
    as_json.write_text(json.dumps({"deadline_seconds": 1.5, "latency": {"histogram": [[10, 1]]}}), "utf-8")
    assert load_profile(toml) == load_profile(as_json)


def test_profile_round_trips_through_its_json_form() -> None:
    profile = load_profile()
    assert parse_profile(profile.to_json()) == profile


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({**MINIMAL, "deadline": 2}, "unknown key 'deadline'"),
        ({}, "[latency] table"),
        ({"latency": {"histogram": []}}, "latency.histogram must be a non-empty list"),
        ({"latency": {"histogram": [[10, 1], [5, 1]]}}, "latency.histogram[1] upper_ms must be > 10"),
        ({"latency": {"histogram": [[10, 0]]}}, "must not all be 0"),
        ({"latency": {"histogram": [[10, "a lot"]]}}, "latency.histogram[0] share must be a number"),
        (
            {**MINIMAL, "incidents": [{"kind": "fire", "start": 0, "end": 1}]},
            "incidents[0].kind must be one of",
        ),
        (
            {**MINIMAL, "incidents": [{"kind": "outage", "start": 0.5, "end": 0.5}]},
            "incidents[0].end must be >",
        ),
        (
            {**MINIMAL, "incidents": [{"kind": "outage", "start": 0, "end": 1, "rate": 1}]},
            "unknown key 'rate'",
        ),
        (
            {**MINIMAL, "incidents": [{"kind": "errors", "start": 0, "end": 1, "rate": 2}]},
            "incidents[0].rate",
        ),
        ({**MINIMAL, "error_status": 200}, "error_status must be an HTTP error status"),
        ({**MINIMAL, "deadline_seconds": True}, "deadline_seconds must be a number"),
    ],
)
def test_an_invalid_profile_names_the_field(data: object, message: str) -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile(data)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.toml", "[latency\n", "bad.toml is not valid TOML"),
        ("bad.json", "{", "bad.json is not valid JSON"),
        ("bad.yaml", "latency: {}", "must be a .toml or .json file"),
        ("typo.toml", "[latency]\nhistogram = [[10, 1]]\nmin = 1\n", "typo.toml: latency: unknown key 'min'"),
    ],
)
def test_a_bad_file_gives_one_line_naming_the_file(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content, "utf-8")
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_file_is_a_profile_error(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"cannot read profile .*missing\.toml"):
        load_profile(tmp_path / "missing.toml")
