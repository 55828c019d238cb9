"""What the balancer knows about one replica: its address, load, latency and health."""

from __future__ import annotations

import math

import yarl


class Replica:
    """One replica of a service, as the balancer tracks it.

    ``url`` is where attempts go; ``host`` the ``Host`` header they carry (``None``: the one
    derived from ``url``). The other attributes are the balancer's bookkeeping, read by the pick
    policies: ``pending`` attempts in flight, the peak-EWMA latency ``cost`` (seconds) last
    updated at ``stamp`` (``has_history`` is false until a first latency is observed),
    ``unavailable_until`` (ejected or told to back off until then), and ``added_at``
    (for slow start).
    """

    __slots__ = (
        "added_at",
        "consecutive_failures",
        "cost",
        "ejected_for_failures",
        "has_history",
        "host",
        "label",
        "last_restored_at",
        "pending",
        "removed",
        "stamp",
        "times_ejected",
        "unanswered",
        "unavailable_reason",
        "unavailable_until",
        "url",
    )

    def __init__(self, url: yarl.URL, host: str | None, added_at: float) -> None:
        self.url = url
        self.label = str(url)
        self.host = host
        self.added_at = added_at
        self.pending = 0
        self.cost = 0.0
        self.stamp = added_at
        self.has_history = False
        self.consecutive_failures = 0
        self.times_ejected = 0
        self.unanswered = 0
        self.ejected_for_failures = False
        self.last_restored_at = -math.inf
        self.unavailable_until = -math.inf
        self.unavailable_reason = ""
        self.removed = False

    def observe_latency(self, rtt: float, now: float, decay: float) -> None:
        """Fold ``rtt`` into the peak-EWMA cost: ``max(rtt, cost·w + rtt·(1 - w))`` with
        ``w = exp(-elapsed / decay)``, so a latency above the cost is taken at once."""
        if not self.has_history:
            self.cost, self.stamp, self.has_history = rtt, now, True
            return
        elapsed = now - self.stamp
        self.stamp = now
        weight = math.exp(-elapsed / decay) if elapsed > 0.0 else 1.0
        cost = self.cost * weight + rtt * (1.0 - weight)
        self.cost = rtt if rtt > cost else cost

    def cost_at(self, now: float, decay: float, default_rtt: float) -> float:
        """The cost as read at ``now``: ``default_rtt`` without history, else the last cost
        decayed toward zero since its update (a replica penalised once is probed again)."""
        if not self.has_history:
            return default_rtt
        elapsed = now - self.stamp
        if elapsed <= 0.0:
            return self.cost
        return self.cost * math.exp(-elapsed / decay)

    def __repr__(self) -> str:
        return f"<Replica {self.label} pending={self.pending} cost={self.cost:.4f}>"
