"""Retry and hedge budgets: extra attempts in proportion to recent traffic, per endpoint.

Retries multiply load exactly when a service is least able to take it: with three attempts per
call, an outage triples the traffic of every caller. A budget caps the extra attempts to a
fraction of the calls made recently, as Finagle's ``RetryBudget`` and gRPC's retry throttling
do, so a healthy service still has its occasional failures retried while a failing one sees at
most ``1 + ratio`` times its normal load.

How the balance works, per scope:

* every call deposits one request; every admitted extra attempt withdraws one;
* deposits and withdrawals are kept over a rolling ``window_seconds`` (10 slots), so an extra
  attempt is admitted while ``extras_in_window < ratio * requests_in_window``;
* beyond that, a small floor keeps retries possible for clients with little traffic: a token
  bucket refilled at ``min_per_second`` tokens per second and holding at most
  ``max(1, min_per_second)`` tokens (one second's worth, starting full). Unlike Finagle's
  reserve of ``min_per_second * window`` tokens, it cannot release a burst of a whole window's
  floor at the start of an outage.

So over any span of ``T`` seconds a scope sends at most ``ratio * calls + min_per_second * T + 1``
extra attempts.

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
from aio_request._core.validate import between, fraction, non_negative
from aio_request.events import DEFAULT_EVENT_HUB, BudgetExhausted, EventHub

_SLOTS: Final = 10
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

    ``max_extra_load`` (0.05): hedges allowed per call over the last ``window_seconds`` (10 s),
    in ``[0, 1]``; ``min_hedges_per_second`` (0): a floor for low traffic, >= 0. With the default
    no floor, hedging can never add more than 5 % load, whatever the delays provider decides.
    Hedges also draw from the :class:`RetryBudget` when one is set.
    """

    max_extra_load: float = 0.05
    min_hedges_per_second: float = 0.0
    window_seconds: float = 10.0

    def __post_init__(self) -> None:
        fraction("max_extra_load", self.max_extra_load, low_inclusive=True, high_inclusive=True)
        non_negative("min_hedges_per_second", self.min_hedges_per_second)
        between("window_seconds", self.window_seconds, MIN_WINDOW_SECONDS, MAX_WINDOW_SECONDS)


DEFAULT_RETRY_BUDGET: Final = RetryBudget()
"""The retry budget ``setup()`` uses: 20 % of calls over 10 s, plus 1 per second."""

DEFAULT_HEDGE_BUDGET: Final = HedgeBudget()
"""The hedge budget ``setup()`` uses: 5 % of calls over 10 s."""


class _Balance:
    """The rolling balance of one scope for one budget (see the module docstring)."""

    __slots__ = (
        "_capacity",
        "_extras",
        "_extras_total",
        "_floor_rate",
        "_index",
        "_ratio",
        "_requests",
        "_requests_total",
        "_slot",
        "_slot_duration",
        "_slot_end",
        "_slot_start",
        "_tokens",
        "_tokens_at",
    )

    def __init__(self, *, ratio: float, floor_rate: float, window_seconds: float, now: float) -> None:
        self._ratio = ratio
        self._floor_rate = floor_rate
        self._capacity = max(1.0, floor_rate) if floor_rate > 0 else 0.0
        self._tokens = self._capacity
        self._tokens_at = now
        self._slot_duration = window_seconds / _SLOTS
        self._slot = math.floor(now / self._slot_duration)
        self._index = 0
        self._slot_start = self._slot_end = math.inf  # set by the first roll
        self._requests = [0] * _SLOTS
        self._extras = [0] * _SLOTS
        self._requests_total = 0
        self._extras_total = 0

    def _roll(self, now: float) -> int:
        slot = math.floor(now / self._slot_duration)
        passed = slot - self._slot
        if passed > 0:
            if passed >= _SLOTS:
                self._requests = [0] * _SLOTS
                self._extras = [0] * _SLOTS
                self._requests_total = self._extras_total = 0
            else:
                for step in range(1, passed + 1):
                    index = (self._slot + step) % _SLOTS
                    self._requests_total -= self._requests[index]
                    self._extras_total -= self._extras[index]
                    self._requests[index] = self._extras[index] = 0
            self._slot = slot
        self._index = slot % _SLOTS
        self._slot_start = slot * self._slot_duration
        self._slot_end = self._slot_start + self._slot_duration
        return self._index

    def deposit(self, now: float) -> None:
        # Within the slot of the last roll (most calls) there is nothing to roll.
        index = self._index if self._slot_start <= now < self._slot_end else self._roll(now)
        self._requests[index] += 1
        self._requests_total += 1

    def _refill(self, now: float) -> None:
        if self._capacity:
            elapsed = now - self._tokens_at
            if elapsed > 0:
                self._tokens = min(self._capacity, self._tokens + elapsed * self._floor_rate)
            self._tokens_at = now

    def available(self, now: float) -> bool:
        self._roll(now)
        if self._extras_total < self._ratio * self._requests_total:
            return True
        self._refill(now)
        return self._tokens >= 1.0

    def withdraw(self, now: float) -> None:
        """Take one extra attempt; call only right after :meth:`available` returned True."""
        index = self._roll(now)
        if self._extras_total < self._ratio * self._requests_total:
            self._extras[index] += 1
            self._extras_total += 1
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

    ``retry`` rations every extra attempt (retries and hedges), ``hedge`` additionally rations
    hedges; ``None`` turns that budget off. A refusal is announced as a
    :class:`~aio_request.events.BudgetExhausted` event on ``event_hub``.

    >>> budget = AttemptBudget(retry=RetryBudget(ratio=0.5, min_retries_per_second=0))
    >>> budget.record_request("http://a/"); budget.record_request("http://a/")
    >>> budget.admit("http://a/", hedge=False), budget.admit("http://a/", hedge=False)
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
        balances = self._balances(scope, now)
        if balances.retry is not None:
            balances.retry.deposit(now)
        if balances.hedge is not None:
            balances.hedge.deposit(now)

    def admit(self, scope: str, *, hedge: bool) -> bool:
        """Whether one more attempt (a hedge if ``hedge``, else a retry) may go to ``scope`` now.

        When admitted, the attempt is withdrawn from every budget it draws from.
        """
        if self._retry is None and (self._hedge is None or not hedge):
            return True
        now = self._clock.now()
        balances = self._balances(scope, now)
        hedge_balance = balances.hedge if hedge else None
        if hedge_balance is not None and not hedge_balance.available(now):
            self._refused(scope, hedge, "hedge")
            return False
        retry_balance = balances.retry
        if retry_balance is not None and not retry_balance.available(now):
            self._refused(scope, hedge, "retry")
            return False
        if hedge_balance is not None:
            hedge_balance.withdraw(now)
        if retry_balance is not None:
            retry_balance.withdraw(now)
        return True

    def _refused(self, scope: str, hedge: bool, budget: str) -> None:
        hub = self._event_hub
        if hub.active:
            hub.emit(BudgetExhausted(scope=scope, kind="hedge" if hedge else "retry", budget=budget))
