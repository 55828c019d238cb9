"""Outlier detection: what an attempt's response says about its replica, and when to eject it.

An attempt's :class:`Outcome`:

* ``FAILURE``: a 5xx other than a shed 503 (a 503 with ``Retry-After``), a connection failure
  (the synthetic 489: refused, reset, invalid HTTP) or the attempt's own timeout. It keeps the
  replica out of picks for ``failure_backoff_seconds`` times its consecutive failures (1 s,
  2 s, ...), so a replica that fails fast does not attract attempts meanwhile;
* ``OVERLOAD``: a 429 or a shed 503. Not a failure (the replica is healthy, just busy): it adds
  a latency penalty, and its ``Retry-After`` keeps the replica out of picks that long (capped);
* ``NEUTRAL``: nothing was learnt about the replica (nothing sent: the low-timeout guard or the
  circuit breaker answered; or a server-sent 408);
* ``SUCCESS``: any other response.

``consecutive_failures`` failures in a row eject a replica for ``base_ejection_seconds * times
ejected`` (capped at ``max_ejection_seconds``), as Envoy and gRPC (A50) do; a success resets
the count. So do ``consecutive_unanswered`` attempts in a row cancelled before any response
(hedge races lost, callers that gave up) with no response in between: a replica that accepts
connections and never answers is otherwise only ever seen losing races, never failing.
At most ``max_ejected_fraction`` of the replicas (rounded down) are ejected at once,
so 10 % ejects nothing in a fleet of five.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from aio_request._core.errors import FailureKind
from aio_request._core.outcomes import ReplicaOutcome
from aio_request._core.validate import at_least, fraction, non_negative, positive
from aio_request.http.headers import Header
from aio_request.http.response import Response

NETWORK_ERROR_STATUS: Final = 489
"""The transports' synthetic status for a connection failure."""


Outcome = ReplicaOutcome
"""How an attempt counts for its replica's health (the outcome vocabulary's
:class:`~aio_request._core.outcomes.ReplicaOutcome`)."""


_NOTHING_SENT: Final = frozenset({FailureKind.DEADLINE, FailureKind.CIRCUIT_OPEN})


def classify_outcome(response: Response) -> Outcome:
    """The :class:`Outcome` of an attempt that produced ``response`` (see the module docs)."""
    status = response.status
    failure = response.failure
    if failure is not None:
        if failure.kind in _NOTHING_SENT:
            return Outcome.NEUTRAL
        if failure.kind is FailureKind.TOO_MANY_REDIRECTS:
            return Outcome.SUCCESS
        return Outcome.FAILURE
    if status == 429:
        return Outcome.OVERLOAD
    if status == 503 and Header.RETRY_AFTER in response.headers:
        return Outcome.OVERLOAD
    if status >= 500 or status == NETWORK_ERROR_STATUS:
        return Outcome.FAILURE
    if status == 408:
        return Outcome.NEUTRAL
    return Outcome.SUCCESS


@dataclasses.dataclass(frozen=True, slots=True)
class OutlierDetection:
    """When replicas are ejected, and how overload answers are counted (see the module docs).

    | option | default |
    |---|---|
    | ``consecutive_failures`` | 5 |
    | ``consecutive_unanswered`` | 10: attempts cancelled before a response, in a row |
    | ``failure_backoff_seconds`` | 1.0: out of picks this * consecutive failures after each one |
    | ``base_ejection_seconds`` | 30.0 |
    | ``max_ejection_seconds`` | 300.0 |
    | ``max_ejected_fraction`` | 0.5 |
    | ``penalty_seconds`` | 1.0: the least latency a 429 or a shed 503 counts as |
    | ``max_retry_after_seconds`` | 30.0: the longest ``Retry-After`` honoured per replica |

    Invalid values raise ``ValueError`` naming the option.
    """

    consecutive_failures: int = 5
    consecutive_unanswered: int = 10
    failure_backoff_seconds: float = 1.0
    base_ejection_seconds: float = 30.0
    max_ejection_seconds: float = 300.0
    max_ejected_fraction: float = 0.5
    penalty_seconds: float = 1.0
    max_retry_after_seconds: float = 30.0

    def __post_init__(self) -> None:
        at_least("consecutive_failures", self.consecutive_failures, 1)
        at_least("consecutive_unanswered", self.consecutive_unanswered, 1)
        positive("base_ejection_seconds", self.base_ejection_seconds)
        positive("max_ejection_seconds", self.max_ejection_seconds)
        fraction("max_ejected_fraction", self.max_ejected_fraction, low_inclusive=True, high_inclusive=True)
        non_negative("penalty_seconds", self.penalty_seconds)
        non_negative("failure_backoff_seconds", self.failure_backoff_seconds)
        non_negative("max_retry_after_seconds", self.max_retry_after_seconds)
        if self.max_ejection_seconds < self.base_ejection_seconds:
            raise ValueError(
                "max_ejection_seconds must be >= base_ejection_seconds, "
                f"got {self.max_ejection_seconds!r} < {self.base_ejection_seconds!r}"
            )

    def ejection_seconds(self, times_ejected: int) -> float:
        """How long the ``times_ejected``-th ejection in a row lasts."""
        return min(self.base_ejection_seconds * times_ejected, self.max_ejection_seconds)


DEFAULT_OUTLIER_DETECTION: Final = OutlierDetection()
"""The outlier detection of a balanced provider unless another (or ``None``) is given."""
