"""The one parser of ``X-Request-Timeout`` and ``X-Request-Priority`` used by both middlewares."""

from __future__ import annotations

import math
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aio_request.http.headers import (
    MAX_HEADER_VALUE_LENGTH,
    format_request_timeout,
    parse_priority,
    parse_request_timeout,
)
from aio_request.http.priority import Priority

LIMIT = 20.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("4.98", 4.98),
        ("20", 20.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("+3", 3.0),
        ("2e-1", 0.2),
        ("1E1", 10.0),
        (" 1.5\t", 1.5),
    ],
)
def test_plain_decimals_are_deadlines(value: str, expected: float) -> None:
    assert parse_request_timeout([value], limit=LIMIT) == expected


@pytest.mark.parametrize(
    "value", ["0", "0.0", "-0", "-1", "-1e308", "1e-400", "nan", "NaN", "-nan", "-inf", "-Infinity"]
)
def test_zero_negative_and_nan_mean_expired(value: str) -> None:
    assert parse_request_timeout([value], limit=LIMIT) == 0.0


@pytest.mark.parametrize(
    "value", ["inf", "+INF", "Infinity", "1e308", "1e999", "99999999999999999999999", "20.001"]
)
def test_infinite_and_huge_values_are_capped_at_the_limit(value: str) -> None:
    assert parse_request_timeout([value], limit=LIMIT) == LIMIT


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "abc",
        "1_000",
        "0x10",
        "1 0",
        "1.2.3",
        "e5",
        "1e",
        ".",
        "+",
        "\u0661\u0662",  # ARABIC-INDIC digits: float() accepts them
        "\uff11",  # FULLWIDTH DIGIT ONE
        "1\u00a0",  # a NO-BREAK SPACE: str.strip() would remove it
        "\u0131nf",  # dotless i
        "infinit",
        "5s",
    ],
)
def test_anything_else_is_ignored(value: str) -> None:
    assert parse_request_timeout([value], limit=LIMIT) is None


def test_no_header_is_none() -> None:
    assert parse_request_timeout([], limit=LIMIT) is None


def test_a_single_string_is_one_value_not_characters() -> None:
    assert parse_request_timeout("12", limit=LIMIT) == 12.0


def test_overlong_values_are_ignored_without_parsing() -> None:
    """A 4,000-digit value is ignored at once (``float`` would take it; ``int`` would refuse)."""
    started = time.perf_counter()
    assert parse_request_timeout(["9" * 4000], limit=LIMIT) is None
    assert parse_request_timeout(["0" * 4000], limit=LIMIT) is None
    assert time.perf_counter() - started < 0.05
    assert parse_request_timeout(["0" * (MAX_HEADER_VALUE_LENGTH - 1) + "7"], limit=LIMIT) == 7.0
    assert parse_request_timeout(["0" * MAX_HEADER_VALUE_LENGTH + "7"], limit=LIMIT) is None


def test_the_smallest_of_duplicates_wins() -> None:
    assert parse_request_timeout(["5", "3", "9"], limit=LIMIT) == 3.0


def test_invalid_duplicates_are_skipped() -> None:
    assert parse_request_timeout(["abc", "7", ""], limit=LIMIT) == 7.0


def test_comma_joined_duplicates_are_split() -> None:
    assert parse_request_timeout(["5, 3"], limit=LIMIT) == 3.0
    assert parse_request_timeout(["5,abc"], limit=LIMIT) == 5.0


def test_an_expired_duplicate_expires_the_request() -> None:
    assert parse_request_timeout(["5", "-1"], limit=LIMIT) == 0.0


@pytest.mark.parametrize("limit", [0, -1, math.nan])
def test_limit_must_be_positive(limit: float) -> None:
    with pytest.raises(ValueError, match="limit must be a number > 0"):
        parse_request_timeout(["1"], limit=limit)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("high", Priority.HIGH),
        (" LOW ", Priority.LOW),
        ("Normal", Priority.NORMAL),
        ("hIgH\t", Priority.HIGH),
    ],
)
def test_priority_ignores_case_and_spaces(value: str, expected: Priority) -> None:
    assert parse_priority([value], default=Priority.NORMAL) is expected


@pytest.mark.parametrize(
    "value", ["", "urgent", "hi", "\uff48\uff49\uff47\uff48", "h\u0131gh", "high" + " " * 40]
)
def test_unknown_priorities_fall_back_to_the_default(value: str) -> None:
    assert parse_priority([value], default=Priority.LOW) is Priority.LOW


def test_no_priority_header_is_the_default() -> None:
    assert parse_priority([], default=Priority.HIGH) is Priority.HIGH


def test_the_lowest_of_duplicate_priorities_wins() -> None:
    assert parse_priority(["high", "low"], default=Priority.NORMAL) is Priority.LOW
    assert parse_priority(["high, normal"], default=Priority.LOW) is Priority.NORMAL
    assert parse_priority(["bogus", "high"], default=Priority.LOW) is Priority.HIGH


# --- properties -------------------------------------------------------------------------------

_interesting = st.sampled_from(
    ["inf", "-inf", "nan", "1e308", "1e-308", "9" * 4000, "-0", "1_0", " 1 ", "\u0661", "0x1", "1,2", "4.98"]
)
_header_values = st.lists(st.one_of(_interesting, st.text(max_size=40)), max_size=4)
_limits = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=500)
@given(values=_header_values, limit=_limits)
def test_property_result_is_none_or_finite_within_limit(values: list[str], limit: float) -> None:
    result = parse_request_timeout(values, limit=limit)
    assert result is None or (math.isfinite(result) and 0.0 <= result <= limit)


@settings(max_examples=300)
@given(seconds=st.floats(min_value=0.001, max_value=1e5, allow_nan=False), limit=_limits)
def test_property_what_the_client_formats_the_server_reads_back(seconds: float, limit: float) -> None:
    result = parse_request_timeout([format_request_timeout(seconds)], limit=limit)
    assert result is not None
    assert result == pytest.approx(min(round(min(seconds, 86_400.0), 3), limit), abs=1e-9)


@settings(max_examples=300)
@given(digits=st.text(alphabet=st.characters(categories=["Nd"], exclude_characters="0123456789"), min_size=1))
def test_property_non_ascii_digits_are_never_numbers(digits: str) -> None:
    assert parse_request_timeout([digits], limit=LIMIT) is None


@settings(max_examples=300)
@given(values=st.lists(st.text(max_size=40), max_size=4), default=st.sampled_from(list(Priority)))
def test_property_priority_is_always_a_priority(values: list[str], default: Priority) -> None:
    assert isinstance(parse_priority(values, default=default), Priority)


@settings(max_examples=200)
@given(
    priority=st.sampled_from(list(Priority)),
    casing=st.lists(st.booleans(), min_size=6, max_size=6),
    left=st.sampled_from(["", " ", "\t", "  "]),
    right=st.sampled_from(["", " ", "\t", "  "]),
)
def test_property_priority_case_and_spaces_do_not_matter(
    priority: Priority, casing: list[bool], left: str, right: str
) -> None:
    name = "".join(ch.upper() if up else ch for ch, up in zip(priority.value, casing, strict=False))
    assert parse_priority([f"{left}{name}{right}"], default=Priority.NORMAL) is priority
