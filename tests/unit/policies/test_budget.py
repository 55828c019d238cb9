"""Retry and hedge budgets: proportional to recent calls, a small floor, per endpoint."""

from __future__ import annotations

import asyncio
import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import aio_request
from aio_request import EmptyResponse, constant_delays, get, parallel_strategy, sequential_strategy
from aio_request._core.outcomes import AttemptKind, BudgetKind
from aio_request.events import BudgetExhausted, Event, EventHub
from aio_request.http.response import BufferedResponse
from aio_request.policies.budget import MAX_SCOPES, AttemptBudget, HedgeBudget, RetryBudget
from aio_request.testing import FakeClock, FakeTransport

A = "http://a.test/"
B = "http://b.test/"


def admitted(
    budget: AttemptBudget, scope: str = A, *, kind: AttemptKind = AttemptKind.RETRY, tries: int = 1000
) -> int:
    return sum(budget.admit(scope, kind) for _ in range(tries))


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: RetryBudget(ratio=1.5), r"ratio must be in \[0, 1\], got 1.5"),
        (
            lambda: RetryBudget(min_retries_per_second=-1),
            "min_retries_per_second must be a finite number >= 0",
        ),
        (
            lambda: RetryBudget(window_seconds=0),
            r"window_seconds must be a number in \[0.001, 86400\], got 0",
        ),
        (lambda: HedgeBudget(max_extra_load=-0.1), r"max_extra_load must be in \[0, 1\], got -0.1"),
        (lambda: HedgeBudget(min_hedges_per_second=float("nan")), "min_hedges_per_second must be a finite"),
    ],
)
def test_invalid_settings_name_the_parameter_and_value(factory: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factory()  # type: ignore[operator]


def test_extra_attempts_are_a_ratio_of_recent_calls_plus_the_floor() -> None:
    clock = FakeClock(autojump=True)
    budget = AttemptBudget(retry=RetryBudget(ratio=0.2, min_retries_per_second=1), hedge=None, clock=clock)
    for _ in range(100):
        budget.record_request(A)
    assert admitted(budget) == 20 + 1, "20 % of 100 calls, plus the one token the floor starts with"


async def test_the_floor_refills_at_its_rate_without_a_window_sized_burst() -> None:
    clock = FakeClock(autojump=True)
    budget = AttemptBudget(retry=RetryBudget(ratio=0.0, min_retries_per_second=2), hedge=None, clock=clock)
    assert admitted(budget) == 2, "capacity is one second's worth"
    await clock.advance(0.5)
    assert admitted(budget) == 1
    await clock.advance(99.5)
    assert admitted(budget) == 2, "idle time does not bank more than a second's worth"


async def test_calls_older_than_the_window_stop_counting() -> None:
    clock = FakeClock(autojump=True)
    budget = AttemptBudget(retry=RetryBudget(ratio=0.5, min_retries_per_second=0), hedge=None, clock=clock)
    for _ in range(10):
        budget.record_request(A)
    assert admitted(budget, tries=2) == 2
    await clock.advance(10.0)
    assert admitted(budget) == 0, "the calls and the retries slid out of the 10 s window together"
    budget.record_request(A)
    assert admitted(budget) == 1


async def test_retries_spent_slide_out_with_the_window() -> None:
    clock = FakeClock(autojump=True)
    budget = AttemptBudget(retry=RetryBudget(ratio=0.5, min_retries_per_second=0), hedge=None, clock=clock)
    for _ in range(4):
        budget.record_request(A)
    assert admitted(budget) == 2
    await clock.advance(5.0)
    for _ in range(4):
        budget.record_request(A)
    assert admitted(budget) == 2, "8 calls in the window allow 4, 2 were spent"
    await clock.advance(5.0)
    assert admitted(budget) == 0, "the first 4 calls and their 2 retries left the window"
    await clock.advance(5.0)
    assert admitted(budget) == 0


def test_hedges_and_retries_draw_each_from_their_own_budget() -> None:
    clock = FakeClock(autojump=True)
    budget = AttemptBudget(
        retry=RetryBudget(ratio=0.2, min_retries_per_second=0),
        hedge=HedgeBudget(max_extra_load=0.05, min_hedges_per_second=0),
        clock=clock,
    )
    for _ in range(100):
        budget.record_request(A)
    assert admitted(budget, kind=AttemptKind.HEDGE) == 5
    assert admitted(budget) == 20, "the hedges took nothing from the retries"


def test_the_hedge_floor_is_a_token_bucket_beside_the_proportion() -> None:
    clock = FakeClock(autojump=True)
    budget = AttemptBudget(retry=None, hedge=HedgeBudget(max_extra_load=0.05), clock=clock)
    for _ in range(100):
        budget.record_request(A)
    assert admitted(budget, kind=AttemptKind.HEDGE) == 5 + 10, "5 % of 100 calls, then 10 tokens"


async def test_the_documented_bound_holds_exactly_for_1_to_60_calls_in_a_full_outage() -> None:
    """No time passes: N calls send exactly N + ceil(0.2 N) + 1 requests (module docstring)."""
    clock = FakeClock(autojump=True)
    transport = FakeTransport(lambda url, request: EmptyResponse(status=503), clock=clock)
    client = aio_request.setup(
        transport=transport,
        endpoint=A,
        clock=clock,
        safe_method_strategy=sequential_strategy(attempts_count=1000, delays_provider=constant_delays()),
    )
    for calls in range(1, 61):
        async with client.request(get("x")) as response:
            assert response.status == 503
        expected = calls + math.ceil(Fraction(1, 5) * calls) + 1
        assert len(transport.requests) == expected, f"after {calls} calls"
    assert clock.now() == 0.0, "no time passed: the floor had only its starting token"


def test_scopes_have_separate_balances_and_are_bounded() -> None:
    clock = FakeClock(autojump=True)
    budget = AttemptBudget(retry=RetryBudget(ratio=1.0, min_retries_per_second=0), hedge=None, clock=clock)
    budget.record_request(A)
    assert admitted(budget, B) == 0
    assert admitted(budget, A) == 1
    for index in range(MAX_SCOPES + 10):
        budget.record_request(f"http://{index}.test/")
    assert admitted(budget, A) == 0, "the oldest scope was forgotten"


def test_refusals_are_events_and_no_budget_admits_everything() -> None:
    hub = EventHub()
    events: list[Event] = []
    hub.subscribe(events.append)
    budget = AttemptBudget(
        retry=RetryBudget(ratio=0, min_retries_per_second=0),
        hedge=HedgeBudget(max_extra_load=0, min_hedges_per_second=0),
        clock=FakeClock(autojump=True),
        event_hub=hub,
    )
    budget.record_request(A)
    assert not budget.admit(A, AttemptKind.RETRY)
    assert not budget.admit(A, AttemptKind.HEDGE)
    assert events == [
        BudgetExhausted(A, AttemptKind.RETRY, BudgetKind.RETRY),
        BudgetExhausted(A, AttemptKind.HEDGE, BudgetKind.HEDGE),
    ]
    unlimited = AttemptBudget(retry=None, hedge=None, clock=FakeClock(autojump=True))
    assert admitted(unlimited) == admitted(unlimited, kind=AttemptKind.HEDGE) == 1000


async def calls_against(transport: FakeTransport, count: int, **options: object) -> int:
    client = aio_request.setup(
        transport=transport,
        endpoint=A,
        safe_method_strategy=sequential_strategy(delays_provider=constant_delays()),
        **options,  # type: ignore[arg-type]
    )
    statuses = []
    for _ in range(count):
        async with client.request(get("x")) as response:
            statuses.append(response.status)
    return statuses.count(200)


async def test_a_full_outage_costs_at_most_one_and_a_quarter_requests_per_call() -> None:
    transport = FakeTransport(lambda url, request: EmptyResponse(status=503))
    await calls_against(transport, 400)
    assert len(transport.requests) <= 1.25 * 400
    assert len(transport.requests) >= 1.2 * 400, "the proportional budget is spent"
    unbudgeted = FakeTransport(lambda url, request: EmptyResponse(status=503))
    await calls_against(unbudgeted, 100, retry_budget=None)
    assert len(unbudgeted.requests) == 300


async def test_a_healthy_service_still_gets_its_occasional_failures_retried() -> None:
    served = 0

    def every_tenth_fails(url: object, request: object) -> EmptyResponse | BufferedResponse:
        nonlocal served
        served += 1
        return EmptyResponse(status=503) if served % 10 == 0 else BufferedResponse(status=200)

    transport = FakeTransport(every_tenth_fails)
    assert await calls_against(transport, 300) == 300


@pytest.mark.parametrize(
    ("hedge_budget", "expected"),
    [(HedgeBudget(min_hedges_per_second=0), 105), (HedgeBudget(), 123)],
    ids=["5 % of 100 calls", "plus the floor: 10 tokens, then 10/s while the calls run"],
)
async def test_hedged_calls_send_at_most_the_hedge_budget_of_extra_attempts(
    hedge_budget: HedgeBudget, expected: int
) -> None:
    clock = FakeClock(autojump=True)
    transport = FakeTransport(lambda url, request: BufferedResponse(status=200), latency=1.0, clock=clock)
    client = aio_request.setup(
        transport=transport,
        endpoint=A,
        clock=clock,
        safe_method_strategy=parallel_strategy(delays_provider=constant_delays(delay=0.1)),
        hedge_budget=hedge_budget,
    )

    async def one() -> int:
        async with client.request(get("x")) as response:
            return response.status

    async def hundred() -> list[int]:
        return await asyncio.gather(*(one() for _ in range(100)))

    assert await hundred() == [200] * 100
    # 100 calls + ceil(5 % of 100) + (with the floor) its 10 starting tokens and the 8 refilled
    # while hedges are asked for again, from 0.1 s until the first attempts answer at 1 s.
    assert len(transport.requests) == expected


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("retry_budget", 0.2, "retry_budget must be a RetryBudget or None, got 0.2"),
        ("hedge_budget", True, "hedge_budget must be a HedgeBudget or None, got True"),
    ],
)
def test_setup_refuses_budgets_of_the_wrong_type(option: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        aio_request.setup(transport=FakeTransport(), endpoint=A, **{option: value})  # type: ignore[arg-type]


@given(
    window=st.sampled_from([0.001, 0.1, 1.0, 10.0, 3.7]),
    steps=st.lists(
        st.tuples(st.floats(min_value=0, max_value=5, allow_nan=False), st.sampled_from(["call", "extra"])),
        max_size=60,
    ),
)
@settings(max_examples=300, deadline=None)
def test_the_window_counts_exactly_the_calls_and_extras_of_its_last_ten_slots(
    window: float, steps: list[tuple[float, str]]
) -> None:
    from aio_request.policies.budget import _Window

    start = 1000.0
    counter = _Window(window, start)

    def slot_of(at: float) -> int:
        return math.floor(at / (window / 10))

    now = start
    calls: list[int] = []
    extras: list[int] = []
    for advance, action in steps:
        now += advance
        (calls if action == "call" else extras).append(slot_of(now))
        if action == "call":
            counter.add_request(now)
        else:
            counter.add_extra(now)
        current = slot_of(now)
        assert counter.requests_total == sum(current - 10 < slot for slot in calls)
        assert counter.extras_total == sum(current - 10 < slot for slot in extras)
