"""The outcome vocabulary: how an attempt ended, why it was sent, what was decided about it.

One low module that every layer may import, so the classifier, the strategies, the budgets,
the circuit breakers and the telemetry events speak of outcomes with the same names:

* status constants for the synthetic responses and the telemetry of calls that gave none;
* :class:`FailureKind` — the local cause kept on a synthetic response;
* :class:`AttemptKind` — why an attempt was sent (decided by the strategy that sends it);
* :class:`ResponseVerdict` — the classifier's decision;
* :class:`CircuitState` — where a circuit stands;
* :class:`BudgetKind` — which extra-attempt budget refused an attempt;
* :class:`ReplicaOutcome` and :class:`EjectionReason` — how a balancer counted an attempt to a
  replica, and why it stopped sending to one;
* :class:`ShedReason` — why a server's overload protection answered without running a handler.

Every enum is a :class:`enum.StrEnum`: members compare equal to, and format as, their value
(``AttemptKind.HEDGE == "hedge"``), so telemetry labels and logs need no conversion.
"""

from __future__ import annotations

import enum
from typing import Final

NETWORK_ERROR_STATUS: Final = 489
"""The synthetic status of a connection that failed (refused, reset, invalid HTTP)."""

TOO_MANY_REDIRECTS_STATUS: Final = 488
"""The synthetic status of a request that exceeded ``max_redirects``."""

TIMEOUT_STATUS: Final = 408
"""The status of an attempt that ran out of time (synthetic when ``failure`` is set)."""

CIRCUIT_OPEN_STATUS: Final = 502
"""The status of the circuit breaker's fallback (no request was sent)."""

CANCELLED_STATUS: Final = 499
"""The status telemetry records for a call or an attempt that was cancelled."""

ERROR_STATUS: Final = 0
"""The status telemetry records for a call or an attempt that raised instead of answering."""


class FailureKind(enum.StrEnum):
    """What went wrong locally when a response was synthesised instead of received."""

    CONNECT = "connect"
    """The connection could not be established (refused, unreachable, DNS)."""
    RESET = "reset"
    """The connection broke while the request or response was in flight."""
    PROTOCOL = "protocol"
    """The peer spoke invalid HTTP (bad status line, bad chunked encoding, truncated body)."""
    TIMEOUT = "timeout"
    """The attempt's own deadline ran out before the response was complete."""
    TOO_MANY_REDIRECTS = "too_many_redirects"
    """Redirects exceeded ``max_redirects``."""
    INVALID_REDIRECT = "invalid_redirect"
    """A redirect's ``Location`` cannot be followed (not http(s), no host, a bad port, ...)."""
    RESPONSE_TOO_LARGE = "response_too_large"
    """The (decoded) body to buffer exceeded the response size limit."""
    DEADLINE = "deadline"
    """No request was sent: the deadline was already spent (low-timeout guard)."""
    CIRCUIT_OPEN = "circuit_open"
    """No request was sent: the circuit breaker refused it."""

    @property
    def sent_nothing(self) -> bool:
        """Whether no request reached the network (the deadline guard, the circuit breaker)."""
        return self is FailureKind.DEADLINE or self is FailureKind.CIRCUIT_OPEN


class AttemptKind(enum.StrEnum):
    """Why an attempt is sent; the strategy that starts it decides.

    * ``FIRST``: the first attempt of a call;
    * ``RETRY``: started after a rejected response, with no other attempt of the call in
      flight — rationed by the retry budget;
    * ``HEDGE``: started while another attempt of the call is still waiting for its response —
      rationed by the hedge budget.
    """

    FIRST = "first"
    RETRY = "retry"
    HEDGE = "hedge"


class ResponseVerdict(enum.StrEnum):
    """ACCEPT: return this response. REJECT: try again if the strategy allows."""

    ACCEPT = "accept"
    REJECT = "reject"


class CircuitState(enum.StrEnum):
    """Where a circuit stands.

    * ``CLOSED``: calls run and their results are counted;
    * ``OPEN``: calls return the fallback without running;
    * ``HALF_OPEN``: only some calls run (the default breaker's single probe, or the share the
      adaptive throttle lets through); the others get the fallback.
    """

    OPEN = "open"
    HALF_OPEN = "half_open"
    CLOSED = "closed"


class BudgetKind(enum.StrEnum):
    """Which budget refused an extra attempt."""

    RETRY = "retry"
    HEDGE = "hedge"


class ReplicaOutcome(enum.StrEnum):
    """How an attempt to a replica counts for the replica's health (see
    :func:`aio_request.balancing.outliers.classify_outcome`)."""

    SUCCESS = "success"
    FAILURE = "failure"
    OVERLOAD = "overload"
    NEUTRAL = "neutral"
    CANCELLED = "cancelled"


class EjectionReason(enum.StrEnum):
    """Why a balancer stopped sending attempts to a replica for a while.

    * ``FAILURES``: consecutive failures (outlier ejection);
    * ``UNANSWERED``: consecutive attempts cancelled before any response (outlier ejection);
    * ``FAILURE_BACKOFF``: a failure short of ejection (a second per failure in a row);
    * ``CIRCUIT_OPEN``: its circuit breaker answered with the local fallback;
    * ``RETRY_AFTER``: it answered a 429 or a shed 503 with ``Retry-After``.
    """

    FAILURES = "failures"
    UNANSWERED = "unanswered"
    FAILURE_BACKOFF = "failure_backoff"
    CIRCUIT_OPEN = "circuit_open"
    RETRY_AFTER = "retry_after"


class ShedReason(enum.StrEnum):
    """Why a request was answered without running."""

    QUEUE_FULL = "queue_full"
    QUEUE_TIMEOUT = "queue_timeout"
    DEADLINE = "deadline"
