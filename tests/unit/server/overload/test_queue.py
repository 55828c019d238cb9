"""The HIGH-first, newest-first bounded queue and its CoDel bound on waiting."""

from __future__ import annotations

import pytest

from aio_request import Priority
from aio_request.server.overload import CoDelBound
from aio_request.server.overload.queue import PriorityLifoQueue, Waiter


def waiter(priority: Priority, at: float, name: str, expires: float = 1e9) -> Waiter[str]:
    return Waiter(priority, at, expires, name)


def test_queue_serves_high_first_then_newest_first() -> None:
    queue: PriorityLifoQueue[str] = PriorityLifoQueue(10)
    for item in (
        waiter(Priority.LOW, 0, "low"),
        waiter(Priority.NORMAL, 1, "n1"),
        waiter(Priority.NORMAL, 2, "n2"),
        waiter(Priority.HIGH, 3, "h"),
    ):
        assert queue.push(item) == (True, None)
    order = []
    while (priority := queue.first_priority()) is not None:
        order.append(queue.pop(priority).payload)
    assert order == ["h", "n2", "n1", "low"]
    assert len(queue) == 0


def test_full_queue_evicts_the_oldest_lowest_priority_waiter_for_a_higher_one() -> None:
    queue: PriorityLifoQueue[str] = PriorityLifoQueue(2)
    old_low, new_low = waiter(Priority.LOW, 0, "old"), waiter(Priority.LOW, 1, "new")
    queue.push(old_low)
    queue.push(new_low)
    queued, evicted = queue.push(waiter(Priority.HIGH, 2, "h"))
    assert queued
    assert evicted is old_low
    assert len(queue) == 2


def test_full_queue_refuses_an_arrival_with_nobody_lower() -> None:
    queue: PriorityLifoQueue[str] = PriorityLifoQueue(1)
    queue.push(waiter(Priority.NORMAL, 0, "n"))
    assert queue.push(waiter(Priority.NORMAL, 1, "n2")) == (False, None)
    assert queue.push(waiter(Priority.LOW, 1, "l")) == (False, None)


def test_queue_pops_expired_waiters_wherever_they_are() -> None:
    queue: PriorityLifoQueue[str] = PriorityLifoQueue(10)
    queue.push(waiter(Priority.NORMAL, 0, "long", expires=0.1))
    queue.push(waiter(Priority.NORMAL, 0.01, "short", expires=0.015))
    queue.push(waiter(Priority.HIGH, 0.01, "h", expires=0.2))
    assert [w.payload for w in queue.pop_expired(0.02)] == ["short"]
    assert len(queue) == 2
    assert sorted(w.payload for w in queue.pop_expired(0.5)) == ["h", "long"]
    assert len(queue) == 0


def test_removing_a_waiter_twice_reports_it() -> None:
    queue: PriorityLifoQueue[str] = PriorityLifoQueue(10)
    item = waiter(Priority.LOW, 0, "x")
    queue.push(item)
    assert queue.remove(item)
    assert not queue.remove(item)
    assert len(queue) == 0


def test_codel_allows_the_interval_until_the_queue_stands() -> None:
    codel = CoDelBound(target=0.005, interval=0.1)
    assert codel.max_wait(0.0) == 0.1  # never seen empty: not standing
    codel.empty(0.0)
    assert codel.max_wait(0.09) == 0.1  # not empty for less than an interval
    assert codel.standing(0.1)
    assert codel.max_wait(0.1) == 0.005


def test_codel_stops_standing_once_the_queue_was_empty() -> None:
    codel = CoDelBound(target=0.005, interval=0.1)
    codel.empty(0.0)
    assert codel.standing(0.15)
    codel.empty(0.16)
    assert not codel.standing(0.2)
    assert codel.max_wait(0.2) == 0.1
    assert codel.standing(0.26)


def test_codel_keeps_standing_while_waiters_run_out_of_time() -> None:
    codel = CoDelBound(target=0.005, interval=0.1)
    codel.empty(0.0)
    codel.timed_out(0.15)
    codel.empty(0.16)  # the short bound drained the queue ...
    assert codel.standing(0.2)  # ... but a waiter ran out of time less than an interval ago
    assert not codel.standing(0.255)


def test_codel_options_are_validated() -> None:
    with pytest.raises(ValueError, match=r"interval must be >= target \(0.1\), got 0.05"):
        CoDelBound(target=0.1, interval=0.05)
