"""The overload scenario of benchmarks/overload_sim.py, shortened: a regression test of the policy.

Virtual time (no real sleeping, deterministic for the seed): the real OverloadProtection in
front of a modelled CPU-bound server offered 3x its capacity, 20/50/30 % HIGH/NORMAL/LOW.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

_PATH = Path(__file__).parents[4] / "benchmarks" / "overload_sim.py"


def _simulation() -> Any:
    # Loaded by path: the benchmarks are scripts, not a package.
    spec = importlib.util.spec_from_file_location("overload_sim", _PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("overload_sim", module)
    spec.loader.exec_module(module)
    return module


def run(protected: bool) -> dict[str, Any]:
    simulation = _simulation()
    loop = simulation.VirtualTimeLoop()
    try:
        result: dict[str, Any] = loop.run_until_complete(simulation.overload(protected, seconds=8.0, seed=3))
        return result
    finally:
        loop.close()


def test_protection_keeps_high_priority_and_total_goodput_under_3x_overload() -> None:
    on = run(True)
    assert on["goodput high"] >= 0.95
    assert on["good / capacity"] >= 0.9
    assert on["shed p50 (ms)"] <= 5.1  # the CoDel target once the queues stand
    assert on["handlers past deadline"] == 0


def test_without_protection_the_same_load_serves_almost_nothing_in_time() -> None:
    off = run(False)
    assert off["goodput high"] < 0.1
    assert off["handlers past deadline"] > 1000
