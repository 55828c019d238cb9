"""Concurrency limits: each grows on an idle-latency server and shrinks when latency builds up."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from aio_request.server.overload import AimdLimit, ConcurrencyLimit, FixedLimit, Gradient2Limit, VegasLimit


def processor_sharing(limit: ConcurrencyLimit, *, service: float, samples: int) -> list[int]:
    """Feed samples of a CPU-bound server: with n running, each takes n * service."""
    history = []
    for _ in range(samples):
        running = limit.limit
        limit.on_sample(rtt=service * running, in_flight=running, dropped=False)
        history.append(limit.limit)
    return history


def probing(limit: VegasLimit) -> bool:
    return limit.probing


def test_fixed_limit_never_moves() -> None:
    limit = FixedLimit(7)
    limit.on_sample(rtt=10.0, in_flight=7, dropped=True)
    assert limit.limit == 7


def test_vegas_defaults_start_at_20() -> None:
    assert VegasLimit().limit == 20


def test_vegas_grows_while_latency_stays_at_the_no_load_value() -> None:
    limit = VegasLimit(initial_limit=20, max_limit=1000)
    for _ in range(200):
        limit.on_sample(rtt=0.010, in_flight=limit.limit, dropped=False)
    assert limit.limit > 100


def test_vegas_never_exceeds_its_max() -> None:
    limit = VegasLimit(initial_limit=20, max_limit=30)
    for _ in range(500):
        limit.on_sample(rtt=0.010, in_flight=limit.limit, dropped=False)
    assert limit.limit == 30


def test_vegas_settles_at_two_or_three_for_a_cpu_bound_handler() -> None:
    limit = VegasLimit()
    limit.on_sample(rtt=0.010, in_flight=1, dropped=False)  # the server starts idle
    history = processor_sharing(limit, service=0.010, samples=2000)
    assert max(history[-1000:]) <= 3
    assert history[-1000:].count(1) < 150  # only while probing (a few samples every 60)


def test_vegas_probe_relearns_a_slower_server_without_ratcheting() -> None:
    limit = VegasLimit(initial_limit=3)
    limit.on_sample(rtt=0.010, in_flight=1, dropped=False)
    processor_sharing(limit, service=0.010, samples=500)
    history = processor_sharing(limit, service=0.020, samples=2000)  # capacity halves
    assert limit.rtt_noload == pytest.approx(0.020)
    assert max(history[-1000:]) <= 3


def test_vegas_shrinks_on_a_dropped_sample() -> None:
    limit = VegasLimit(initial_limit=20)
    limit.on_sample(rtt=0.01, in_flight=20, dropped=False)
    limit.on_sample(rtt=0.01, in_flight=20, dropped=True)
    assert limit.limit == 18


def test_vegas_ignores_samples_of_an_idle_server() -> None:
    limit = VegasLimit(initial_limit=20)
    limit.on_sample(rtt=0.01, in_flight=2, dropped=False)
    for _ in range(50):
        limit.on_sample(rtt=0.5, in_flight=2, dropped=False)
    assert limit.limit == 20


def test_vegas_probe_pins_the_limit_low_then_restores_it() -> None:
    limit = VegasLimit(initial_limit=8, probe_multiplier=1)
    for _ in range(7):
        limit.on_sample(rtt=0.01, in_flight=limit.limit, dropped=False)
    before = limit.limit
    assert not probing(limit)
    limit.on_sample(rtt=0.01, in_flight=before, dropped=False)  # the 8th sample starts the probe
    assert probing(limit)
    assert limit.limit == before // 4
    for _ in range(before + 4):  # those already running, then 5 at the pinned limit
        limit.on_sample(rtt=0.04, in_flight=2, dropped=False)
    limit.on_sample(rtt=0.03, in_flight=2, dropped=False)
    assert not probing(limit)
    assert limit.limit == before
    assert limit.rtt_noload == 0.03  # the old 10 ms is forgotten


def test_gradient2_shrinks_when_latency_jumps_and_grows_when_it_is_flat() -> None:
    limit = Gradient2Limit(initial_limit=50)
    for _ in range(100):
        limit.on_sample(rtt=0.01, in_flight=limit.limit, dropped=False)
    grown = limit.limit
    assert grown > 50
    for _ in range(30):
        limit.on_sample(rtt=0.2, in_flight=limit.limit, dropped=False)
    assert limit.limit < grown / 2


def test_aimd_adds_one_and_backs_off() -> None:
    limit = AimdLimit(initial_limit=10, backoff_ratio=0.5)
    limit.on_sample(rtt=0.01, in_flight=10, dropped=False)
    assert limit.limit == 11
    limit.on_sample(rtt=0.01, in_flight=10, dropped=True)
    assert limit.limit == 5
    limit.on_sample(rtt=6.0, in_flight=5, dropped=False)  # beyond the 5 s timeout counts as a drop
    assert limit.limit == 2


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: FixedLimit(0), r"limit must be an int >= 1, got 0"),
        (lambda: VegasLimit(initial_limit=2000), r"initial_limit must be in \[1, 1000\], got 2000"),
        (lambda: VegasLimit(alpha=3, beta=2), r"beta must be > alpha \(3\), got 2"),
        (lambda: VegasLimit(max_limit=0), r"max_limit must be an int >= 1, got 0"),
        (lambda: Gradient2Limit(smoothing=0), r"smoothing must be in \(0, 1\], got 0"),
        (lambda: AimdLimit(backoff_ratio=1.0), r"backoff_ratio must be in \(0, 1\), got 1.0"),
        (lambda: AimdLimit(timeout=-1), r"timeout must be a finite number > 0, got -1"),
    ],
)
def test_options_are_validated(factory: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factory()
