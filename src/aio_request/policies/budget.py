"""Retry and hedge budgets: extra attempts in proportion to recent traffic, per endpoint.

Retries multiply load exactly when a service is least able to take it: with three attempts per
call, an outage triples the traffic of every caller. A budget caps the extra attempts to a
fraction of the calls made recently, as Finagle's ``RetryBudget`` and gRPC's retry throttling
do, so a healthy service still has its occasional failures retried while a failing one sees at
most ``1 + ratio`` times its normal load.

Which budget an attempt draws from is the attempt's kind, as its strategy decided
(:class:`~aio_request._core.outcomes.AttemptKind`): a *retry* (sent after a rejection, nothing
else in flight) is rationed by the retry budget; a *hedge* (sent alongside an attempt still
waiting) by the hedge budget. Each budget counts only its own kind: were hedges also charged to
the retry budget, a hedging client would lose the retries an error burst needs to its own
hedges, which do nothing against fast errors. The extra load is bounded by the sum of the two
budgets' bounds.

Each budget, per scope, works the same way:

* every call deposits one request; every admitted extra attempt withdraws one;
* deposits and withdrawals are kept over a rolling ``window_seconds`` (10 slots); an extra
  attempt is admitted from the proportional part while ``withdrawn < ratio * requests`` in the
  window (so the first call of a fresh client may retry: ``0 < 0.2``);
* beyond that, a floor keeps extra attempts possible for clients with little traffic: a token
  bucket refilled at the floor's rate (``min_retries_per_second``, ``min_hedges_per_second``)
  and holding at most ``max(1, rate)`` tokens (one second's worth, starting full). Unlike
  Finagle's reserve of ``min_per_second * window`` tokens, it cannot release a burst of a whole
  window's floor at the start of an outage.

So over any span of ``T`` seconds within a window, ``N`` calls are sent at most
``ceil(ratio * N) + rate * T + max(1, rate)`` extra attempts of a budget. For the retry budget
with its defaults and no time passing, that is exactly ``N + ceil(0.2 N) + 1`` requests in all
when every attempt fails (1 call: 3 requests; 6 calls: 9; 60 calls: 73). For the hedge budget
(5 %, floor 10/s holding 10) a cold or quiet client gets every hedge its strategy asks for —
the first call of a fresh client both hedges of ``attempts_count=3``, a client making four
calls a second, each hedged twice, all of them — while at volume the floor adds ``10/s`` to the
5 % (1 % of a thousand calls a second).

Scope, and why per endpoint: in this library every attempt of a call goes to the endpoint the
call started with, so the extra load of retries lands on that endpoint. A budget per endpoint
therefore protects each endpoint by its own traffic, and one dead replica cannot spend the
budget that the healthy ones need for their occasional failures. With one ``endpoint`` (the
usual ``setup(endpoint=...)``) per-endpoint and per-client are the same thing. The number of
scopes kept is bounded (:data:`MAX_SCOPES`; the oldest is forgotten first).

:class:`RetryBudget` and :class:`HedgeBudget` are immutable settings, safe as defaults and to
share; each client builds its own :class:`AttemptBudget` (the ledger) from them.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Final

from aio_request._core.clock import MONOTONIC_CLOCK, Clock
from aio_request._core.outcomes import AttemptKind, BudgetKind
from aio_request._core.validate import between, fraction, non_negative
from aio_request.events import DEFAULT_EVENT_HUB, BudgetExhausted, EventHub

_SLOTS: Final = 10
_EPSILON: Final = 1e-9
"""Tolerance of the proportional tests: ``0.2 * 15`` is ``3.0000000000000004`` in floats."""
MAX_SCOPES: Final = 1024
"""The most scopes (endpoints) one :class:`AttemptBudget` keeps a balance for."""


MIN_WINDOW_SECONDS: Final = 0.001
"""The shortest ``window_seconds`` a budget accepts."""

MAX_WINDOW_SECONDS: Final = 86_400.0
"""The longest ``window_seconds`` a budget accepts (a day)."""


@dataclasses.dataclass(frozen=True, slots=True)
class RetryBudget:
    """How many extra attempts (retries and hedges) a client may send per endpoint.

    ``ratio`` (0.2): extra attempts allowed per call over the last ``window_seconds`` (10 s),
    in ``[0, 1]``; ``min_retries_per_second`` (1.0): the floor for low traffic, >= 0.
    Invalid values raise ``ValueError`` naming the option.
    """

    ratio: float = 0.2
    min_retries_per_second: float = 1.0
    window_seconds: float = 10.0

    def __post_init__(self) -> None:
        fraction("ratio", self.ratio, low_inclusive=True, high_inclusive=True)
        non_negative("min_retries_per_second", self.min_retries_per_second)
        between("window_seconds", self.window_seconds, MIN_WINDOW_SECONDS, MAX_WINDOW_SECONDS)


@dataclasses.dataclass(frozen=True, slots=True)
class HedgeBudget:
    """How many hedged attempts a client may send per endpoint (Finagle's ``maxExtraLoad``).

    ``max_extra_load`` (0.05, in ``[0, 1]``): hedges allowed per call over the last
    ``window_seconds`` (10 s); ``min_hedges_per_second`` (10.0, >= 0): the floor beyond that, a
    token bucket of this rate holding one second's worth, so that a cold or quiet client hedges.
    """

    max_extra_load: float = 0.05
    min_hedges_per_second: float = 10.0
    window_seconds: float = 10.0

    def __post_init__(self) -> None:
        fraction("max_extra_load", self.max_extra_load, low_inclusive=True, high_inclusive=True)
        non_negative("min_hedges_per_second", self.min_hedges_per_second)
        between("window_seconds", self.window_seconds, MIN_WINDOW_SECONDS, MAX_WINDOW_SECONDS)


DEFAULT_RETRY_BUDGET: Final = RetryBudget()
"""The retry budget ``setup()`` uses: 20 % of calls over 10 s, plus 1 per second."""

DEFAULT_HEDGE_BUDGET: Final = HedgeBudget()
"""The hedge budget ``setup()`` uses: 5 % of calls over 10 s, plus 10 per second."""


class _Window:
    """Requests and extra attempts over a rolling window of :data:`_SLOTS` slots."""

    __slots__ = (
        "_extras",
        "_requests",
        "_slot",
        "_slot_duration",
        "_slot_ends",
        "extras_total",
        "requests_total",
    )

    def __init__(self, window_seconds: float, now: float) -> None:
        self._slot_duration = window_seconds / _SLOTS
        self._slot = math.floor(now / self._slot_duration)
        self._slot_ends = self._end_of(self._slot)
        self._requests = [0] * _SLOTS
        self._extras = [0] * _SLOTS
        self.requests_total = 0
        self.extras_total = 0

    def roll(self, now: float) -> int:
        """Forget the slots whose time is over; the index of the current slot."""
        slot = math.floor(now / self._slot_duration)
        passed = slot - self._slot
        if passed > 0:
            if passed >= _SLOTS:
                self._requests = [0] * _SLOTS
                self._extras = [0] * _SLOTS
                self.requests_total = self.extras_total = 0
            else:
                for step in range(1, passed + 1):
                    index = (self._slot + step) % _SLOTS
                    self.requests_total -= self._requests[index]
                    self.extras_total -= self._extras[index]
                    self._requests[index] = self._extras[index] = 0
            self._slot = slot
            self._slot_ends = self._end_of(slot)
        return slot % _SLOTS

    def _end_of(self, slot: int) -> float:
        # A hair early, so that any time before it is in ``slot`` by roll()'s own division too.
        return (slot + 1) * self._slot_duration * (1.0 - 1e-9)

    def add_request(self, now: float) -> None:
        # Every call counts one request: within the current slot, nothing needs rolling.
        index = self._slot % _SLOTS if now < self._slot_ends else self.roll(now)
        self._requests[index] += 1
        self.requests_total += 1

    def add_extra(self, now: float) -> None:
        index = self.roll(now)  # first: rolling a whole window replaces the lists
        self._extras[index] += 1
        self.extras_total += 1


class _Balance:
    """One budget of one scope: a proportion of the window's calls, then a token floor."""

    __slots__ = ("_capacity", "_floor_rate", "_ratio", "_tokens", "_tokens_at", "window")

    def __init__(self, *, ratio: float, floor_rate: float, window_seconds: float, now: float) -> None:
        self._ratio = ratio
        self._floor_rate = floor_rate
        self._capacity = max(1.0, floor_rate) if floor_rate > 0 else 0.0
        self._tokens = self._capacity
        self._tokens_at = now
        self.window = _Window(window_seconds, now)

    def _proportion_allows(self, now: float) -> bool:
        window = self.window
        window.roll(now)
        return window.extras_total < self._ratio * window.requests_total - _EPSILON

    def _refill(self, now: float) -> None:
        if self._capacity:
            elapsed = now - self._tokens_at
            if elapsed > 0:
                self._tokens = min(self._capacity, self._tokens + elapsed * self._floor_rate)
            self._tokens_at = now

    def available(self, now: float) -> bool:
        if self._proportion_allows(now):
            return True
        self._refill(now)
        return self._tokens >= 1.0

    def withdraw(self, now: float) -> None:
        """Take one extra attempt; call only right after :meth:`available` returned True."""
        if self._proportion_allows(now):
            self.window.add_extra(now)
        else:
            self._refill(now)
            self._tokens -= 1.0


class _ScopeBalances:
    __slots__ = ("hedge", "retry")

    def __init__(self, retry: _Balance | None, hedge: _Balance | None) -> None:
        self.retry = retry
        self.hedge = hedge


class AttemptBudget:
    """One client's ledger of extra attempts, per scope (endpoint URL string).

    ``retry`` rations retries, ``hedge`` rations hedges; ``None`` turns that budget off. A
    refusal is announced as a :class:`~aio_request.events.BudgetExhausted` event on
    ``event_hub``.

    >>> budget = AttemptBudget(retry=RetryBudget(ratio=0.5, min_retries_per_second=0))
    >>> budget.record_request("http://a/"); budget.record_request("http://a/")
    >>> from aio_request._core.outcomes import AttemptKind
    >>> budget.admit("http://a/", AttemptKind.RETRY), budget.admit("http://a/", AttemptKind.RETRY)
    (True, False)
    """

    __slots__ = ("_clock", "_event_hub", "_hedge", "_retry", "_scopes")

    def __init__(
        self,
        *,
        retry: RetryBudget | None = DEFAULT_RETRY_BUDGET,
        hedge: HedgeBudget | None = DEFAULT_HEDGE_BUDGET,
        clock: Clock = MONOTONIC_CLOCK,
        event_hub: EventHub = DEFAULT_EVENT_HUB,
    ) -> None:
        self._retry = retry
        self._hedge = hedge
        self._clock = clock
        self._event_hub = event_hub
        self._scopes: dict[str, _ScopeBalances] = {}

    @property
    def retry(self) -> RetryBudget | None:
        """The retry budget settings (``None``: extra attempts are not rationed by it)."""
        return self._retry

    @property
    def hedge(self) -> HedgeBudget | None:
        """The hedge budget settings (``None``: hedges are not rationed by it)."""
        return self._hedge

    def _balances(self, scope: str, now: float) -> _ScopeBalances:
        balances = self._scopes.get(scope)
        if balances is None:
            retry, hedge = self._retry, self._hedge
            balances = _ScopeBalances(
                None
                if retry is None
                else _Balance(
                    ratio=retry.ratio,
                    floor_rate=retry.min_retries_per_second,
                    window_seconds=retry.window_seconds,
                    now=now,
                ),
                None
                if hedge is None
                else _Balance(
                    ratio=hedge.max_extra_load,
                    floor_rate=hedge.min_hedges_per_second,
                    window_seconds=hedge.window_seconds,
                    now=now,
                ),
            )
            if len(self._scopes) >= MAX_SCOPES:
                del self._scopes[next(iter(self._scopes))]
            self._scopes[scope] = balances
        return balances

    def record_request(self, scope: str) -> None:
        """Count one call to ``scope`` (made once per call, before its first attempt)."""
        if self._retry is None and self._hedge is None:
            return
        now = self._clock.now()
        balances = self._scopes.get(scope) or self._balances(scope, now)
        if balances.retry is not None:
            balances.retry.window.add_request(now)
        if balances.hedge is not None:
            balances.hedge.window.add_request(now)

    def admit(self, scope: str, kind: AttemptKind) -> bool:
        """Whether one more attempt of ``kind`` may go to ``scope`` now (and account for it if so).

        A ``RETRY`` is rationed by the retry budget, a ``HEDGE`` by the hedge budget; ``FIRST``
        attempts are never rationed.
        """
        if kind is AttemptKind.FIRST or (self._retry is None and self._hedge is None):
            return True
        now = self._clock.now()
        balances = self._balances(scope, now)
        if kind is AttemptKind.HEDGE:
            balance, budget = balances.hedge, BudgetKind.HEDGE
        else:
            balance, budget = balances.retry, BudgetKind.RETRY
        if balance is None:
            return True
        if not balance.available(now):
            self._refused(scope, kind, budget)
            return False
        balance.withdraw(now)
        return True

    def _refused(self, scope: str, kind: AttemptKind, budget: BudgetKind) -> None:
        hub = self._event_hub
        if hub.active:
            hub.emit(BudgetExhausted(scope=scope, kind=kind, budget=budget))
