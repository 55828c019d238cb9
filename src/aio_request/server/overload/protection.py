"""``OverloadProtection``: the adaptive limit, the priority partitions, the queue and admission.

What happens to a request (see docs/server-overload.md):

1. its path is exempt (health checks): it runs, uncounted;
2. it has less time left than its route's typical service time: ``408`` + ``X-Do-Not-Retry``;
3. the partitions let it start (:mod:`~aio_request.server.overload.partitions`): it runs;
4. else it waits in the queue (:mod:`~aio_request.server.overload.queue`), HIGH first and
   newest first, as long as the CoDel bound of its priority allows (each priority has its own,
   so a standing queue of LOW requests does not cut the waits of NORMAL ones; HIGH waits are
   never cut below the interval); a full queue or a wait that ran out is
   answered ``503`` with ``Retry-After`` and ``X-Request-Shed`` (not processed, safe to retry);
5. when a handler finishes, the limit learns its latency and the freed slot goes to the best
   waiter (a waiter whose deadline became too short meanwhile gets its ``408``).

The state is a few counters mutated from the event loop's thread only; nothing here locks.
Time is read through the injected clock; the only timer (a waiter's bound) is the event loop's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Final, TypeVar

from aio_request._core.clock import MONOTONIC_CLOCK, Clock
from aio_request._core.outcomes import ShedReason
from aio_request._core.validate import at_least, positive
from aio_request.events import (
    DEFAULT_EVENT_HUB,
    EventHub,
    OverloadAdmitted,
    OverloadLimitChanged,
    OverloadReleased,
    OverloadShed,
    deliver,
)
from aio_request.http.headers import Header
from aio_request.http.priority import Priority
from aio_request.server.overload.admission import ServiceTimes
from aio_request.server.overload.limits import ConcurrencyLimit, VegasLimit
from aio_request.server.overload.partitions import PriorityPartitions
from aio_request.server.overload.queue import CoDelBound, PriorityLifoQueue, Waiter

__all__ = ["OverloadProtection", "Permit", "Refusal", "ShedReason"]

_R = TypeVar("_R")
RouteOf = Callable[[], str]
"""Gives the route template of the request when asked (it may cost something to find)."""

SHED_STATUS: Final = 503
DEADLINE_STATUS: Final = 408


class Refusal:
    """The answer to a request that does not run: ``status`` and ``headers`` to send."""

    __slots__ = ("headers", "reason", "status")

    def __init__(self, reason: ShedReason, retry_after: int) -> None:
        self.reason = reason
        if reason is ShedReason.DEADLINE:
            self.status = DEADLINE_STATUS
            self.headers: tuple[tuple[str, str], ...] = ((str(Header.X_DO_NOT_RETRY), "1"),)
        else:
            self.status = SHED_STATUS
            self.headers = (
                (str(Header.RETRY_AFTER), str(retry_after)),
                (str(Header.X_REQUEST_SHED), reason.value),
            )

    def __repr__(self) -> str:
        return f"Refusal({self.reason.value!r}, status={self.status})"


class _Pending:
    __slots__ = ("deadline_at", "future", "route_of")

    def __init__(
        self, future: asyncio.Future[Permit | Refusal], route_of: RouteOf, deadline_at: float
    ) -> None:
        self.future = future
        self.route_of = route_of
        self.deadline_at = deadline_at


class Permit:
    """A running request's slot; :meth:`release` it exactly once when the handler is done."""

    __slots__ = ("_deadline_at", "_in_flight", "_owner", "_released", "_route_of", "_started_at", "priority")

    def __init__(
        self,
        owner: OverloadProtection,
        priority: Priority,
        route_of: RouteOf,
        started_at: float,
        in_flight: int,
        deadline_at: float,
    ) -> None:
        self._owner = owner
        self.priority = priority
        self._route_of = route_of
        self._started_at = started_at
        self._in_flight = in_flight
        self._deadline_at = deadline_at
        self._released = False

    def release(self, *, cancelled: bool = False, dropped: bool = False, completed: bool = True) -> None:
        """Give the slot back. ``cancelled``: the handler's latency is unknown (not learnt);
        ``dropped``: it failed from overload (a deadline); ``completed``: it finished normally
        (its latency counts for its route's typical service time). A handler that finished at
        or after the request's deadline (a ``cancel_on_timeout`` 408 included) is dropped, not
        completed. Later calls do nothing."""
        if self._released:
            return
        self._released = True
        self._owner._release(self, cancelled=cancelled, dropped=dropped, completed=completed)


