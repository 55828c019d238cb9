"""The balancer's pure logic on a fake clock: picks, ejection, panic, overload, slow start."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable, Iterator, Sequence

import pytest
import yarl

from aio_request._core.outcomes import EjectionReason
from aio_request.balancing import (
    Balancer,
    LeastOutstandingPolicy,
    Outcome,
    OutlierDetection,
    PeakEwmaPolicy,
    PickPolicy,
    Replica,
    RoundRobinPolicy,
)
from aio_request.balancing.outliers import DEFAULT_OUTLIER_DETECTION
from aio_request.events import (
    BalancerPanicChanged,
    Event,
    EventHub,
    ReplicaAttemptFinished,
    ReplicaEjected,
    ReplicaRestored,
    ReplicasChanged,
)
from aio_request.testing import FakeClock

URLS = [yarl.URL(f"http://127.0.0.{i}:8080/") for i in range(1, 11)]


def cycling(values: Sequence[float]) -> Callable[[], float]:
    source: Iterator[float] = itertools.cycle(values)
    return lambda: next(source)


class Harness:
    def __init__(
        self,
        count: int,
        *,
        policy: PickPolicy | None = None,
        outliers: OutlierDetection | None = DEFAULT_OUTLIER_DETECTION,
        panic_threshold: float = 0.5,
        slow_start_seconds: float = 0.0,
        random: Callable[[], float] | None = None,
    ) -> None:
        import random as _random

        self.clock = FakeClock()
        self.events: list[Event] = []
        hub = EventHub()
        hub.subscribe(self.events.append)
        self.balancer = Balancer(
            "http://svc/",
            now=self.clock.now,
            random=random if random is not None else _random.Random(7).random,
            policy=policy,
            outlier_detection=outliers,
            panic_threshold=panic_threshold,
            slow_start_seconds=slow_start_seconds,
            event_hub=hub,
        )
        self.balancer.update([(url, None) for url in URLS[:count]])
        self.replicas = list(self.balancer.replicas)

    def tick(self, seconds: float) -> None:
        self.clock._now += seconds  # pure logic: nothing sleeps on this clock

    def attempt(self, replica: Replica, outcome: Outcome, *, latency: float = 0.01, status: int = 200,
                retry_after: float | None = None) -> None:  # fmt: skip
        started = self.balancer.attempt_started(replica)
        self.tick(latency)
        self.balancer.attempt_finished(replica, started, outcome, status, retry_after)

    def fail(self, replica: Replica, times: int) -> None:
        for _ in range(times):
            self.attempt(replica, Outcome.FAILURE, status=500)

    def picks(self, count: int, exclude: Sequence[Replica] = ()) -> Counter[str]:
        chosen: Counter[str] = Counter()
        for _ in range(count):
            replica = self.balancer.pick(exclude)
            assert replica is not None
            chosen[replica.label] += 1
        return chosen

    def of(self, *types: type) -> list[Event]:
        return [event for event in self.events if isinstance(event, types)]


def test_the_first_set_is_announced_once() -> None:
    harness = Harness(3)
    assert harness.of(ReplicasChanged) == [
        ReplicasChanged("http://svc/", tuple(str(url) for url in URLS[:3]), (), 3)
    ]


def test_peak_ewma_prefers_the_faster_replica() -> None:
    harness = Harness(2)
    a, b = harness.replicas
    harness.attempt(a, Outcome.SUCCESS, latency=0.300)
    harness.attempt(b, Outcome.SUCCESS, latency=0.010)
    assert harness.picks(50) == {b.label: 50}


def test_peak_ewma_multiplies_latency_by_pending_plus_one() -> None:
    harness = Harness(2)
    a, b = harness.replicas
    harness.attempt(a, Outcome.SUCCESS, latency=0.010)
    harness.attempt(b, Outcome.SUCCESS, latency=0.040)
    for _ in range(4):
        harness.balancer.attempt_started(a)  # 0.010 x 5 = 0.050 > 0.040 x 1
    assert harness.picks(20) == {b.label: 20}


def test_a_replica_without_history_counts_as_the_default_rtt() -> None:
    harness = Harness(2, policy=PeakEwmaPolicy(default_rtt=0.030))
    a, b = harness.replicas
    harness.attempt(a, Outcome.SUCCESS, latency=0.050)
    assert harness.picks(10) == {b.label: 10}
    harness.attempt(a, Outcome.SUCCESS, latency=0.020)  # the peak decays slowly...
    assert harness.picks(10) == {b.label: 10}


def test_peak_ewma_takes_peaks_at_once_and_forgets_them_with_the_decay() -> None:
    replica = Replica(URLS[0], None, 0.0)
    replica.observe_latency(0.100, now=0.0, decay=10.0)
    replica.observe_latency(0.010, now=0.0, decay=10.0)
    assert replica.cost == pytest.approx(0.100)
    replica.observe_latency(0.010, now=10.0, decay=10.0)
    assert replica.cost == pytest.approx(0.100 * math.exp(-1) + 0.010 * (1 - math.exp(-1)))
    replica.observe_latency(0.500, now=10.5, decay=10.0)
    assert replica.cost == pytest.approx(0.500)
    assert replica.cost_at(20.5, 10.0, 0.03) == pytest.approx(0.500 * math.exp(-1))


def test_a_slow_replica_is_probed_again_once_its_peak_decayed() -> None:
    harness = Harness(2, policy=PeakEwmaPolicy(decay=10.0))
    a, b = harness.replicas
    harness.attempt(a, Outcome.SUCCESS, latency=0.200)
    harness.attempt(b, Outcome.SUCCESS, latency=0.020)
    probed_at = None
    for second in range(60):
        chosen = harness.balancer.pick()
        if chosen is a:
            probed_at = second
            break
        assert chosen is b
        harness.attempt(b, Outcome.SUCCESS, latency=0.020)  # b keeps answering in 20 ms
        harness.tick(1.0)
    # a's 200 ms decays below b's 20 ms after 10 s x ln(10), about 23 s.
    assert probed_at in (23, 24)


def test_least_outstanding_ignores_latency() -> None:
    harness = Harness(2, policy=LeastOutstandingPolicy())
    a, b = harness.replicas
    harness.attempt(a, Outcome.SUCCESS, latency=5.0)
    harness.balancer.attempt_started(b)
    assert harness.picks(10) == {a.label: 10}


def test_round_robin_takes_each_usable_replica_in_turn() -> None:
    harness = Harness(3, policy=RoundRobinPolicy())
    order = [harness.balancer.pick() for _ in range(6)]
    assert order == harness.replicas * 2


def test_p2c_spreads_evenly_over_equal_replicas() -> None:
    harness = Harness(5, policy=LeastOutstandingPolicy())
    counts = harness.picks(5000)
    assert len(counts) == 5
    assert all(800 < count < 1200 for count in counts.values()), counts


def test_a_retry_avoids_the_replicas_the_call_used_while_another_is_usable() -> None:
    harness = Harness(3)
    a, b, c = harness.replicas
    harness.attempt(a, Outcome.SUCCESS, latency=0.001)  # a is by far the best
    assert set(harness.picks(30, exclude=[a])) == {b.label, c.label}
    assert set(harness.picks(30, exclude=[a, b])) == {c.label}
    harness.balancer.circuit_open(c)
    assert set(harness.picks(30, exclude=[a, b])) == {a.label}  # c is not usable: the best of a, b


def test_when_the_call_used_every_replica_any_usable_one_is_picked() -> None:
    harness = Harness(2)
    a, b = harness.replicas
    harness.attempt(a, Outcome.SUCCESS, latency=0.001)
    assert harness.picks(30, exclude=[a, b]) == {a.label: 30}


def test_a_failure_keeps_a_replica_out_of_the_draws_for_a_growing_while() -> None:
    harness = Harness(3)
    failing, healthy, slow = harness.replicas
    harness.attempt(healthy, Outcome.SUCCESS, latency=0.010)
    harness.attempt(slow, Outcome.SUCCESS, latency=0.100)
    backoffs = []
    for _ in range(4):
        harness.attempt(failing, Outcome.FAILURE, latency=0.001, status=500)
        # Out of the draws: the slow replica is never paired with it (and never wins).
        assert harness.picks(50) == {healthy.label: 50}
        (event,) = [e for e in harness.of(ReplicaEjected) if e not in backoffs]
        backoffs.append(event)
        harness.tick(event.seconds)  # type: ignore[union-attr]
    assert [(e.reason, e.seconds) for e in backoffs] == [  # type: ignore[union-attr]
        ("failure_backoff", pytest.approx(1.0)),
        ("failure_backoff", pytest.approx(2.0)),
        ("failure_backoff", pytest.approx(3.0)),
        ("failure_backoff", pytest.approx(4.0)),
    ]
    harness.attempt(failing, Outcome.FAILURE, latency=0.001, status=500)
    ejected = harness.of(ReplicaEjected)[-1]
    assert ejected == ReplicaEjected("http://svc/", failing.label, EjectionReason.FAILURES, 30.0, 1)
    assert type(ejected.reason) is EjectionReason


def failure_ejections(harness: Harness) -> list[Event]:
    return [e for e in harness.of(ReplicaEjected) if e.reason == "failures"]  # type: ignore[union-attr]


def test_consecutive_failures_eject_for_base_times_ejections_capped() -> None:
    outliers = OutlierDetection(consecutive_failures=3, base_ejection_seconds=10, max_ejection_seconds=25)
    harness = Harness(4, policy=LeastOutstandingPolicy(), outliers=outliers)
    a = harness.replicas[0]
    durations = []
    for _ in range(4):
        harness.fail(a, 3)
        ejected = harness.of(ReplicaEjected)[-1]
        assert isinstance(ejected, ReplicaEjected)
        durations.append(ejected.seconds)
        assert a.label not in harness.picks(200)
        harness.tick(ejected.seconds)
        assert a.label in harness.picks(200)
    assert durations == [10, 20, 25, 25]
    assert len(harness.of(ReplicaRestored)) == 4


def test_a_success_resets_the_consecutive_failures() -> None:
    harness = Harness(4, outliers=OutlierDetection(consecutive_failures=3))
    a = harness.replicas[0]
    harness.fail(a, 2)
    harness.attempt(a, Outcome.SUCCESS)
    harness.fail(a, 2)
    assert failure_ejections(harness) == []


def test_overload_answers_are_no_failures() -> None:
    harness = Harness(4, outliers=OutlierDetection(consecutive_failures=2))
    a = harness.replicas[0]
    for _ in range(5):
        harness.attempt(a, Outcome.OVERLOAD, status=429)
    assert harness.of(ReplicaEjected) == []
    assert a.cost >= 1.0  # the default overload latency penalty


def test_retry_after_keeps_a_replica_out_of_picks_that_long_capped() -> None:
    harness = Harness(3, outliers=OutlierDetection(max_retry_after_seconds=5.0))
    a = harness.replicas[0]
    harness.attempt(a, Outcome.OVERLOAD, status=503, retry_after=60.0)
    ejected = harness.of(ReplicaEjected)
    assert [(e.replica, e.reason, e.seconds) for e in ejected] == [(a.label, "retry_after", 5.0)]  # type: ignore[union-attr]
    assert a.label not in harness.picks(100)
    harness.tick(5.0)
    harness.balancer.pick()
    assert harness.of(ReplicaRestored) == [ReplicaRestored("http://svc/", a.label)]


def test_at_most_the_max_fraction_is_ejected() -> None:
    harness = Harness(5, outliers=OutlierDetection(consecutive_failures=1, max_ejected_fraction=0.5))
    for replica in harness.replicas:
        harness.fail(replica, 1)
    assert len(failure_ejections(harness)) == 2  # floor(0.5 x 5); the others back off
    small = Harness(5, outliers=OutlierDetection(consecutive_failures=1, max_ejected_fraction=0.1))
    for replica in small.replicas:
        small.fail(replica, 1)
    assert failure_ejections(small) == []


def test_below_the_panic_threshold_every_replica_is_picked() -> None:
    harness = Harness(
        4,
        policy=LeastOutstandingPolicy(),
        outliers=OutlierDetection(consecutive_failures=1, max_ejected_fraction=1.0),
    )
    for replica in harness.replicas[:3]:
        harness.fail(replica, 1)
    assert harness.balancer.panic
    assert harness.of(BalancerPanicChanged) == [BalancerPanicChanged("http://svc/", True, 1, 4)]
    assert len(harness.picks(400)) == 4
    harness.tick(30.0)
    assert [harness.balancer.panic] == [False]  # (a list: mypy would keep the narrowing above)
    assert harness.of(BalancerPanicChanged)[-1] == BalancerPanicChanged("http://svc/", False, 4, 4)


def test_at_the_panic_threshold_ejected_replicas_stay_out() -> None:
    harness = Harness(4, outliers=OutlierDetection(consecutive_failures=1, max_ejected_fraction=1.0))
    for replica in harness.replicas[:2]:
        harness.fail(replica, 1)
    assert not harness.balancer.panic
    assert set(harness.picks(200)) == {r.label for r in harness.replicas[2:]}


def test_a_replica_added_later_warms_up_over_slow_start() -> None:
    harness = Harness(1, policy=RoundRobinPolicy(), slow_start_seconds=10.0)
    harness.tick(100.0)
    harness.balancer.update([(URLS[0], None), (URLS[1], None)])
    new = harness.balancer.replicas[1]
    early = harness.picks(2000)
    assert 0.05 < early[new.label] / 2000 < 0.15  # about 10 % of its turns are taken
    harness.tick(10.0)
    late = harness.picks(2000)
    assert late[new.label] == 1000


def test_slow_start_scales_the_p2c_load() -> None:
    harness = Harness(1, policy=LeastOutstandingPolicy(), slow_start_seconds=10.0)
    harness.tick(100.0)
    harness.balancer.update([(URLS[0], None), (URLS[1], None)])
    old, new = harness.balancer.replicas
    for _ in range(3):
        harness.balancer.attempt_started(old)  # load 4 vs 1 / 0.1 = 10
    assert harness.picks(10) == {old.label: 10}
    harness.tick(5.0)  # share 0.5: load 2
    assert harness.picks(10) == {new.label: 10}


def test_removed_replicas_drain() -> None:
    harness = Harness(3)
    a, b, c = harness.replicas
    started = harness.balancer.attempt_started(a)
    harness.balancer.update([(b.url, None), (c.url, None), (URLS[5], None)])
    assert harness.of(ReplicasChanged)[-1] == ReplicasChanged("http://svc/", (str(URLS[5]),), (a.label,), 3)
    assert a.label not in harness.picks(100)
    harness.balancer.attempt_finished(a, started, Outcome.SUCCESS, 200, None)
    assert a.pending == 0
    harness.fail(a, 10)  # late failures of a drained replica eject nothing
    assert harness.of(ReplicaEjected) == []


def test_an_unchanged_set_emits_nothing() -> None:
    harness = Harness(2)
    harness.balancer.update([(url, None) for url in reversed(URLS[:2])])
    assert len(harness.of(ReplicasChanged)) == 1


def test_an_open_circuit_holds_the_replica_for_a_second() -> None:
    harness = Harness(3)
    a = harness.replicas[0]
    harness.balancer.circuit_open(a)
    assert a.label not in harness.picks(100)
    harness.tick(1.0)
    assert a.label in harness.picks(100)


def test_cancelled_attempts_raise_the_latency_but_never_lower_it() -> None:
    harness = Harness(2)
    a = harness.replicas[0]
    harness.attempt(a, Outcome.SUCCESS, latency=0.050)
    harness.attempt(a, Outcome.CANCELLED, latency=0.001, status=499)
    assert a.cost == pytest.approx(0.050)
    harness.attempt(a, Outcome.CANCELLED, latency=0.400, status=499)
    assert a.cost == pytest.approx(0.400)


def test_every_attempt_is_reported_with_its_replica() -> None:
    harness = Harness(1)
    a = harness.replicas[0]
    harness.attempt(a, Outcome.FAILURE, latency=0.25, status=500)
    assert harness.of(ReplicaAttemptFinished) == [
        ReplicaAttemptFinished("http://svc/", a.label, 500, "failure", pytest.approx(0.25))  # type: ignore[arg-type]
    ]


def test_no_replicas_no_pick() -> None:
    harness = Harness(0)
    assert harness.balancer.pick() is None


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: PeakEwmaPolicy(decay=0), "decay must be a finite number > 0, got 0"),
        (lambda: PeakEwmaPolicy(default_rtt=-1), "default_rtt must be a finite number > 0, got -1"),
        (lambda: OutlierDetection(consecutive_failures=0), "consecutive_failures must be an int >= 1, got 0"),
        (lambda: OutlierDetection(max_ejected_fraction=1.5), r"max_ejected_fraction must be in \[0, 1\]"),
        (
            lambda: OutlierDetection(base_ejection_seconds=10, max_ejection_seconds=5),
            "max_ejection_seconds must be >= base_ejection_seconds",
        ),
        (lambda: Harness(1, panic_threshold=2), r"panic_threshold must be in \[0, 1\], got 2"),
        (lambda: Harness(1, slow_start_seconds=-1), "slow_start_seconds must be a finite number >= 0"),
        (lambda: Harness(1, policy="p2c"), "policy must be a PickPolicy, got 'p2c'"),  # type: ignore[arg-type]
    ],
)
def test_invalid_options_are_refused(factory: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factory()


def test_attempts_cancelled_before_any_answer_eject_a_black_hole() -> None:
    harness = Harness(4, outliers=OutlierDetection(consecutive_unanswered=3))
    a = harness.replicas[0]
    for _ in range(3):
        harness.attempt(a, Outcome.CANCELLED, latency=0.02, status=499)
    ejected = harness.of(ReplicaEjected)
    assert [(e.replica, e.reason) for e in ejected] == [(a.label, "unanswered")]  # type: ignore[union-attr]


def test_any_answer_resets_the_unanswered_count() -> None:
    harness = Harness(4, outliers=OutlierDetection(consecutive_unanswered=3))
    a = harness.replicas[0]
    cancelled = Outcome.CANCELLED
    for outcome in (cancelled, cancelled, Outcome.OVERLOAD, cancelled, cancelled, Outcome.FAILURE):
        harness.attempt(a, outcome, latency=0.02, status=429)
    harness.attempt(a, cancelled, latency=0.02, status=499)
    harness.attempt(a, cancelled, latency=0.02, status=499)
    assert [e for e in harness.of(ReplicaEjected) if e.reason == "unanswered"] == []  # type: ignore[union-attr]
