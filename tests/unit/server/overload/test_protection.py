"""OverloadProtection: admission, queueing, shedding, learning, events (fake clock)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from aio_request import Priority
from aio_request.events import (
    Event,
    EventHub,
    OverloadAdmitted,
    OverloadLimitChanged,
    OverloadReleased,
    OverloadShed,
)
from aio_request.server.overload import (
    ConcurrencyLimit,
    FixedLimit,
    OverloadProtection,
    Permit,
    Refusal,
    ServiceTimes,
    ShedReason,
)
from aio_request.testing import FakeClock

HIGH, NORMAL, LOW = Priority.HIGH, Priority.NORMAL, Priority.LOW


def route() -> str:
    return "/work"


class SpyLimit(ConcurrencyLimit):
    def __init__(self, limit: int) -> None:
        self.value = limit
        self.samples: list[tuple[float, int, bool]] = []

    @property
    def limit(self) -> int:
        return self.value

    def on_sample(self, *, rtt: float, in_flight: int, dropped: bool) -> None:
        self.samples.append((rtt, in_flight, dropped))


def protection(
    limit: ConcurrencyLimit, clock: FakeClock, *, hub: EventHub | None = None, **options: Any
) -> OverloadProtection:
    # A long real-time interval: waits end only through the fake clock, at dispatch.
    options.setdefault("queue_interval", 60.0)
    options.setdefault("queue_target", 30.0)
    return OverloadProtection(limit=limit, clock=clock, event_hub=hub or EventHub(), **options)


async def acquire(p: OverloadProtection, priority: Priority, remaining: float = 10.0) -> Permit | Refusal:
    return await p.acquire(priority=priority, remaining=remaining, route_of=route)


def started(p: OverloadProtection, priority: Priority) -> asyncio.Task[Permit | Refusal]:
    return asyncio.create_task(acquire(p, priority))


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_requests_start_at_once_below_the_limit_then_wait() -> None:
    clock = FakeClock()
    p = protection(FixedLimit(2), clock)
    first, second = await acquire(p, NORMAL), await acquire(p, NORMAL)
    assert isinstance(first, Permit)
    assert isinstance(second, Permit)
    waiting = started(p, NORMAL)
    await settle()
    assert not waiting.done()
    assert (p.in_flight, p.queued) == (2, 1)
    first.release()
    third = await waiting
    assert isinstance(third, Permit)
    assert (p.in_flight, p.queued) == (2, 0)


async def test_freed_slots_go_to_high_first_then_to_the_newest() -> None:
    clock = FakeClock()
    p = protection(FixedLimit(1), clock, partitions=None)
    running = await acquire(p, LOW)
    assert isinstance(running, Permit)
    order: list[str] = []

    async def wait(name: str, priority: Priority) -> None:
        permit = await acquire(p, priority)
        assert isinstance(permit, Permit)
        order.append(name)
        permit.release()

    tasks = []
    for name, priority in (("n-old", NORMAL), ("low", LOW), ("n-new", NORMAL), ("high", HIGH)):
        tasks.append(asyncio.create_task(wait(name, priority)))
        await settle()
    running.release()
    await asyncio.gather(*tasks)
    assert order == ["high", "n-new", "n-old", "low"]


async def test_partitions_keep_the_top_of_the_limit_for_high_under_contention() -> None:
    clock = FakeClock()
    p = protection(FixedLimit(10), clock)
    permits = [await acquire(p, NORMAL) for _ in range(10)]
    waiting_normal = started(p, NORMAL)
    await settle()
    first = permits.pop()
    assert isinstance(first, Permit)
    first.release()  # 9 run, a NORMAL waits: NORMAL may fill only 90 % under contention
    await settle()
    assert not waiting_normal.done()
    high = await acquire(p, HIGH)
    assert isinstance(high, Permit)  # the kept slot
    waiting_normal.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting_normal
    assert p.queued == 0


async def test_a_full_queue_sheds_with_503_retry_after_and_the_shed_marker() -> None:
    clock = FakeClock()
    p = protection(FixedLimit(1), clock, max_queue_size=1, retry_after=2)
    await acquire(p, NORMAL)
    waiting = started(p, NORMAL)
    await settle()
    refusal = await acquire(p, NORMAL)
    assert isinstance(refusal, Refusal)
    assert refusal.reason is ShedReason.QUEUE_FULL
    assert refusal.status == 503
    assert dict(refusal.headers) == {"Retry-After": "2", "X-Request-Shed": "queue_full"}
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)


async def test_a_higher_priority_arrival_pushes_the_oldest_lower_one_out_of_a_full_queue() -> None:
    clock = FakeClock()
    p = protection(FixedLimit(1), clock, max_queue_size=2)
    running = await acquire(p, NORMAL)
    old_low, new_low = started(p, LOW), None
    await settle()
    new_low = started(p, LOW)
    await settle()
    high = started(p, HIGH)
    await settle()
    evicted = await old_low
    assert isinstance(evicted, Refusal)
    assert evicted.reason is ShedReason.QUEUE_FULL
    assert isinstance(running, Permit)
    running.release()
    assert isinstance(await high, Permit)
    new_low.cancel()
    await asyncio.gather(new_low, return_exceptions=True)


async def test_a_request_with_less_time_than_the_routes_service_time_gets_408() -> None:
    clock = FakeClock()
    p = protection(FixedLimit(5), clock, service_times=ServiceTimes(min_samples=2))
    for _ in range(2):
        permit = await acquire(p, NORMAL)
        assert isinstance(permit, Permit)
        await clock.advance(0.1)
        permit.release()
    refusal = await acquire(p, HIGH, remaining=0.05)
    assert isinstance(refusal, Refusal)
    assert refusal.reason is ShedReason.DEADLINE
    assert refusal.status == 408
    assert dict(refusal.headers) == {"X-Do-Not-Retry": "1"}
    assert isinstance(await acquire(p, HIGH, remaining=0.2), Permit)


async def test_deadline_admission_can_be_turned_off() -> None:
    clock = FakeClock()
    p = protection(FixedLimit(5), clock, deadline_admission=False, service_times=ServiceTimes(min_samples=1))
    permit = await acquire(p, NORMAL)
    assert isinstance(permit, Permit)
    await clock.advance(0.1)
    permit.release()
    assert isinstance(await acquire(p, NORMAL, remaining=0.01), Permit)


async def test_a_waiter_whose_deadline_became_too_short_gets_408_instead_of_the_slot() -> None:
    clock = FakeClock()
    p = protection(FixedLimit(1), clock, service_times=ServiceTimes(min_samples=1))
    warm = await acquire(p, NORMAL)
    assert isinstance(warm, Permit)
    await clock.advance(0.1)
    warm.release()
    running = await acquire(p, NORMAL)
    assert isinstance(running, Permit)
    waiting = asyncio.create_task(acquire(p, NORMAL, remaining=0.15))
    await settle()
    await clock.advance(0.1)  # 0.05 s left, the route takes 0.1 s
    running.release()
    refusal = await waiting
    assert isinstance(refusal, Refusal)
    assert refusal.reason is ShedReason.DEADLINE


async def test_waiters_past_their_codel_bound_are_shed_when_a_slot_frees() -> None:
    clock = FakeClock()
    p = protection(FixedLimit(1), clock, queue_target=0.005, queue_interval=0.1)
    running = await acquire(p, NORMAL)
    assert isinstance(running, Permit)
    waiting = started(p, NORMAL)
    await settle()
    await clock.advance(0.2)  # the real-time timer has not fired yet; the fake clock says expired
    running.release()
    refusal = await waiting
    assert isinstance(refusal, Refusal)
    assert refusal.reason is ShedReason.QUEUE_TIMEOUT
    assert refusal.status == 503


async def test_a_standing_queue_of_one_priority_does_not_shorten_the_waits_of_another() -> None:
    clock = FakeClock()
    p = protection(FixedLimit(1), clock, queue_target=0.005, queue_interval=1.0)
    running = await acquire(p, NORMAL)
    assert isinstance(running, Permit)
    waiting = started(p, NORMAL)
    await settle()
    assert p.max_wait(NORMAL) == 1.0
    await clock.advance(1.5)  # the NORMAL queue has not been empty for a whole interval
    assert p.max_wait(NORMAL) == 0.005
    assert p.max_wait(LOW) == 1.0
    assert p.max_wait(HIGH) == 1.0
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    assert p.max_wait(NORMAL) == 1.0  # the queue was emptied


async def test_high_waits_are_never_cut_to_the_target() -> None:
    clock = FakeClock()
    p = protection(FixedLimit(1), clock, queue_target=0.005, queue_interval=1.0)
    running = await acquire(p, HIGH)
    waiting = started(p, HIGH)
    await settle()
    await clock.advance(1.5)
    assert p.max_wait(HIGH) == 1.0
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    assert isinstance(running, Permit)


async def test_a_wait_ends_by_its_timer_when_no_slot_frees() -> None:
    p = OverloadProtection(limit=FixedLimit(1), queue_target=0.005, queue_interval=0.02, event_hub=EventHub())
    running = await p.acquire(priority=NORMAL, remaining=10, route_of=route)
    refusal = await asyncio.wait_for(p.acquire(priority=NORMAL, remaining=10, route_of=route), 5)
    assert isinstance(refusal, Refusal)
    assert refusal.reason is ShedReason.QUEUE_TIMEOUT
    assert p.queued == 0
    assert isinstance(running, Permit)


async def test_cancelled_requests_never_move_the_limit() -> None:
    clock = FakeClock()
    spy = SpyLimit(1)
    p = protection(spy, clock)
    running = await acquire(p, NORMAL)
    assert isinstance(running, Permit)
    waiting = started(p, NORMAL)
    await settle()
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    assert p.queued == 0
    running.release(cancelled=True)
    assert spy.samples == []
    assert p.in_flight == 0


async def test_a_waiter_cancelled_after_it_was_given_a_slot_gives_it_back() -> None:
    clock = FakeClock()
    spy = SpyLimit(1)
    p = protection(spy, clock)
    running = await acquire(p, NORMAL)
    assert isinstance(running, Permit)
    waiting = started(p, NORMAL)
    await settle()
    running.release()  # the waiter gets the slot ...
    waiting.cancel()  # ... but is cancelled before it resumes
    await asyncio.gather(waiting, return_exceptions=True)
    assert p.in_flight == 0
    assert len(spy.samples) == 1


async def test_the_limit_learns_handler_latency_not_queue_time() -> None:
    clock = FakeClock()
    spy = SpyLimit(1)
    p = protection(spy, clock)
    running = await acquire(p, NORMAL)
    assert isinstance(running, Permit)
    waiting = started(p, NORMAL)
    await settle()
    await clock.advance(0.5)
    running.release()
    second = await waiting
    assert isinstance(second, Permit)
    await clock.advance(0.25)
    second.release()
    assert spy.samples == [(0.5, 1, False), (0.25, 1, False)]


async def test_a_handler_that_ran_out_its_deadline_is_dropped_and_not_a_service_time() -> None:
    clock = FakeClock()
    spy = SpyLimit(5)
    p = protection(spy, clock, service_times=ServiceTimes(min_samples=1))
    permit = await acquire(p, NORMAL, remaining=0.5)
    assert isinstance(permit, Permit)
    await clock.advance(0.5)
    permit.release()  # e.g. the middleware answered its own 408 at the deadline
    assert spy.samples == [(0.5, 1, True)]
    assert p.service_times.typical("/work") == 0.0


async def test_run_answers_the_refusal_and_counts_a_timeout_as_dropped() -> None:
    clock = FakeClock()
    spy = SpyLimit(1)
    p = protection(spy, clock, max_queue_size=1)

    async def refuse(refusal: Refusal) -> str:
        return f"refused {refusal.status}"

    async def slow() -> str:
        raise TimeoutError

    with pytest.raises(TimeoutError):
        await p.run(slow, refuse, path="/x", route_of=route, priority=NORMAL, remaining=1)
    assert spy.samples == [(0.0, 1, True)]
    spy.value = 0  # nothing may start, and nothing can be queued behind nobody

    async def fine() -> str:
        return "ran"

    holder = asyncio.create_task(p.run(fine, refuse, path="/x", route_of=route, priority=NORMAL, remaining=1))
    await settle()
    assert await p.run(fine, refuse, path="/x", route_of=route, priority=NORMAL, remaining=1) == "refused 503"
    holder.cancel()
    await asyncio.gather(holder, return_exceptions=True)


async def test_exempt_paths_bypass_everything() -> None:
    clock = FakeClock()
    p = protection(FixedLimit(1), clock, exempt_paths=["/health"])
    running = await acquire(p, NORMAL)
    assert isinstance(running, Permit)

    async def refuse(refusal: Refusal) -> str:
        return "refused"

    async def health() -> str:
        assert p.in_flight == 1  # not counted
        return "ok"

    assert await p.run(health, refuse, path="/health", route_of=route, priority=LOW, remaining=1) == "ok"
    assert p.is_exempt("/health")
    assert not p.is_exempt("/health/deep")


async def test_events_report_admission_release_shedding_and_limit_changes() -> None:
    clock = FakeClock()
    hub = EventHub()
    events: list[Event] = []
    hub.subscribe(events.append)
    spy = SpyLimit(1)
    p = protection(spy, clock, hub=hub, max_queue_size=1, name="api")
    running = await acquire(p, HIGH)
    waiting = started(p, LOW)
    await settle()
    await acquire(p, LOW)  # queue full
    await clock.advance(0.01)
    spy.value = 2
    assert isinstance(running, Permit)
    running.release()
    permit = await waiting
    assert isinstance(permit, Permit)
    last = events[-1]
    assert isinstance(last, OverloadAdmitted)
    assert last.queue_time == pytest.approx(0.01)
    events[-1] = last._replace(queue_time=0.01)
    assert events == [
        OverloadLimitChanged("api", 1, 0),
        OverloadAdmitted("api", Priority.HIGH, 0.0, 1),
        OverloadShed("api", "/work", Priority.LOW, ShedReason.QUEUE_FULL),
        OverloadReleased("api", Priority.HIGH, 0),
        OverloadLimitChanged("api", 2, 1),
        OverloadAdmitted("api", Priority.LOW, 0.01, 1),
    ]
    shed = events[2]
    assert isinstance(shed, OverloadShed)
    assert (type(shed.priority), type(shed.reason)) == (Priority, ShedReason)
    assert shed.reason == "queue_full", "each enum still equals the string it replaced"


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: OverloadProtection(max_queue_size=0), r"max_queue_size must be an int >= 1, got 0"),
        (lambda: OverloadProtection(queue_target=0), r"queue_target must be a finite number > 0, got 0"),
        (
            lambda: OverloadProtection(queue_target=0.5, queue_interval=0.1),
            r"queue_interval must be >= queue_target \(0.5\), got 0.1",
        ),
        (lambda: OverloadProtection(exempt_paths="/health"), r"exempt_paths must be a collection"),
        (lambda: OverloadProtection(exempt_paths=["health"]), r"exempt_paths must be a collection"),
        (lambda: OverloadProtection(retry_after=-1), r"retry_after must be an int >= 0, got -1"),
        (lambda: OverloadProtection(name=""), r"name must be a non-empty str"),
        (lambda: OverloadProtection(limit=5), r"limit must be a ConcurrencyLimit, got 5"),  # type: ignore[arg-type]
    ],
)
def test_options_are_validated(factory: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factory()


def test_defaults() -> None:
    p = OverloadProtection(event_hub=EventHub())
    assert p.limit == 20
    assert p.in_flight == 0
    assert p.in_flight_by_priority == {HIGH: 0, NORMAL: 0, LOW: 0}
    assert p.queued == 0