class OverloadProtection:
    """Keeps a server within its capacity: adaptive limit, priority partitions, queue, admission.

    >>> protection = OverloadProtection()        # every default below
    >>> protection.limit
    20

    Options (validated; ``ValueError`` names a bad one):

    * ``limit`` (:class:`~aio_request.server.overload.limits.VegasLimit` ``()``: initial 20,
      max 1000): the :class:`ConcurrencyLimit`; ``Gradient2Limit``, ``AimdLimit`` and
      ``FixedLimit`` are the alternatives. One protection instance owns its limit.
    * ``partitions`` (``PriorityPartitions()``: HIGH 100 %, NORMAL 90 %, LOW 50 %).
    * ``max_queue_size`` (100): requests that may wait for a slot.
    * ``queue_target`` (0.005 s) and ``queue_interval`` (0.1 s): the CoDel bound on waiting,
      kept per priority (HIGH waits up to ``queue_interval`` always).
    * ``deadline_admission`` (on): refuse a request with less time left than its route's
      typical service time; ``service_times`` (``ServiceTimes()``) learns those.
    * ``exempt_paths`` (none): request paths (exact, e.g. ``"/health"``) that are never
      limited, queued or counted.
    * ``retry_after`` (1): the ``Retry-After`` seconds of a shed ``503``, for clients that do
      not know ``X-Request-Shed`` (aio_request clients retry a shed request at once).
    * ``name`` (``"default"``): the ``protection`` label of its events.
    * ``event_hub`` (``DEFAULT_EVENT_HUB``) and ``clock`` (monotonic).

    Share one instance between the middlewares of one process (aiohttp and ASGI alike); it is
    not thread-safe: use it from one event loop.
    """

    __slots__ = (
        "_by_priority",
        "_clock",
        "_codel",
        "_deadline_admission",
        "_exempt",
        "_hub",
        "_last_limit",
        "_limit",
        "_name",
        "_partitions",
        "_queue",
        "_refusals",
        "_service_times",
        "_total",
    )

    def __init__(
        self,
        *,
        limit: ConcurrencyLimit | None = None,
        partitions: PriorityPartitions | None = None,
        max_queue_size: int = 100,
        queue_target: float = 0.005,
        queue_interval: float = 0.1,
        deadline_admission: bool = True,
        service_times: ServiceTimes | None = None,
        exempt_paths: Collection[str] = (),
        retry_after: int = 1,
        name: str = "default",
        event_hub: EventHub = DEFAULT_EVENT_HUB,
        clock: Clock = MONOTONIC_CLOCK,
    ) -> None:
        if limit is not None and not isinstance(limit, ConcurrencyLimit):
            raise ValueError(f"limit must be a ConcurrencyLimit, got {limit!r}")
        if partitions is not None and not isinstance(partitions, PriorityPartitions):
            raise ValueError(f"partitions must be a PriorityPartitions, got {partitions!r}")
        if not isinstance(deadline_admission, bool):
            raise ValueError(f"deadline_admission must be a bool, got {deadline_admission!r}")
        if isinstance(exempt_paths, str) or not all(
            isinstance(path, str) and path.startswith("/") for path in exempt_paths
        ):
            raise ValueError(
                f"exempt_paths must be a collection of paths starting with '/', got {exempt_paths!r}"
            )
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty str, got {name!r}")
        if not isinstance(event_hub, EventHub):
            raise ValueError(f"event_hub must be an EventHub, got {event_hub!r}")
        self._limit = limit if limit is not None else VegasLimit()
        self._partitions = partitions if partitions is not None else PriorityPartitions()
        self._queue: PriorityLifoQueue[_Pending] = PriorityLifoQueue(
            at_least("max_queue_size", max_queue_size, 1)
        )
        positive("queue_target", queue_target)
        if not positive("queue_interval", queue_interval) >= queue_target:
            raise ValueError(
                f"queue_interval must be >= queue_target ({queue_target!r}), got {queue_interval!r}"
            )
        # HIGH waits are never cut to the target: HIGH is served first, so a HIGH waiter waits
        # only for the next freed slot (unless HIGH alone exceeds the capacity), and cutting
        # that wait would shed the very requests the partitions protect.
        self._codel = {
            priority: CoDelBound(
                target=queue_interval if priority is Priority.HIGH else queue_target, interval=queue_interval
            )
            for priority in Priority
        }
        self._deadline_admission = deadline_admission
        self._service_times = service_times if service_times is not None else ServiceTimes()
        self._exempt = frozenset(exempt_paths)
        retry = at_least("retry_after", retry_after, 0)
        self._refusals = {reason: Refusal(reason, retry) for reason in ShedReason}
        self._name = name
        self._hub = event_hub
        self._clock = clock
        self._total = 0
        self._by_priority = dict.fromkeys(Priority, 0)
        self._last_limit = self._limit.limit
        event_hub.load_auto_listeners()
        handlers = event_hub.listeners_by_type.get(OverloadLimitChanged)
        if handlers:
            deliver(handlers, OverloadLimitChanged(name, self._last_limit, 0))

    @property
    def limit(self) -> int:
        """The current concurrency limit."""
        return self._limit.limit

    @property
    def in_flight(self) -> int:
        """Requests running now (exempt ones are not counted)."""
        return self._total

    @property
    def in_flight_by_priority(self) -> Mapping[Priority, int]:
        """Requests running now, by priority (a copy)."""
        return dict(self._by_priority)

    @property
    def queued(self) -> int:
        """Requests waiting for a slot now."""
        return len(self._queue)

    @property
    def service_times(self) -> ServiceTimes:
        """The typical service times learnt per route."""
        return self._service_times

    def max_wait(self, priority: Priority) -> float:
        """How long a request of ``priority`` that had to wait now would be allowed to wait."""
        return self._codel[priority].max_wait(self._clock.now())

    def is_exempt(self, path: str) -> bool:
        """Whether requests to ``path`` bypass the protection."""
        return path in self._exempt

    async def run(
        self,
        call: Callable[[], Awaitable[_R]],
        refuse: Callable[[Refusal], Awaitable[_R]],
        *,
        path: str,
        route_of: RouteOf,
        priority: Priority,
        remaining: float,
    ) -> _R:
        """The middlewares' hook: ``await call()`` under a permit, else ``await refuse(refusal)``.

        ``remaining`` is the seconds left of the request's deadline. A ``TimeoutError`` out of
        ``call`` counts as dropped (the limit shrinks); a cancelled ``call`` teaches nothing.
        """
        if path in self._exempt:
            return await call()
        permit: Permit | Refusal
        if (
            not self._queue
            and self._total < self._limit.limit
            and not (self._deadline_admission and remaining < self._service_times.longest_bound())
        ):
            # The common case, inlined from acquire(): nobody waits, a slot is free, and no
            # route is slow enough for the deadline to matter.
            now = self._clock.now()
            self._codel[priority].empty(now)
            permit = self._start(priority, route_of, now, 0.0, now + remaining)
        else:
            permit = await self.acquire(priority=priority, remaining=remaining, route_of=route_of)
            if isinstance(permit, Refusal):
                return await refuse(permit)
        try:
            result = await call()
        except asyncio.CancelledError:
            permit.release(cancelled=True, completed=False)
            raise
        except TimeoutError:
            permit.release(dropped=True, completed=False)
            raise
        except BaseException:
            permit.release(completed=False)
            raise
        permit.release()
        return result

    async def acquire(self, *, priority: Priority, remaining: float, route_of: RouteOf) -> Permit | Refusal:
        """A permit to run now or after a wait in the queue, else the refusal to answer."""
        clock = self._clock
        now = clock.now()
        if (
            self._deadline_admission
            and remaining < self._service_times.longest_bound()
            and self._service_times.too_late(route_of(), remaining)
        ):
            return self._refuse(ShedReason.DEADLINE, route_of, priority)
        queue = self._queue
        codel = self._codel[priority]
        if not queue.has(priority):
            codel.empty(now)
        if self._partitions.may_start(
            priority, in_flight=self._total, limit=self._limit.limit, contended=bool(queue)
        ):
            return self._start(priority, route_of, now, 0.0, now + remaining)
        # A future, not a task: the waiter is woken by whoever frees a slot.
        future: asyncio.Future[Permit | Refusal] = asyncio.get_running_loop().create_future()  # noqa: TID251
        max_wait = self.max_wait(priority)
        waiter = Waiter(priority, now, now + max_wait, _Pending(future, route_of, now + remaining))
        queued, evicted = queue.push(waiter)
        if evicted is not None:
            self._resolve(
                evicted, self._refuse(ShedReason.QUEUE_FULL, evicted.payload.route_of, evicted.priority)
            )
        if not queued:
            return self._refuse(ShedReason.QUEUE_FULL, route_of, priority)
        try:
            async with asyncio.timeout(max_wait):
                return await future
        except TimeoutError:
            if future.done() and not future.cancelled():
                return future.result()  # a slot came in the same instant as the timeout
            self._queue.remove(waiter)
            later = clock.now()
            codel.timed_out(later)
            if not self._queue.has(priority):
                codel.empty(later)
            return self._refuse(ShedReason.QUEUE_TIMEOUT, route_of, priority)
        except asyncio.CancelledError:
            removed = self._queue.remove(waiter)
            if removed and not self._queue.has(priority):
                codel.empty(clock.now())
            if not removed and future.done() and not future.cancelled():
                granted = future.result()
                if isinstance(granted, Permit):
                    granted.release(cancelled=True, completed=False)
            raise

    @staticmethod
    def _resolve(waiter: Waiter[_Pending], outcome: Permit | Refusal) -> None:
        future = waiter.payload.future
        if not future.done():
            future.set_result(outcome)
        elif isinstance(outcome, Permit):
            outcome.release(cancelled=True, completed=False)

    def _start(
        self, priority: Priority, route_of: RouteOf, now: float, waited: float, deadline_at: float
    ) -> Permit:
        self._total += 1
        in_flight = self._by_priority[priority] + 1
        self._by_priority[priority] = in_flight
        handlers = self._hub.listeners_by_type.get(OverloadAdmitted)
        if handlers:
            deliver(handlers, OverloadAdmitted(self._name, priority, waited, in_flight))
        return Permit(self, priority, route_of, now, self._total, deadline_at)

    def _refuse(self, reason: ShedReason, route_of: RouteOf, priority: Priority) -> Refusal:
        handlers = self._hub.listeners_by_type.get(OverloadShed)
        if handlers:
            deliver(handlers, OverloadShed(self._name, route_of(), priority, reason))
        return self._refusals[reason]

    def _release(self, permit: Permit, *, cancelled: bool, dropped: bool, completed: bool) -> None:
        now = self._clock.now()
        priority = permit.priority
        self._total -= 1
        in_flight = self._by_priority[priority] - 1
        self._by_priority[priority] = in_flight
        handlers = self._hub.listeners_by_type.get(OverloadReleased)
        if handlers:
            deliver(handlers, OverloadReleased(self._name, priority, in_flight))
        if not cancelled:
            if now >= permit._deadline_at:
                dropped, completed = True, False  # ran out its deadline: not a service time
            rtt = now - permit._started_at
            self._limit.on_sample(rtt=rtt, in_flight=permit._in_flight, dropped=dropped)
            if completed:
                self._service_times.observe(permit._route_of(), rtt)
            limit = self._limit.limit
            if limit != self._last_limit:
                previous, self._last_limit = self._last_limit, limit
                handlers = self._hub.listeners_by_type.get(OverloadLimitChanged)
                if handlers:
                    deliver(handlers, OverloadLimitChanged(self._name, limit, previous))
        if self._queue:
            self._dispatch(now)

    def _dispatch(self, now: float) -> None:
        """Give free slots to waiters: HIGH first, newest first, within the partitions."""
        queue = self._queue
        codel = self._codel
        for expired in queue.pop_expired(now):
            codel[expired.priority].timed_out(now)
            if not queue.has(expired.priority):
                codel[expired.priority].empty(now)
            self._resolve(
                expired, self._refuse(ShedReason.QUEUE_TIMEOUT, expired.payload.route_of, expired.priority)
            )
        partitions = self._partitions
        while queue:
            priority = queue.first_priority()
            if priority is None or not partitions.may_start(
                priority, in_flight=self._total, limit=self._limit.limit, contended=True
            ):
                return
            waiter = queue.pop(priority)
            if not queue.has(priority):
                codel[priority].empty(now)
            pending = waiter.payload
            if pending.future.done():
                continue  # its request went away without taking itself out
            waited = now - waiter.enqueued_at
            remaining = pending.deadline_at - now
            if (
                self._deadline_admission
                and remaining < self._service_times.longest_bound()
                and self._service_times.too_late(pending.route_of(), remaining)
            ):
                self._resolve(waiter, self._refuse(ShedReason.DEADLINE, pending.route_of, priority))
                continue
            self._resolve(waiter, self._start(priority, pending.route_of, now, waited, pending.deadline_at))
