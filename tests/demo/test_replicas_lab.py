"""The replicas scenario: balancing beats a single endpoint on a fleet with bad replicas."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

from aio_request.demo.cli import DemoOptions, run_demo
from aio_request.demo.replicas_lab import replicas_table, run_replicas_lab


async def test_balancing_avoids_the_failing_dead_and_slow_replicas() -> None:
    results = await run_replicas_lab(calls=200, rate=200.0, seed=3)
    single, balanced = results["single endpoint"], results["balanced"]
    assert single.calls == balanced.calls == 200
    # A single endpoint sends a call's retries to the replica the call started on: the calls
    # that land on the failing or the dead replica (2 of 5) fail.
    assert 0.2 < 1 - single.success_rate < 0.6
    # Real time on a shared machine: a CPU stall may cost a call its deadline, never 43 % of them.
    assert balanced.success_rate >= 0.99
    assert balanced.attempts["failing"] < single.attempts["failing"] / 5
    assert balanced.attempts["slow"] < single.attempts["slow"] / 2
    assert f"| balanced | 200 | {balanced.success_rate:.1%} |" in replicas_table(results)


def test_the_demo_command_runs_the_replicas_scenario(tmp_path: Path) -> None:
    out = io.StringIO()
    options = DemoOptions(
        duration=1.0, calls=100, concurrency=16, seed=1, profile=None, output=tmp_path, plot=False
    )
    options = dataclasses.replace(options, replicas=True)
    run_demo(options, out)
    text = out.getvalue()
    assert "aio_request replicas lab" in text
    assert "| single endpoint | 100 |" in text
    assert "What it shows:" in text
