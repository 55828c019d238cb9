"""Pick policies: which usable replica gets the next attempt.

* :class:`PeakEwmaPolicy` (the default): power of two choices over ``peak-EWMA latency *
  (pending + 1)``, after Finagle's ``p2cPeakEwma``; a replica with no latency yet counts as
  ``default_rtt`` (Linkerd uses 30 ms).
* :class:`LeastOutstandingPolicy`: power of two choices over the attempts in flight.
* :class:`RoundRobinPolicy`: each usable replica in turn.

Power of two choices draws two distinct replicas at random and takes the less loaded one, so
picking costs the same at 5 or 500 replicas; only when one of the two drawn is not usable does
it fall back to scanning the list. A policy never reads the clock or a global random source:
the balancer passes ``now`` and its random function.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence

from aio_request._core.validate import positive
from aio_request.balancing.replica import Replica

Usable = Callable[[Replica], bool]
"""Whether a replica may take this attempt."""

Weight = Callable[[Replica, float], float]
"""A replica's share in ``(0, 1]`` at a time (below 1 while it warms up after being added)."""

DEFAULT_DECAY_SECONDS = 10.0
"""How fast a peak-EWMA latency forgets (the time constant, as Finagle's)."""

DEFAULT_RTT_SECONDS = 0.030
"""The latency assumed for a replica with no history yet (as Linkerd's)."""


class PickPolicy(abc.ABC):
    """Chooses a replica; told the latency of every attempt that got a response."""

    __slots__ = ()

    @abc.abstractmethod
    def pick(
        self,
        replicas: Sequence[Replica],
        usable: Usable,
        now: float,
        random: Callable[[], float],
        weight: Weight | None,
    ) -> Replica | None:
        """A usable replica of ``replicas``, or ``None`` when none is usable.

        ``random()`` returns a float in ``[0, 1)``; ``weight`` is ``None`` when no replica is
        warming up.
        """

    def observe(self, replica: Replica, rtt: float, now: float) -> None:
        """Record an attempt's latency (seconds) on ``replica``."""
        replica.observe_latency(rtt, now, DEFAULT_DECAY_SECONDS)


def _two_distinct(replicas: Sequence[Replica], random: Callable[[], float]) -> tuple[Replica, Replica]:
    """Two different replicas drawn uniformly at random (``len(replicas) >= 2``)."""
    count = len(replicas)
    first = int(random() * count)
    second = (first + 1 + int(random() * (count - 1))) % count
    return replicas[first], replicas[second]


class _PowerOfTwoChoices(PickPolicy):
    __slots__ = ()

    @abc.abstractmethod
    def load(self, replica: Replica, now: float) -> float:
        """Lower is better."""

    def pick(
        self,
        replicas: Sequence[Replica],
        usable: Usable,
        now: float,
        random: Callable[[], float],
        weight: Weight | None,
    ) -> Replica | None:
        """The less loaded of two distinct usable replicas drawn at random."""
        if len(replicas) > 1:
            a, b = _two_distinct(replicas, random)
            if usable(a) and usable(b):  # the common case: no list of the usable ones is built
                return self._better(a, b, now, weight)
        candidates = [replica for replica in replicas if usable(replica)]
        if len(candidates) <= 1:
            return candidates[0] if candidates else None
        return self._better(*_two_distinct(candidates, random), now, weight)

    def _better(self, a: Replica, b: Replica, now: float, weight: Weight | None) -> Replica:
        load_a, load_b = self.load(a, now), self.load(b, now)
        if weight is not None:
            load_a /= weight(a, now)
            load_b /= weight(b, now)
        return a if load_a <= load_b else b


class PeakEwmaPolicy(_PowerOfTwoChoices):
    """Power of two choices over ``peak-EWMA latency * (pending + 1)`` (the default).

    ``decay`` (10 s) is the EWMA's time constant: a latency above the current estimate is taken
    at once, a lower one pulls it down over about ``decay`` seconds, and with no new latency the
    estimate decays toward zero, so a replica avoided for a slow spell is probed again.
    ``default_rtt`` (0.030 s) is the latency of a replica with no history. Both must be > 0.
    """

    __slots__ = ("_decay", "_default_rtt")

    def __init__(
        self, *, decay: float = DEFAULT_DECAY_SECONDS, default_rtt: float = DEFAULT_RTT_SECONDS
    ) -> None:
        self._decay = positive("decay", decay)
        self._default_rtt = positive("default_rtt", default_rtt)

    def load(self, replica: Replica, now: float) -> float:
        """The replica's latency estimate times its attempts in flight plus one."""
        return replica.cost_at(now, self._decay, self._default_rtt) * (replica.pending + 1)

    def observe(self, replica: Replica, rtt: float, now: float) -> None:
        """Fold ``rtt`` into the replica's peak-EWMA latency."""
        replica.observe_latency(rtt, now, self._decay)


class LeastOutstandingPolicy(_PowerOfTwoChoices):
    """Power of two choices over the attempts in flight (latency is ignored)."""

    __slots__ = ()

    def load(self, replica: Replica, now: float) -> float:
        """The replica's attempts in flight plus one."""
        return replica.pending + 1.0


class RoundRobinPolicy(PickPolicy):
    """Each usable replica in turn; a replica warming up is skipped in proportion."""

    __slots__ = ("_next",)

    def __init__(self) -> None:
        self._next = 0

    def pick(
        self,
        replicas: Sequence[Replica],
        usable: Usable,
        now: float,
        random: Callable[[], float],
        weight: Weight | None,
    ) -> Replica | None:
        """The next usable replica after the one picked last."""
        count = len(replicas)
        fallback: Replica | None = None
        for step in range(count):
            index = (self._next + step) % count
            replica = replicas[index]
            if not usable(replica):
                continue
            if weight is not None and random() >= weight(replica, now):
                fallback = fallback or replica
                continue
            self._next = index + 1
            return replica
        return fallback
