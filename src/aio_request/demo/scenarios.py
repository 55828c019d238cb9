"""The lab's matrix: four strategies, alone, with ``setup()``'s defaults, then behind each breaker.

| strategy | settings |
|---|---|
| single attempt | ``single_attempt_strategy()`` |
| sequential retries | ``sequential_strategy(attempts_count=3)``: linear backoff 50 ms x attempt |
| fixed-delay hedging | ``parallel_strategy(attempts_count=3, constant_delays(p95 of the profile))`` |
| adaptive hedging | ``parallel_strategy(attempts_count=3, PercentileBasedRequestAttemptDelaysProvider())`` |

Phase 1 turns every protection off (``retry_budget=None, hedge_budget=None``, no breaker), so
each strategy shows its raw effect. Phase 2 is plain ``setup()``: its default budgets
(``RetryBudget()``: retries ≤ 20 % of calls + 1/s; ``HedgeBudget()``: hedges ≤ 5 % of calls +
10/s) and no breaker. Phases 3 and 4 add a breaker to those defaults, side by side:
:data:`BREAKER_SETTINGS` for :class:`DefaultCircuitBreaker`, :data:`THROTTLE_SETTINGS` for
:class:`AdaptiveThrottlingCircuitBreaker`. The adaptive provider keeps its defaults (p95 of
recent latencies, clamped to [5 ms, 10 s]) except its window: a tenth of the run (at least
0.5 s, in 4 buckets) instead of 300 s, so it can re-learn within one incident of the compressed
timeline.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Final

import yarl

from aio_request import (
    AdaptiveThrottlingCircuitBreaker,
    CircuitBreaker,
    Client,
    ClosableResponse,
    DefaultCircuitBreaker,
    PercentileBasedRequestAttemptDelaysProvider,
    RequestStrategy,
    Transport,
    constant_delays,
    parallel_strategy,
    sequential_strategy,
    setup,
    single_attempt_strategy,
)
from aio_request.demo.profile import Profile
from aio_request.events import EventHub

BREAKER_SETTINGS: Final[dict[str, Any]] = {
    "break_duration": 0.5,
    "failure_threshold": 0.5,
    "minimum_throughput": 20,
    "sampling_duration": 0.5,
    "windows_count": 5,
}
"""The circuit breaker of phase 3: opens at ≥ 50 % failed attempts over 0.5 s (≥ 20 of them)."""

THROTTLE_SETTINGS: Final[dict[str, Any]] = {"window_seconds": 0.04, "windows_count": 5}
"""The adaptive throttle of phase 4: the SRE book's ``k = 2`` over a 0.04 s window."""

ATTEMPTS: Final = 3
"""Attempts per call for the retrying and hedging strategies."""


@dataclasses.dataclass(frozen=True, slots=True)
class Phase:
    """A group of scenarios shown in one table: which protections its clients have.

    ``budgets``: ``setup()``'s default retry and hedge budgets (else none); ``breaker``:
    ``"default"`` (:class:`DefaultCircuitBreaker`), ``"throttle"``
    (:class:`AdaptiveThrottlingCircuitBreaker`) or ``None``.
    """

    key: str
    title: str
    budgets: bool
    breaker: str | None

    @property
    def protected(self) -> bool:
        """Whether any protection is on."""
        return self.budgets or self.breaker is not None


PHASES: Final = (
    Phase("unprotected", "Phase 1 - strategies alone (no breaker, no budgets)", budgets=False, breaker=None),
    Phase("defaults", "Phase 2 - plain setup() defaults (retry + hedge budgets, no breaker)", True, None),
    Phase("breaker", "Phase 3 - defaults + DefaultCircuitBreaker", budgets=True, breaker="default"),
    Phase(
        "throttle", "Phase 4 - defaults + AdaptiveThrottlingCircuitBreaker", budgets=True, breaker="throttle"
    ),
)
"""The phases, in the order they are shown."""

