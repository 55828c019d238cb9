"""What the embedded service answers to each request: a seeded draw from the profile.

Each request draws four numbers — latency bucket, latency within the bucket, background error,
incident — from its own ``random.Random`` seeded by ``(seed, call, attempt)``: the call's index
in the workload and the attempt's rank among the requests of that call the service received.
So call ``i``'s first attempt gets the same latency and the same luck in every scenario and
every run with the same seed, and a strategy can only differ by what it does with its extra
attempts: the comparison between strategies is paired, call by call, not left to chance.
Where the request falls on the timeline (``position``, a share of the run) decides which
incident applies; when incidents overlap, the first one listed in the profile wins.
"""

from __future__ import annotations

import dataclasses
import math
import random
from typing import Final

from aio_request.demo.profile import Incident, IncidentKind, Profile

STEADY: Final = "steady"
"""The name of the timeline window outside every incident."""

THROTTLE_STATUS: Final = 429
"""The status a throttle incident answers (with ``Retry-After``)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """One answer: its status, seconds before it is sent, ``Retry-After`` (or ``None``), window."""

    status: int
    latency: float
    retry_after: float | None
    window: str


class Timeline:
    """The windows of a run: ``steady`` and one per incident, with unique names.

    Names are the incident kinds, numbered when a kind repeats (``errors``, ``errors#2``).
    """

    __slots__ = ("_incidents", "names")

    def __init__(self, profile: Profile) -> None:
        names = [STEADY]
        for incident in profile.incidents:
            name = incident.label
            suffix = 2
            while name in names:
                name = f"{incident.label}#{suffix}"
                suffix += 1
            names.append(name)
        self.names: tuple[str, ...] = tuple(names)
        self._incidents = tuple(zip(self.names[1:], profile.incidents, strict=True))

    def at(self, position: float) -> tuple[str, Incident | None]:
        """The window name and incident at ``position`` (a share of the run; first listed wins)."""
        for name, incident in self._incidents:
            if incident.start <= position < incident.end:
                return name, incident
        return STEADY, None


class OutcomeDrawer:
    """Draws the outcome of each request of one service from ``profile`` and ``seed``."""

    __slots__ = ("_cumulative", "_profile", "_seed", "_timeline")

    def __init__(self, profile: Profile, seed: int) -> None:
        self._profile = profile
        self._timeline = Timeline(profile)
        self._seed = seed
        total = 0.0
        cumulative = []
        for bucket in profile.buckets:
            total += bucket.share
            cumulative.append(total)
        self._cumulative = tuple(cumulative)

    def _latency(self, u_bucket: float, u_within: float) -> float:
        buckets = self._profile.buckets
        index = next((i for i, edge in enumerate(self._cumulative) if u_bucket < edge), len(buckets) - 1)
        bucket = buckets[index]
        return bucket.lower_ms * math.pow(bucket.upper_ms / bucket.lower_ms, u_within) / 1000

    def draw(self, position: float, call: int, attempt: int) -> Outcome:
        """The outcome of ``attempt`` (1, 2, ...) of ``call``, arriving at ``position`` of the run."""
        rng = random.Random(f"{self._seed}:{call}:{attempt}")
        u_bucket, u_within, u_error, u_incident = rng.random(), rng.random(), rng.random(), rng.random()
        latency = self._latency(u_bucket, u_within)
        window, incident = self._timeline.at(position)
        if incident is not None:
            kind = incident.kind
            if kind is IncidentKind.OUTAGE or (kind is IncidentKind.ERRORS and u_incident < incident.rate):
                return Outcome(incident.status, 0.0, None, window)
            if kind is IncidentKind.THROTTLE and u_incident < incident.rate:
                return Outcome(THROTTLE_STATUS, 0.0, incident.retry_after_seconds, window)
            if kind is IncidentKind.SLOWDOWN:
                latency *= incident.factor
        if u_error < self._profile.error_rate:
            return Outcome(self._profile.error_status, 0.0, None, window)
        return Outcome(200, latency, None, window)
