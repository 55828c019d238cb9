"""Retry-After: parsing both forms, the cap, and how sequential and parallel strategies obey it."""

from __future__ import annotations

import email.utils
import time

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from aio_request import (
    Deadline,
    EmptyResponse,
    Priority,
    ResponseWithVerdict,
    constant_delays,
    get,
    parallel_strategy,
    sequential_strategy,
)
from aio_request.http.request import Request
from aio_request.http.response import BufferedResponse, ClosableResponse
from aio_request.policies.retry_after import MAX_RETRY_AFTER_SECONDS, parse_retry_after, retry_after_seconds
from aio_request.testing import FakeClock
from tests.unit.strategies.scripted import CLASSIFIER, ENDPOINT

NOW = 1_700_000_000.0


def http_date(posix: float) -> str:
    return email.utils.formatdate(posix, usegmt=True)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("0", 0.0),
        ("7", 7.0),
        (" 2.5 ", 2.5),
        (http_date(NOW + 30), 30.0),
        ("Sunday, 06-Nov-94 08:49:37 GMT", 0.0),  # obsolete RFC 850 form, in the past
        ("Sun Nov  6 08:49:37 1994", 0.0),  # asctime form, in the past
        ("86400", MAX_RETRY_AFTER_SECONDS),
        (http_date(NOW + 10_000), MAX_RETRY_AFTER_SECONDS),
        ("-1", None),
        ("1e3", None),
        ("inf", None),
        ("soon", None),
        ("", None),
        ("Wed, 32 Oct 2015 07:28:00 GMT", None),
        ("9" * 100, None),
    ],
)
def test_parses_delay_seconds_and_http_dates_capped(value: str, seconds: float | None) -> None:
    assert parse_retry_after(value, wall_clock=lambda: NOW) == seconds


def test_only_429_and_503_carry_pushback_and_the_longest_value_wins() -> None:
    headers = [("Retry-After", "3"), ("Retry-After", "5"), ("Retry-After", "junk")]
    multi = CIMultiDictProxy(CIMultiDict(headers))
    assert retry_after_seconds(BufferedResponse(status=503, headers=multi)) == 5.0
    assert retry_after_seconds(EmptyResponse(status=429, headers={"Retry-After": "1"})) == 1.0
    assert retry_after_seconds(EmptyResponse(status=500, headers={"Retry-After": "1"})) is None
    assert retry_after_seconds(EmptyResponse(status=301, headers={"Retry-After": "1"})) is None
    assert retry_after_seconds(EmptyResponse(status=503)) is None
    assert retry_after_seconds(EmptyResponse(status=503, headers={"Retry-After": "9"}), max_seconds=2) == 2.0


class Sender:
    """Answers attempt ``i`` with ``answers[i]`` after ``latency``; records start times."""

    def __init__(self, clock: FakeClock, answers: list[ClosableResponse], latency: float = 0.0) -> None:
        self.clock = clock
        self.answers = answers
        self.latency = latency
        self.started_at: list[float] = []

    def __call__(self, endpoint: object, request: Request, deadline: Deadline, priority: Priority) -> _Opened:
        self.started_at.append(self.clock.now())
        return _Opened(self, self.answers[len(self.started_at) - 1])


class _Opened:
    def __init__(self, sender: Sender, response: ClosableResponse) -> None:
        self.sender = sender
        self.response = response

    async def __aenter__(self) -> ResponseWithVerdict[ClosableResponse]:
        await self.sender.clock.sleep(self.sender.latency)
        return ResponseWithVerdict(self.response, CLASSIFIER.classify(self.response))

    async def __aexit__(self, *args: object) -> None:
        return None


def busy(retry_after: str, status: int = 503) -> EmptyResponse:
    return EmptyResponse(status=status, headers={"Retry-After": retry_after})


async def run(strategy: object, sender: Sender, clock: FakeClock, timeout: float) -> int:
    deadline = Deadline.from_timeout(timeout, clock=clock)

    async def work() -> int:
        async with strategy.request(sender, ENDPOINT, get("x"), deadline, Priority.NORMAL) as result:  # type: ignore[attr-defined]
            return int(result.response.status)

    return await work()


@pytest.mark.parametrize("header", ["2", "http-date"])
async def test_a_sequential_retry_waits_at_least_retry_after(header: str) -> None:
    clock = FakeClock(autojump=True)
    if header == "http-date":
        # The HTTP date is absolute wall time: two seconds from now (whole seconds, so 1 to 2 s).
        header = http_date(time.time() + 2)
    sender = Sender(clock, [busy(header), BufferedResponse(status=200)])
    strategy = sequential_strategy(delays_provider=constant_delays(delay=0.05))
    assert await run(strategy, sender, clock, timeout=10) == 200
    assert sender.started_at[0] == 0
    assert 1.0 <= sender.started_at[1] <= 2.05


async def test_retry_after_longer_than_the_delay_only_lengthens_it() -> None:
    clock = FakeClock(autojump=True)
    sender = Sender(clock, [busy("0", status=429), BufferedResponse(status=200)])
    strategy = sequential_strategy(delays_provider=constant_delays(delay=0.3))
    assert await run(strategy, sender, clock, timeout=10) == 200
    assert sender.started_at[1] == pytest.approx(0.3, abs=0.011)


async def test_retry_after_beyond_the_deadline_stops_at_once_with_that_response() -> None:
    clock = FakeClock(autojump=True)
    sender = Sender(clock, [busy("30"), BufferedResponse(status=200)])
    strategy = sequential_strategy(delays_provider=constant_delays(delay=0.05))
    assert await run(strategy, sender, clock, timeout=5) == 503
    assert len(sender.started_at) == 1
    assert clock.now() <= 0.011, "no waiting for a retry that cannot happen"


async def test_parallel_attempts_do_not_hedge_against_a_server_that_asked_to_back_off() -> None:
    clock = FakeClock(autojump=True)
    sender = Sender(
        clock, [busy("1"), BufferedResponse(status=200), BufferedResponse(status=200)], latency=0.01
    )
    strategy = parallel_strategy(attempts_count=3, delays_provider=constant_delays(delay=0.5))
    assert await run(strategy, sender, clock, timeout=5) == 503
    assert len(sender.started_at) == 1


async def test_parallel_attempts_still_race_after_a_plain_rejection() -> None:
    clock = FakeClock(autojump=True)
    sender = Sender(clock, [EmptyResponse(status=503), BufferedResponse(status=200)], latency=0.01)
    strategy = parallel_strategy(attempts_count=2, delays_provider=constant_delays(delay=0.5))
    assert await run(strategy, sender, clock, timeout=5) == 200
    assert len(sender.started_at) == 2