StrategyFactory = Callable[[Profile, float], RequestStrategy]
"""(profile, run duration in seconds) → a fresh strategy for one scenario."""


@dataclasses.dataclass(frozen=True, slots=True)
class Scenario:
    """One strategy in one phase: ``key`` names its service and its results."""

    key: str
    strategy: str
    phase: Phase
    make_strategy: StrategyFactory


def fixed_hedge_delay(profile: Profile) -> float:
    """The fixed hedging delay in seconds: the profile's p95 latency, rounded to a millisecond."""
    return max(round(profile.latency_percentile_ms(0.95)), 1) / 1000


def _single(_profile: Profile, _duration: float) -> RequestStrategy:
    return single_attempt_strategy()


def _sequential(_profile: Profile, _duration: float) -> RequestStrategy:
    return sequential_strategy(attempts_count=ATTEMPTS)


def _fixed_hedging(profile: Profile, _duration: float) -> RequestStrategy:
    return parallel_strategy(
        attempts_count=ATTEMPTS, delays_provider=constant_delays(delay=fixed_hedge_delay(profile))
    )


def _adaptive_hedging(_profile: Profile, duration: float) -> RequestStrategy:
    provider = PercentileBasedRequestAttemptDelaysProvider(
        percentile=0.95, window_size_seconds=max(0.5, duration / 10), buckets_count=4
    )
    return parallel_strategy(attempts_count=ATTEMPTS, delays_provider=provider)


def strategy_labels(profile: Profile) -> dict[str, str]:
    """Strategy key → the label shown in tables (the fixed delay depends on the profile)."""
    return {
        "single": "single attempt",
        "sequential": f"sequential retries x{ATTEMPTS}",
        "hedged": f"hedging, fixed {fixed_hedge_delay(profile) * 1000:g} ms",
        "adaptive": "hedging, adaptive p95",
    }


_FACTORIES: Final[dict[str, StrategyFactory]] = {
    "single": _single,
    "sequential": _sequential,
    "hedged": _fixed_hedging,
    "adaptive": _adaptive_hedging,
}


def scenarios(profile: Profile) -> tuple[Scenario, ...]:
    """Every scenario: each phase of :data:`PHASES` times each strategy, in display order."""
    labels = strategy_labels(profile)
    return tuple(
        Scenario(key=f"{phase.key}-{name}", strategy=labels[name], phase=phase, make_strategy=factory)
        for phase in PHASES
        for name, factory in _FACTORIES.items()
    )


def build_client(
    scenario: Scenario,
    *,
    transport: Transport,
    endpoint: yarl.URL,
    profile: Profile,
    duration: float,
    event_hub: EventHub,
) -> Client:
    """A fresh client for ``scenario`` (its own breaker, budgets and adaptive delays)."""
    phase = scenario.phase
    breaker: CircuitBreaker[str, ClosableResponse] | None = None
    if phase.breaker == "default":
        breaker = DefaultCircuitBreaker[str, ClosableResponse](event_hub=event_hub, **BREAKER_SETTINGS)
    elif phase.breaker == "throttle":
        breaker = AdaptiveThrottlingCircuitBreaker[str, ClosableResponse](
            event_hub=event_hub, **THROTTLE_SETTINGS
        )
    strategy = scenario.make_strategy(profile, duration)
    if phase.budgets:  # setup()'s own defaults: nothing passed
        return setup(
            transport=transport,
            endpoint=endpoint,
            safe_method_strategy=strategy,
            timeout=profile.deadline_seconds,
            event_hub=event_hub,
            circuit_breaker=breaker,
        )
    return setup(
        transport=transport,
        endpoint=endpoint,
        safe_method_strategy=strategy,
        timeout=profile.deadline_seconds,
        event_hub=event_hub,
        circuit_breaker=breaker,
        retry_budget=None,
        hedge_budget=None,
    )
