"""The short queue in front of the limit: HIGH first, newest first, waiting bounded CoDel-style.

* **Bounded.** At most ``max_size`` requests wait. When it is full, an arrival takes the place
  of the oldest waiter of the lowest priority below its own (that waiter is shed); with nobody
  lower, the arrival itself is shed.
* **HIGH first, LIFO within a priority.** Under a standing overload the newest request has the
  most time left and the best chance that its caller still waits: serving the oldest first
  would spend every slot on requests about to be given up (Facebook's "adaptive LIFO").
* **CoDel bound on waiting.** :class:`CoDelBound`: when the queue has not been empty for a
  whole ``interval`` it is standing, and a waiter may wait only ``target``; otherwise up to
  ``interval`` (bursts are absorbed, a standing queue is not).

Pure logic: times are passed in by the caller, who reads its clock.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from typing import Generic, TypeVar

from aio_request._core.validate import at_least, positive
from aio_request.http.priority import Priority

__all__ = ["CoDelBound", "PriorityLifoQueue", "Waiter"]

_ORDER = (Priority.HIGH, Priority.NORMAL, Priority.LOW)
_T = TypeVar("_T")


class CoDelBound:
    """How long a request may wait: short while the queue stands, else up to ``interval``.

    Defaults ``target=0.005`` (5 ms) and ``interval=0.1`` (100 ms). The queue *stands* when it
    has not been empty for a whole ``interval`` (a burst drains within it, a standing queue does
    not), and keeps standing until a whole ``interval`` passed without a waiter running out of
    time: cutting waits to ``target`` drains the queue, which must not end the overload state
    at once (CoDel's dropping state has the same hysteresis). While it stands a request may wait
    ``target``, else ``interval``.

    Why emptiness and not CoDel's "shortest wait above target": with LIFO the newest request is
    served first, so the shortest wait stays tiny however long the backlog behind it, and would
    never reveal a standing queue. Raises ``ValueError`` naming a bad option.
    """

    __slots__ = ("_interval", "_last_empty", "_last_timeout", "_target")

    def __init__(self, *, target: float = 0.005, interval: float = 0.1) -> None:
        self._target = positive("target", target)
        self._interval = positive("interval", interval)
        if self._interval < self._target:
            raise ValueError(f"interval must be >= target ({target!r}), got {interval!r}")
        self._last_empty = math.inf  # "never seen": not standing until first seen empty
        self._last_timeout = -math.inf

    @property
    def target(self) -> float:
        """The wait allowed while the queue stands."""
        return self._target

    @property
    def interval(self) -> float:
        """The window, and the wait allowed while the queue does not stand."""
        return self._interval

    def empty(self, now: float) -> None:
        """The queue is empty at ``now``."""
        self._last_empty = now

    def timed_out(self, now: float) -> None:
        """A waiter ran out of time at ``now``."""
        self._last_timeout = now

    def standing(self, now: float) -> bool:
        """Whether the queue has not been empty since ``interval`` before ``now``, or a waiter
        ran out of time within the last ``interval``."""
        return now - self._last_empty >= self._interval or now - self._last_timeout < self._interval

    def max_wait(self, now: float) -> float:
        """How long a request that starts waiting at ``now`` may wait."""
        return self._target if self.standing(now) else self._interval


@dataclasses.dataclass(slots=True, eq=False)
class Waiter(Generic[_T]):
    """One queued request: its priority, when it started waiting, until when it may wait."""

    priority: Priority
    enqueued_at: float
    expires_at: float
    payload: _T


class PriorityLifoQueue(Generic[_T]):
    """Waiters by priority, HIGH first and newest first, at most ``max_size`` of them."""

    __slots__ = ("_by_priority", "_max_size", "_size")

    def __init__(self, max_size: int) -> None:
        self._max_size = at_least("max_size", max_size, 1)
        self._by_priority: dict[Priority, collections.deque[Waiter[_T]]] = {
            priority: collections.deque() for priority in _ORDER
        }
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def push(self, waiter: Waiter[_T]) -> tuple[bool, Waiter[_T] | None]:
        """Queue ``waiter``; returns ``(queued, evicted)``.

        When full, the oldest waiter of the lowest priority below ``waiter``'s is evicted to
        make room (returned, to be shed); with none, ``waiter`` is not queued.
        """
        evicted: Waiter[_T] | None = None
        if self._size >= self._max_size:
            rank = _ORDER.index(waiter.priority)
            for priority in reversed(_ORDER[rank + 1 :]):
                lower = self._by_priority[priority]
                if lower:
                    evicted = lower.popleft()
                    self._size -= 1
                    break
            if evicted is None:
                return False, None
        self._by_priority[waiter.priority].append(waiter)
        self._size += 1
        return True, evicted

    def remove(self, waiter: Waiter[_T]) -> bool:
        """Take ``waiter`` out (it gave up); ``False`` when it was no longer queued."""
        queue = self._by_priority[waiter.priority]
        try:
            queue.remove(waiter)
        except ValueError:
            return False
        self._size -= 1
        return True

    def has(self, priority: Priority) -> bool:
        """Whether a waiter of ``priority`` is queued."""
        return bool(self._by_priority[priority])

    def first_priority(self) -> Priority | None:
        """The highest priority that has a waiter, or ``None`` when empty."""
        for priority in _ORDER:
            if self._by_priority[priority]:
                return priority
        return None

    def pop(self, priority: Priority) -> Waiter[_T]:
        """The newest waiter of ``priority`` (``IndexError`` when it has none)."""
        waiter = self._by_priority[priority].pop()
        self._size -= 1
        return waiter

    def pop_expired(self, now: float) -> list[Waiter[_T]]:
        """Take out every waiter whose time to wait is over at ``now``."""
        expired: list[Waiter[_T]] = []
        for queue in self._by_priority.values():
            # Not simply from the left: the bound may have shrunk since older waiters arrived.
            if any(waiter.expires_at <= now for waiter in queue):
                kept = [waiter for waiter in queue if waiter.expires_at > now]
                expired.extend(waiter for waiter in queue if waiter.expires_at <= now)
                queue.clear()
                queue.extend(kept)
        self._size -= len(expired)
        return expired

    def priorities(self) -> tuple[Priority, ...]:
        """The priorities that have waiters, highest first."""
        return tuple(priority for priority in _ORDER if self._by_priority[priority])
