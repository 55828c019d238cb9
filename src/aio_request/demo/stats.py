"""Statistics of a scenario's calls: latency percentiles, success, load amplification.

Percentiles use the nearest-rank method (the smallest latency with at least ``q`` of the calls at
or below it), over every call whatever its outcome: a caller waits for failures too. Load
amplification is the number of requests the server received divided by the calls made.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Final

from aio_request.demo.outcomes import Timeline
from aio_request.demo.workload import CallRecord

PERCENTILES: Final = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999))
"""The latency percentiles reported: (name, quantile)."""


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-quantile of ascending ``sorted_values`` (NaN when empty)."""
    if not sorted_values:
        return math.nan
    rank = max(math.ceil(q * len(sorted_values)), 1)
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclasses.dataclass(frozen=True, slots=True)
class Summary:
    """What a set of calls got: ``latency`` maps a percentile name to seconds."""

    calls: int
    latency: Mapping[str, float]
    success_rate: float
    server_hits: int
    fast_failed: int
    budget_limited: int
    errors: int

    @property
    def sent_per_call(self) -> float:
        """Server hits per call (load amplification; NaN without calls)."""
        return self.server_hits / self.calls if self.calls else math.nan

    def to_json(self) -> dict[str, object]:
        """JSON-ready data (latencies in seconds; NaN becomes ``None``)."""
        return {
            "calls": self.calls,
            "latency_seconds": {k: None if math.isnan(v) else v for k, v in self.latency.items()},
            "success_rate": None if math.isnan(self.success_rate) else self.success_rate,
            "server_hits": self.server_hits,
            "sent_per_call": None if math.isnan(self.sent_per_call) else self.sent_per_call,
            "fast_failed": self.fast_failed,
            "budget_limited": self.budget_limited,
            "errors": self.errors,
        }


def summarize(records: Sequence[CallRecord], server_hits: int) -> Summary:
    """Summarise ``records``, the calls that caused ``server_hits`` requests."""
    latencies = sorted(r.latency for r in records)
    calls = len(records)
    return Summary(
        calls=calls,
        latency={name: percentile(latencies, q) for name, q in PERCENTILES},
        success_rate=sum(r.succeeded for r in records) / calls if calls else math.nan,
        server_hits=server_hits,
        fast_failed=sum(r.fast_failed for r in records),
        budget_limited=sum(r.budget_limited for r in records),
        errors=sum(r.error is not None for r in records),
    )


def summarize_windows(
    records: Sequence[CallRecord],
    hits_by_window: Mapping[str, int],
    timeline: Timeline,
    duration: float,
) -> dict[str, Summary]:
    """One summary per timeline window; a call belongs to the window it was due in."""
    by_window: dict[str, list[CallRecord]] = {name: [] for name in timeline.names}
    for record in records:
        name, _ = timeline.at(record.due / duration)
        by_window[name].append(record)
    return {name: summarize(calls, hits_by_window.get(name, 0)) for name, calls in by_window.items()}
