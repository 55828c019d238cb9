"""Priority partitions: how much of the concurrency limit each priority may use under contention.

While nobody waits and fewer requests run than the limit, any priority is admitted: the
partitions do not cost anything to a server that is not overloaded. Once the limit has been
reached (somebody waits in the queue), a request of priority ``p`` starts only while fewer than
``share(p) * limit`` requests run in total. With the default shares (HIGH 100 %, NORMAL 90 %,
LOW 50 %) the last 10 % of the limit is kept for HIGH and the upper half for NORMAL and HIGH,
so a HIGH request arriving during an overload usually finds a free slot at once.

The shares are thresholds on the *total* in flight, not quotas of their own, so they never add
up to more than the limit: a server never runs more than its limit.
"""

from __future__ import annotations

import dataclasses

from aio_request._core.validate import fraction
from aio_request.http.priority import Priority

__all__ = ["PriorityPartitions"]


@dataclasses.dataclass(frozen=True, slots=True)
class PriorityPartitions:
    """The share of the limit each priority may fill under contention, each in (0, 1].

    Defaults: ``high=1.0``, ``normal=0.9``, ``low=0.5``. The shares must not increase as the
    priority drops (``high >= normal >= low``). Raises ``ValueError`` naming a bad share.
    """

    high: float = 1.0
    normal: float = 0.9
    low: float = 0.5

    def __post_init__(self) -> None:
        for name in ("high", "normal", "low"):
            fraction(name, getattr(self, name), low_inclusive=False, high_inclusive=True)
        if not self.high >= self.normal >= self.low:
            raise ValueError(
                f"shares must satisfy high >= normal >= low, got {self.high!r}, {self.normal!r}, {self.low!r}"
            )

    def share(self, priority: Priority) -> float:
        """The share of ``priority``."""
        if priority is Priority.HIGH:
            return self.high
        if priority is Priority.NORMAL:
            return self.normal
        return self.low

    def may_start(self, priority: Priority, *, in_flight: int, limit: int, contended: bool) -> bool:
        """Whether a request of ``priority`` may start with ``in_flight`` requests running.

        ``contended`` is true while requests wait; only then is the share enforced.
        """
        if in_flight >= limit:
            return False
        return not contended or in_flight < self.share(priority) * limit
