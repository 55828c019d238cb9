"""The latency CDF plot: one panel per phase, one line per strategy, log-scaled latency.

The y axis is a logit scale from p25 up, so p50, p90, p99 and p99.9 are evenly spaced and the
tail — where the strategies differ — is as visible as the median. Long runs are thinned to about
1500 points per line (every point of the slowest 750 calls is kept). matplotlib is an optional dependency (the
``demo`` extra): :func:`plot_available` says whether it can be imported, and this module imports
it only inside :func:`write_cdf_plot`.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

from aio_request.demo.lab import LabResult
from aio_request.demo.scenarios import PHASES
from aio_request.demo.stats import PERCENTILES

_LOWEST_SHARE = 0.25
"""The plot starts at p25: below it the strategies do not differ (and fast failures crowd it)."""

_MAX_POINTS = 1500


def _thinned(indexes: range) -> list[int]:
    """At most about ``_MAX_POINTS`` indexes: every point of the tail, fewer of the body."""
    count = len(indexes)
    if count <= _MAX_POINTS:
        return list(indexes)
    tail = _MAX_POINTS // 2
    step = math.ceil((count - tail) / (_MAX_POINTS - tail))
    return [*indexes[: count - tail : step], *indexes[count - tail :]]


def plot_available() -> bool:
    """Whether matplotlib is installed."""
    return importlib.util.find_spec("matplotlib") is not None


def write_cdf_plot(result: LabResult, path: Path) -> Path:
    """Draw the CDFs of every scenario's call latencies into the PNG ``path`` and return it.

    Raises ``ImportError`` when matplotlib is missing.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    phases = [p for p in PHASES if any(r.scenario.phase is p for r in result.results)]
    figure, axes = pyplot.subplots(
        1, len(phases), figsize=(6.5 * len(phases), 5.2), sharex=True, sharey=True, squeeze=False
    )
    ticks = [(f"p{q * 100:g}", q) for q in (_LOWEST_SHARE,)] + list(PERCENTILES)
    lowest = math.inf
    top = _LOWEST_SHARE
    try:
        for axis, phase in zip(axes[0], phases, strict=True):
            for run in (r for r in result.results if r.scenario.phase is phase):
                latencies = sorted(c.latency * 1000 for c in run.records)
                count = len(latencies)
                if not count:
                    continue
                first = int(count * _LOWEST_SHARE)
                lowest = min(lowest, max(latencies[first], 1e-3))
                top = max(top, (count - 0.5) / count)
                points = _thinned(range(first, count))
                axis.plot(
                    [latencies[i] for i in points],
                    [(i + 0.5) / count for i in points],
                    label=run.scenario.strategy,
                    linewidth=1.4,
                )
            axis.set_xscale("log")
            axis.set_yscale("logit")
            axis.set_yticks([q for _, q in ticks], [name for name, _ in ticks])
            axis.minorticks_off()
            axis.set_xlabel("call latency (ms, log scale)")
            axis.set_title(phase.title, fontsize=10)
            axis.grid(True, which="major", alpha=0.3)
            axis.legend(loc="lower right", fontsize=8)
        axes[0][0].set_ylabel("share of calls at or below (percentile)")
        axes[0][0].set_ylim(_LOWEST_SHARE, top)
        if math.isfinite(lowest):
            axes[0][0].set_xlim(left=lowest / 1.5)
        settings = result.settings
        figure.suptitle(
            f"aio_request resilience lab: {settings.profile.name}, {settings.calls} calls per strategy,"
            f" seed {settings.seed}",
            fontsize=11,
        )
        figure.tight_layout()
        figure.savefig(path, dpi=110)
    finally:
        pyplot.close(figure)
    return path
