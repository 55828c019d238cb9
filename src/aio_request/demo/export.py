"""The raw results as JSON: settings, profile, every scenario's summaries and every call.

Shape (``results.json``)::

    {"format": 1, "aio_request_version": "...", "settings": {...}, "profile": {...},
     "windows": ["steady", "errors", ...],
     "scenarios": [{"key": "unprotected-single", "phase": "unprotected", "strategy": "...",
                    "summary": {...}, "windows": {"steady": {...}, ...},
                    "server_statuses": {"200": 1234, ...},
                    "calls": {"fields": ["due_seconds", "latency_seconds", "status",
                                         "attempts", "fast_failed", "budget_limited"],
                              "rows": [[0.0123, 0.0061, 200, 1, false, false], ...]}}]}

Latencies are seconds; ``due_seconds`` is when the call was due, from the start of the run;
``attempts`` counts the attempts the client started (the server's hits are in ``summary``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from aio_request import __version__
from aio_request.demo.lab import LabResult

FORMAT_VERSION: Final = 1
"""The ``format`` field: bumped when the shape of ``results.json`` changes."""
CALL_FIELDS: Final = ("due_seconds", "latency_seconds", "status", "attempts", "fast_failed", "budget_limited")
"""The columns of every row of ``calls.rows``."""


def results_to_json(result: LabResult) -> dict[str, Any]:
    """The JSON-ready document described in the module docstring."""
    settings = result.settings
    return {
        "format": FORMAT_VERSION,
        "aio_request_version": __version__,
        "settings": {
            "calls_per_scenario": settings.calls,
            "duration_seconds": settings.duration,
            "concurrency": settings.concurrency,
            "seed": settings.seed,
        },
        "profile": settings.profile.to_json(),
        "windows": list(result.windows),
        "scenarios": [
            {
                "key": run.scenario.key,
                "phase": run.scenario.phase.key,
                "strategy": run.scenario.strategy,
                "summary": run.summary.to_json(),
                "windows": {name: summary.to_json() for name, summary in run.windows.items()},
                "server_statuses": {str(status): count for status, count in run.server_statuses.items()},
                "calls": {
                    "fields": list(CALL_FIELDS),
                    "rows": [
                        [
                            round(c.due, 6),
                            round(c.latency, 6),
                            c.status,
                            c.attempts,
                            c.fast_failed,
                            c.budget_limited,
                        ]
                        for c in run.records
                    ],
                },
            }
            for run in result.results
        ],
    }


def write_results(result: LabResult, path: Path) -> Path:
    """Write :func:`results_to_json` to ``path`` (its folder must exist) and return ``path``."""
    path.write_text(json.dumps(results_to_json(result), separators=(",", ":")) + "\n", "utf-8")
    return path
