"""Percentiles, summaries and the table formatting."""

from __future__ import annotations

import math

from aio_request.demo.outcomes import Timeline
from aio_request.demo.profile import parse_profile
from aio_request.demo.report import format_latency, format_table
from aio_request.demo.stats import percentile, summarize, summarize_windows
from aio_request.demo.workload import CallRecord, arrival_times


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 1001)]
    assert [percentile(values, q) for q in (0.5, 0.9, 0.99, 0.999, 1.0)] == [500, 900, 990, 999, 1000]
    assert percentile([3.0], 0.999) == 3.0
    assert math.isnan(percentile([], 0.5))


def test_summary_counts_success_load_and_protection() -> None:
    records = [
        CallRecord(due=0.0, latency=0.010, status=200),
        CallRecord(due=0.1, latency=0.020, status=503, budget_limited=True),
        CallRecord(due=0.2, latency=0.001, status=502, fast_failed=True),
        CallRecord(due=0.3, latency=0.030, status=200),
    ]
    summary = summarize(records, server_hits=6)
    assert (summary.calls, summary.success_rate, summary.sent_per_call) == (4, 0.5, 1.5)
    assert (summary.fast_failed, summary.budget_limited, summary.errors) == (1, 1, 0)
    assert summary.latency["p50"] == 0.010
    assert summary.latency["p99.9"] == 0.030


def test_calls_are_summarised_in_the_window_they_were_due_in() -> None:
    profile = parse_profile(
        {"latency": {"histogram": [[10, 1]]}, "incidents": [{"kind": "outage", "start": 0.5, "end": 1}]}
    )
    records = [
        CallRecord(due=1.0, status=200),
        CallRecord(due=6.0, status=503),
        CallRecord(due=7.0, status=503),
    ]
    windows = summarize_windows(records, {"steady": 1, "outage": 5}, Timeline(profile), duration=10.0)
    assert (windows["steady"].calls, windows["steady"].success_rate) == (1, 1.0)
    assert (windows["outage"].calls, windows["outage"].sent_per_call) == (2, 2.5)


def test_arrivals_are_seeded_sorted_and_within_the_run() -> None:
    arrivals = arrival_times(500, 10.0, seed=4)
    assert arrivals == arrival_times(500, 10.0, seed=4) != arrival_times(500, 10.0, seed=5)
    assert arrivals == sorted(arrivals)
    assert arrivals[0] > 0
    assert arrivals[-1] < 10.0
    assert len(arrivals) == 500


def test_latencies_are_shown_in_ms_or_seconds() -> None:
    assert [format_latency(s) for s in (0.0064, 0.934, 1.523)] == ["6.4 ms", "934 ms", "1.52 s"]
    assert format_latency(math.nan) == "-"


def test_table_columns_are_padded_first_left_others_right() -> None:
    table = format_table(("name", "value"), [["a", "1"], ["longer", "100"]])
    assert table.splitlines() == ["name    value", "------  -----", "a           1", "longer    100"]
