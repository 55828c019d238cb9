"""The printed report: one table per phase, a table per incident window, and the takeaways.

Plain text, no dependency: columns are padded to their widest cell, numbers right-aligned.
Latencies are shown in ms below a second (one decimal below 10 ms) and in seconds above.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Sequence

from aio_request.demo.lab import LabResult, ScenarioResult
from aio_request.demo.outcomes import STEADY
from aio_request.demo.profile import Incident, IncidentKind, Profile
from aio_request.demo.scenarios import PHASES
from aio_request.demo.stats import PERCENTILES, Summary

SUMMARY_COLUMNS: tuple[str, ...] = (
    "strategy",
    *(name for name, _ in PERCENTILES),
    "success",
    "sent/call",
    "fast-failed",
    "budget-limited",
)
"""The header of every phase table."""


def format_latency(seconds: float) -> str:
    """``6.4 ms``, ``934 ms``, ``1.52 s``; ``-`` for NaN."""
    if math.isnan(seconds):
        return "-"
    ms = seconds * 1000
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{seconds:.2f} s"


def format_share(value: float) -> str:
    """``82.3 %``; ``-`` for NaN."""
    return "-" if math.isnan(value) else f"{value * 100:.1f} %"


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to the widest cell: the first left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        return "  ".join((first, *rest)).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join((line(header), rule, *(line(row) for row in rows)))


def summary_row(label: str, summary: Summary) -> list[str]:
    """One row of a phase table."""
    return [
        label,
        *(format_latency(summary.latency[name]) for name, _ in PERCENTILES),
        format_share(summary.success_rate),
        "-" if math.isnan(summary.sent_per_call) else f"{summary.sent_per_call:.2f}",
        str(summary.fast_failed),
        str(summary.budget_limited),
    ]


def _window_cell(summary: Summary) -> str:
    if not summary.calls:
        return "-"
    return f"{format_share(summary.success_rate)} x{summary.sent_per_call:.2f}"


def describe_incident(incident: Incident) -> str:
    """``outage 40-50 %: every request answered 503``."""
    span = f"{incident.start * 100:g}-{incident.end * 100:g} %"
    kind = incident.kind
    if kind is IncidentKind.ERRORS:
        what = f"{incident.rate * 100:g} % of requests answered {incident.status}"
    elif kind is IncidentKind.OUTAGE:
        what = f"every request answered {incident.status}"
    elif kind is IncidentKind.THROTTLE:
        what = f"{incident.rate * 100:g} % answered 429, Retry-After: {incident.retry_after_seconds:g}"
    else:
        what = f"latency x{incident.factor:g}"
    return f"{incident.label} {span} of the run: {what}"


def describe_profile(profile: Profile) -> list[str]:
    """Lines that say what the service does: its latency percentiles and its incidents."""
    percentiles = ", ".join(
        f"{name} {profile.latency_percentile_ms(q):.0f} ms" for name, q in PERCENTILES if q < 1
    )
    lines = [
        f"service profile: {profile.name}",
        f"  latency {percentiles}; background errors {profile.error_rate * 100:g} %;"
        f" every call's deadline {profile.deadline_seconds:g} s",
    ]
    lines.extend(f"  {describe_incident(incident)}" for incident in profile.incidents)
    return lines


def phase_tables(result: LabResult) -> list[str]:
    """For each phase: its title, the summary table and the per-window table."""
    blocks = []
    for phase in PHASES:
        runs = [r for r in result.results if r.scenario.phase is phase]
        if not runs:
            continue
        summary = format_table(SUMMARY_COLUMNS, [summary_row(r.scenario.strategy, r.summary) for r in runs])
        windows = format_table(
            ("by window: success, sent/call", *result.windows),
            [[r.scenario.strategy, *(_window_cell(r.windows[w]) for w in result.windows)] for r in runs],
        )
        blocks.append(f"{phase.title}\n\n{summary}\n\n{windows}")
    return blocks


def problems(result: LabResult) -> list[str]:
    """Warnings about calls that raised instead of returning a response (none expected)."""
    lines = []
    for run in result.results:
        errors = collections.Counter(r.error for r in run.records if r.error is not None)
        if errors:
            kinds = ", ".join(f"{count} {name}" for name, count in errors.most_common())
            lines.append(f"warning: {run.scenario.key}: calls raised instead of answering: {kinds}")
    return lines


def _find(result: LabResult, key: str) -> ScenarioResult | None:
    return next((r for r in result.results if r.scenario.key == key), None)


def takeaways(result: LabResult) -> list[str]:
    """Plain statements computed from the numbers, comparing each strategy with the baseline."""
    lines = []
    single = _find(result, "unprotected-single")
    hedged = _find(result, "unprotected-hedged")
    sequential = _find(result, "unprotected-sequential")
    protected_sequential = _find(result, "protected-sequential")
    if single is not None and hedged is not None:
        s, h = single.summary, hedged.summary
        lines.append(
            f"{hedged.scenario.strategy} vs single attempt: p99.9 {format_latency(s.latency['p99.9'])}"
            f" -> {format_latency(h.latency['p99.9'])}, p99 {format_latency(s.latency['p99'])}"
            f" -> {format_latency(h.latency['p99'])}, for {h.sent_per_call:.2f} requests per call."
        )
    if single is not None and sequential is not None:
        s, q = single.summary, sequential.summary
        lines.append(
            f"{sequential.scenario.strategy} vs single attempt: success {format_share(s.success_rate)}"
            f" -> {format_share(q.success_rate)}, p99 {format_latency(s.latency['p99'])}"
            f" -> {format_latency(q.latency['p99'])} (a retry waits its backoff or the server's Retry-After)."
        )
    protected_hedged = _find(result, "protected-hedged")
    if hedged is not None and protected_hedged is not None and protected_hedged.summary.budget_limited:
        h, p = hedged.summary, protected_hedged.summary
        worse = p.latency["p99.9"] > h.latency["p99.9"]
        lines.append(
            f"The hedge budget held {hedged.scenario.strategy} to {p.sent_per_call:.2f} requests per call"
            f" (alone: {h.sent_per_call:.2f}) by refusing a hedge to {p.budget_limited} calls; its p99.9"
            f" went {format_latency(h.latency['p99.9'])} -> {format_latency(p.latency['p99.9'])}"
            + (": a cap on extra load is also a cap on how much tail hedging can cut." if worse else ".")
        )
    if sequential is not None and protected_sequential is not None:
        worst = max(
            (w for w in result.windows if w != STEADY),
            key=lambda w: sequential.windows[w].sent_per_call if sequential.windows[w].calls else 0.0,
            default=None,
        )
        if worst is not None:
            before, after = sequential.windows[worst], protected_sequential.windows[worst]
            lines.append(
                f"During the {worst}, the breaker and the budgets cut retries' requests per call"
                f" {before.sent_per_call:.2f} -> {after.sent_per_call:.2f};"
                f" {after.fast_failed} calls were answered at once by the open circuit."
            )
    return lines
