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


def _windows_of_kind(result: LabResult, kind: IncidentKind) -> list[str]:
    """The timeline windows whose incident is of ``kind``."""
    incidents = result.settings.profile.incidents
    return [
        name for name, incident in zip(result.windows[1:], incidents, strict=True) if incident.kind is kind
    ]


def _strategies(result: LabResult) -> list[str]:
    """The strategy keys (``single``, ``sequential``, ...), in display order."""
    names: list[str] = []
    for run in result.results:
        name = run.scenario.key.split("-", 1)[1]
        if name not in names:
            names.append(name)
    return names


def _runs(result: LabResult, phase_key: str) -> dict[str, ScenarioResult]:
    """Strategy key → the run of that strategy in phase ``phase_key``."""
    found = {}
    for name in _strategies(result):
        run = _find(result, f"{phase_key}-{name}")
        if run is not None:
            found[name] = run
    return found


def healthy_calls_failed(run: ScenarioResult) -> int:
    """Calls answered by the breaker's fallback while the service was healthy (``steady``)."""
    return run.windows[STEADY].fast_failed


def _hits(run: ScenarioResult, windows: Sequence[str]) -> int:
    return sum(run.windows[w].server_hits for w in windows)


def _success(run: ScenarioResult, windows: Sequence[str]) -> float:
    calls = sum(run.windows[w].calls for w in windows)
    good = sum(run.windows[w].success_rate * run.windows[w].calls for w in windows if run.windows[w].calls)
    return good / calls if calls else math.nan


def protection_costs(result: LabResult) -> list[str]:
    """What each protection buys and what it costs, computed phase against phase.

    The budgets (``setup()``'s defaults) against the strategies alone; each breaker against the
    defaults without a breaker: requests that reached the server during the outage (what it
    buys) and calls that got the breaker's fallback while the service was healthy (what it costs).
    """
    lines = []
    outage = _windows_of_kind(result, IncidentKind.OUTAGE)
    errors = _windows_of_kind(result, IncidentKind.ERRORS)
    alone, defaults = _runs(result, "unprotected"), _runs(result, "defaults")
    if alone and defaults and outage:
        before = sum(_hits(r, outage) for r in alone.values())
        after = sum(_hits(defaults[k], outage) for k in alone if k in defaults)
        succ_before = [_success(r, errors) for r in alone.values()] if errors else []
        succ_after = [_success(defaults[k], errors) for k in alone if k in defaults] if errors else []
        cost = ""
        if succ_before and succ_after:
            cost = (
                f"; they cost success in the error burst {format_share(min(succ_before))}-"
                f"{format_share(max(succ_before))} -> {format_share(min(succ_after))}-"
                f"{format_share(max(succ_after))} (worst-best strategy)"
            )
        lines.append(
            f"Budgets (plain setup() defaults) buy {_cut(before, after)} fewer requests to the server"
            f" during the outage ({before} -> {after}, all strategies){cost}."
        )
    if errors and "sequential" in defaults:
        hedging = [k for k in ("hedged", "adaptive") if k in defaults]
        if hedging:
            shares = ", ".join(
                f"{defaults[k].scenario.strategy} {format_share(_success(defaults[k], errors))}"
                for k in hedging
            )
            lines.append(
                f"Error burst with setup() defaults: {defaults['sequential'].scenario.strategy}"
                f" {format_share(_success(defaults['sequential'], errors))} of calls succeed, {shares}"
                " (an attempt after a rejection is a retry, rationed by the retry budget)."
            )
    for key, name in (("breaker", "DefaultCircuitBreaker"), ("throttle", "AdaptiveThrottlingCircuitBreaker")):
        guarded = _runs(result, key)
        if not guarded or not defaults or not outage:
            continue
        before = sum(_hits(defaults[k], outage) for k in guarded if k in defaults)
        after = sum(_hits(r, outage) for r in guarded.values())
        failed = ", ".join(f"{k} {healthy_calls_failed(r)}" for k, r in guarded.items())
        total = sum(healthy_calls_failed(r) for r in guarded.values())
        in_burst = sum(r.windows[w].fast_failed for r in guarded.values() for w in errors)
        burst = f", and {in_burst} calls failed by it during the error burst" if errors else ""
        lines.append(
            f"{name} buys {_cut(before, after)} fewer requests to the server during the outage"
            f" ({before} -> {after}); it costs {total} healthy calls failed by its fallback while the"
            f" service was fine ({failed}){burst}."
        )
    return lines


def _cut(before: int, after: int) -> str:
    return "-" if not before else f"{(1 - after / before) * 100:.0f} %"


def takeaways(result: LabResult) -> list[str]:
    """Plain statements computed from the numbers, comparing each strategy with the baseline."""
    lines = []
    single = _find(result, "unprotected-single")
    hedged = _find(result, "unprotected-hedged")
    sequential = _find(result, "unprotected-sequential")
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
    defaults_hedged = _find(result, "defaults-hedged")
    if hedged is not None and defaults_hedged is not None and defaults_hedged.summary.budget_limited:
        h, p = hedged.summary, defaults_hedged.summary
        worse = p.latency["p99.9"] > h.latency["p99.9"]
        lines.append(
            f"The budgets held {hedged.scenario.strategy} to {p.sent_per_call:.2f} requests per call"
            f" (alone: {h.sent_per_call:.2f}) by refusing an extra attempt to {p.budget_limited} calls; its"
            f" p99.9 went {format_latency(h.latency['p99.9'])} -> {format_latency(p.latency['p99.9'])}"
            + (": a cap on extra load is also a cap on how much tail hedging can cut." if worse else ".")
        )
    lines.extend(protection_costs(result))
    return lines
