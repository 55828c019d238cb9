"""The balancer of one service: its replicas, their health, and the pick of every attempt.

Pure logic: time comes from an injected ``now`` function and randomness from an injected
``random`` function, so it is driven by a fake clock in tests; events go to an optional hub.

Usable replicas are those neither ejected nor backing off (``Retry-After``, an open circuit).
Below ``panic_threshold`` of the replicas usable, the balancer panics (Envoy's panic mode):
it spreads attempts over all replicas, because concentrating a whole service's traffic on the
few left would take them down too. A replica added after the first set is given a share that
grows linearly from 10 % to 100 % over ``slow_start_seconds`` (0: at once).

Removed replicas drain: they leave the pick list at once, and the attempts already sent to them
finish and are recorded on their (detached) state.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence

import yarl

from aio_request._core.outcomes import EjectionReason
from aio_request._core.validate import fraction, non_negative
from aio_request.balancing.outliers import DEFAULT_OUTLIER_DETECTION, Outcome, OutlierDetection
from aio_request.balancing.policies import PeakEwmaPolicy, PickPolicy
from aio_request.balancing.replica import Replica
from aio_request.events import (
    BalancerPanicChanged,
    EventHub,
    ReplicaAttemptFinished,
    ReplicaEjected,
    ReplicaRestored,
    ReplicasChanged,
)

ReplicaAddress = tuple[yarl.URL, str | None]
"""A replica's URL and the ``Host`` header to send it (``None``: the URL's own)."""

SLOW_START_MIN_SHARE = 0.1
"""The share of a replica just added while it warms up."""

CIRCUIT_OPEN_HOLD_SECONDS = 1.0
"""How long a replica whose circuit breaker answered the fallback is left out of picks."""


class Balancer:
    """Tracks the replicas of ``service`` and picks one per attempt (see the module docs)."""

    __slots__ = (
        "_by_label",
        "_emit",
        "_hub",
        "_next_review",
        "_now",
        "_outliers",
        "_panic",
        "_panic_threshold",
        "_policy",
        "_random",
        "_replicas",
        "_slow_start",
        "_usable_now",
        "_warming",
        "service",
    )

    def __init__(
        self,
        service: str,
        *,
        now: Callable[[], float],
        random: Callable[[], float],
        policy: PickPolicy | None = None,
        outlier_detection: OutlierDetection | None = DEFAULT_OUTLIER_DETECTION,
        panic_threshold: float = 0.5,
        slow_start_seconds: float = 0.0,
        event_hub: EventHub | None = None,
    ) -> None:
        self.service = service
        self._now = now
        self._random = random
        self._policy = policy if policy is not None else PeakEwmaPolicy()
        if not isinstance(self._policy, PickPolicy):
            raise ValueError(f"policy must be a PickPolicy, got {policy!r}")
        if outlier_detection is not None and not isinstance(outlier_detection, OutlierDetection):
            raise ValueError(
                f"outlier_detection must be an OutlierDetection or None, got {outlier_detection!r}"
            )
        self._outliers = outlier_detection
        self._panic_threshold = fraction(
            "panic_threshold", panic_threshold, low_inclusive=True, high_inclusive=True
        )
        self._slow_start = non_negative("slow_start_seconds", slow_start_seconds)
        self._hub = event_hub
        self._replicas: list[Replica] = []
        self._by_label: dict[str, Replica] = {}
        self._next_review = math.inf
        self._panic = False
        self._warming = False
        self._usable_now: Callable[[Replica], bool] = _always

    @property
    def replicas(self) -> Sequence[Replica]:
        """The current replicas (removed ones excluded), in the order they were added."""
        return tuple(self._replicas)

    @property
    def panic(self) -> bool:
        """Whether fewer than the panic threshold of the replicas are usable."""
        self._review_if_due(self._now())
        return self._panic

    def _emit_event(self, event: object) -> None:
        hub = self._hub
        if hub is not None and hub.active:
            hub.emit(event)  # type: ignore[arg-type]

    # --- the replica set ------------------------------------------------------------------

    def update(self, addresses: Sequence[ReplicaAddress]) -> None:
        """Make ``addresses`` the replica set: new ones are added, missing ones drain."""
        now = self._now()
        first_set = not self._by_label and not self._replicas
        wanted: dict[str, ReplicaAddress] = {}
        for url, host in addresses:
            wanted.setdefault(str(url), (url, host))
        removed = [replica for label, replica in self._by_label.items() if label not in wanted]
        added: list[Replica] = []
        for label, (url, host) in wanted.items():
            if label not in self._by_label:
                replica = Replica(url, host, -math.inf if first_set else now)
                self._by_label[label] = replica
                added.append(replica)
        if not added and not removed:
            return
        for replica in removed:
            replica.removed = True
            del self._by_label[replica.label]
        self._replicas = [replica for replica in self._replicas if not replica.removed] + added
        self._review(now)
        self._emit_event(
            ReplicasChanged(
                self.service,
                tuple(replica.label for replica in added),
                tuple(replica.label for replica in removed),
                len(self._replicas),
            )
        )

    # --- picking ----------------------------------------------------------------------------

    def pick(self, exclude: Collection[Replica] = ()) -> Replica | None:
        """The replica for the next attempt, avoiding ``exclude`` while another is usable.

        ``None`` only when there is no replica at all.
        """
        replicas = self._replicas
        if not replicas:
            return None
        now = self._now()
        if now >= self._next_review:
            self._review(now)
        usable = self._usable_now
        weight = self._weight if self._warming else None
        random = self._random
        policy = self._policy
        if exclude:

            def usable_unused(replica: Replica) -> bool:
                return replica not in exclude and usable(replica)

            chosen = policy.pick(replicas, usable_unused, now, random, weight)
            if chosen is not None:
                return chosen
        chosen = policy.pick(replicas, usable, now, random, weight)
        if chosen is None:
            # Nothing usable although not in panic (a threshold of 0): use every replica.
            chosen = policy.pick(replicas, _always, now, random, weight)
        return chosen

    def _weight(self, replica: Replica, now: float) -> float:
        age = now - replica.added_at
        if age >= self._slow_start:
            return 1.0
        return max(SLOW_START_MIN_SHARE, age / self._slow_start)

    def _review_if_due(self, now: float) -> None:
        if now >= self._next_review:
            self._review(now)

    def _review(self, now: float) -> None:
        """Restore replicas whose time out is over; recount usable ones; update panic mode."""
        next_review = math.inf
        usable = 0
        warming = False
        for replica in self._replicas:
            until = replica.unavailable_until
            if until > now:
                next_review = min(next_review, until)
            else:
                if replica.unavailable_reason:
                    replica.unavailable_reason = ""
                    if replica.ejected_for_failures:
                        replica.ejected_for_failures = False
                        replica.last_restored_at = now
                    self._emit_event(ReplicaRestored(self.service, replica.label))
                usable += 1
            if self._slow_start and now - replica.added_at < self._slow_start:
                warming = True
                next_review = min(next_review, replica.added_at + self._slow_start)
        total = len(self._replicas)
        panic = total > 0 and usable < self._panic_threshold * total
        if panic != self._panic:
            self._panic = panic
            self._emit_event(BalancerPanicChanged(self.service, panic, usable, total))
        self._usable_now = _always if panic else _available_at(now)
        self._warming = warming
        self._next_review = next_review

    # --- attempts ---------------------------------------------------------------------------

    def attempt_started(self, replica: Replica) -> float:
        """Count an attempt in flight on ``replica``; returns its start time."""
        replica.pending += 1
        return self._now()

    def attempt_finished(
        self, replica: Replica, started_at: float, outcome: Outcome, status: int, retry_after: float | None
    ) -> None:
        """Record how an attempt on ``replica`` ended (``retry_after``: its pushback, if any)."""
        replica.pending -= 1
        now = self._now()
        duration = now - started_at
        outliers = self._outliers
        if outcome is Outcome.SUCCESS:
            replica.consecutive_failures = replica.unanswered = 0
            self._policy.observe(replica, duration, now)
        elif outcome is Outcome.FAILURE:
            replica.unanswered = 0
            self._policy.observe(replica, duration, now)
            failures = replica.consecutive_failures = replica.consecutive_failures + 1
            if outliers is not None and not (
                failures >= outliers.consecutive_failures
                and self._eject(replica, now, outliers, EjectionReason.FAILURES)
            ):
                # Out of the draws for a short, growing while: a replica that fails fast would
                # otherwise attract attempts, and a latency penalty alone would leave it in the
                # draws, where any replica paired with it (a slow one too) wins.
                self._hold(
                    replica, now, outliers.failure_backoff_seconds * failures, EjectionReason.FAILURE_BACKOFF
                )
        elif outcome is Outcome.OVERLOAD:
            replica.unanswered = 0
            penalty = 0.0 if outliers is None else outliers.penalty_seconds
            self._policy.observe(replica, max(duration, penalty), now)
            if retry_after and outliers is not None and outliers.max_retry_after_seconds > 0.0:
                seconds = min(retry_after, outliers.max_retry_after_seconds)
                self._hold(replica, now, seconds, EjectionReason.RETRY_AFTER)
        elif outcome is Outcome.CANCELLED:
            if duration > replica.cost or not replica.has_history:
                # A loser of a hedge race: its latency is at least this long.
                self._policy.observe(replica, duration, now)
            replica.unanswered += 1
            if outliers is not None and replica.unanswered >= outliers.consecutive_unanswered:
                self._eject(replica, now, outliers, EjectionReason.UNANSWERED)
        hub = self._hub
        if hub is not None and hub.active:
            handlers = hub.listeners_by_type.get(ReplicaAttemptFinished)
            if handlers:
                hub.emit(ReplicaAttemptFinished(self.service, replica.label, status, outcome, duration))

    def circuit_open(self, replica: Replica) -> None:
        """``replica``'s circuit breaker answered its fallback: leave it out of picks a while."""
        self._hold(replica, self._now(), CIRCUIT_OPEN_HOLD_SECONDS, EjectionReason.CIRCUIT_OPEN)

    def _eject(
        self, replica: Replica, now: float, outliers: OutlierDetection, reason: EjectionReason
    ) -> bool:
        """Eject ``replica`` unless removed, already ejected or too many are; whether it was."""
        if replica.removed or replica.ejected_for_failures:
            return False
        ejected = sum(1 for other in self._replicas if other.ejected_for_failures)
        if ejected + 1 > int(outliers.max_ejected_fraction * len(self._replicas)):
            return False
        if now - replica.last_restored_at > outliers.max_ejection_seconds:
            replica.times_ejected = 0  # healthy long enough since the last ejection: start over
        replica.times_ejected += 1
        replica.consecutive_failures = replica.unanswered = 0
        replica.ejected_for_failures = True
        seconds = outliers.ejection_seconds(replica.times_ejected)
        replica.unavailable_until = max(replica.unavailable_until, now + seconds)
        replica.unavailable_reason = reason
        event = ReplicaEjected(self.service, replica.label, reason, seconds, replica.times_ejected)
        self._emit_event(event)
        self._review(now)
        return True

    def _hold(self, replica: Replica, now: float, seconds: float, reason: EjectionReason) -> None:
        if replica.removed or seconds <= 0.0:
            return
        until = now + seconds
        if until <= replica.unavailable_until:
            return
        newly = replica.unavailable_until <= now
        replica.unavailable_until = until
        if newly:
            replica.unavailable_reason = reason
            event = ReplicaEjected(self.service, replica.label, reason, seconds, replica.times_ejected)
            self._emit_event(event)
        self._review(now)


def _always(replica: Replica) -> bool:
    return True


def _available_at(now: float) -> Callable[[Replica], bool]:
    def available(replica: Replica) -> bool:
        return replica.unavailable_until <= now

    return available
