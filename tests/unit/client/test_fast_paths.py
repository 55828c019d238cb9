"""The client's shortcuts behave exactly as the general path they skip.

A static endpoint is read without the endpoint coroutine (and the default deadline is built
only when it is the earliest), and a built-in strategy (an ``OpeningStrategy``) is awaited
without its context manager; a delegating endpoint provider and a strategy known only by the
plain ``RequestStrategy`` interface take the general path. Every test runs both and expects the
same observable result, so any shortcut taken for either is held to the general path's
behaviour.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from types import TracebackType

import pytest
import yarl
from multidict import CIMultiDict, CIMultiDictProxy

import aio_request
from aio_request import Deadline, Priority, get, set_context
from aio_request._core.outcomes import AttemptKind
from aio_request.events import AttemptFinished, Event, EventHub, RequestFinished, RequestStarted
from aio_request.http.response import ClosableResponse
from aio_request.policies.budget import AttemptBudget, RetryBudget
from aio_request.policies.classify import ResponseClassifier, ResponseVerdict
from aio_request.strategies.request_strategy import ResponseWithVerdict, SendRequestFunc
from aio_request.strategies.single import SingleAttemptRequestStrategy
from aio_request.testing import FakeClock

ENDPOINT = "http://service.test/api/"
_NO_HEADERS: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())


class _GeneralSingle(aio_request.RequestStrategy):
    """The single-attempt strategy seen only through ``RequestStrategy.request`` (its context
    manager), as a strategy written by a user is; it records how its context was exited."""

    def __init__(self) -> None:
        self._inner = SingleAttemptRequestStrategy()
        self.exits: list[type[BaseException] | None] = []

    def request(
        self,
        send_request: SendRequestFunc,
        endpoint: yarl.URL,
        request: aio_request.Request,
        deadline: Deadline,
        priority: Priority,
    ) -> AbstractAsyncContextManager[ResponseWithVerdict[ClosableResponse]]:
        return _RecordedExit(
            self._inner.request(send_request, endpoint, request, deadline, priority), self.exits
        )


class _RecordedExit(AbstractAsyncContextManager[ResponseWithVerdict[ClosableResponse]]):
    def __init__(
        self,
        context: AbstractAsyncContextManager[ResponseWithVerdict[ClosableResponse]],
        exits: list[type[BaseException] | None],
    ) -> None:
        self._context = context
        self._exits = exits

    async def __aenter__(self) -> ResponseWithVerdict[ClosableResponse]:
        return await self._context.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._exits.append(exc_type)
        await self._context.__aexit__(exc_type, exc, traceback)


class _Recorded(ClosableResponse):
    def __init__(self, status: int) -> None:
        self._status = status
        self.closed = False

    @property
    def status(self) -> int:
        return self._status

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        return _NO_HEADERS

    @property
    def elapsed(self) -> float:
        return 0.0

    async def read(self) -> bytes:
        return b"body"

    async def close(self) -> None:
        self.closed = True


class _Transport(aio_request.Transport):
    """Records what it is sent; answers ``status`` or raises ``error``."""

    def __init__(self, status: int = 200, error: BaseException | None = None) -> None:
        self.status = status
        self.error = error
        self.sent: list[tuple[yarl.URL, aio_request.Request, float]] = []
        self.responses: list[_Recorded] = []

    async def send(
        self, endpoint: yarl.URL, request: aio_request.Request, timeout: float
    ) -> ClosableResponse:
        self.sent.append((request.build_url(endpoint), request, timeout))
        if self.error is not None:
            raise self.error
        response = _Recorded(self.status)
        self.responses.append(response)
        return response


@pytest.fixture(params=["shortcut", "general"])
def path(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _client(path: str, transport: aio_request.Transport, **options: object) -> aio_request.Client:
    strategy = aio_request.single_attempt_strategy() if path == "shortcut" else _GeneralSingle()
    if path == "shortcut":
        options["endpoint"] = ENDPOINT
    else:
        options["endpoint_provider"] = aio_request.DelegateEndpointProvider(lambda: ENDPOINT)
    return aio_request.setup(
        transport=transport,
        safe_method_strategy=strategy,
        **options,  # type: ignore[arg-type]
    )


class _Events:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.hub = EventHub()
        self.hub.subscribe(self.events.append)

    def types(self) -> Iterator[str]:
        return (type(event).__name__ for event in self.events)


async def test_url_headers_and_timeout_sent(path: str) -> None:
    clock = FakeClock(start=100.0)
    transport = _Transport()
    client = _client(path, transport, clock=clock, timeout=7)
    async with client.request(get("users/{id}", path_parameters={"id": 5})) as response:
        assert response.status == 200
        assert await response.read() == b"body"
    url, request, timeout = transport.sent[0]
    assert url == yarl.URL("http://service.test/api/users/5")
    assert timeout == 7
    assert request.headers["X-Request-Timeout"] == "7"
    assert request.headers["X-Request-Priority"] == "normal"
    assert transport.responses[0].closed


@pytest.mark.parametrize(
    ("given", "inherited", "expected"),
    [
        (None, None, 7.0),
        (3.0, None, 3.0),
        (9.0, None, 7.0),
        (3.0, 2.0, 2.0),
        (None, 7.0, 7.0),
        (2.0, 5.0, 2.0),
    ],
)
async def test_the_earliest_deadline_wins(
    path: str, given: float | None, inherited: float | None, expected: float
) -> None:
    clock = FakeClock(start=100.0)
    transport = _Transport()
    client = _client(path, transport, clock=clock, timeout=7)
    deadline = None if given is None else Deadline.from_timeout(given, clock=clock)
    context_deadline = None if inherited is None else Deadline.from_timeout(inherited, clock=clock)
    with set_context(deadline=context_deadline):
        async with client.request(get("x"), deadline=deadline):
            pass
    assert transport.sent[0][2] == expected


@pytest.mark.parametrize(
    ("inherited", "given", "sent"),
    [
        (None, None, "normal"),
        (Priority.LOW, None, "normal"),
        (Priority.HIGH, Priority.LOW, "normal"),
        (None, Priority.HIGH, "high"),
    ],
)
async def test_priority_is_the_calls_or_the_clients_normalised_against_the_inherited_one(
    path: str, inherited: Priority | None, given: Priority | None, sent: str
) -> None:
    transport = _Transport()
    with set_context(priority=inherited):
        async with _client(path, transport).request(get("x"), priority=given):
            pass
    assert transport.sent[0][1].headers["X-Request-Priority"] == sent


async def test_every_call_is_counted_in_the_budget(path: str) -> None:
    clock = FakeClock()
    transport = _Transport()
    client = _client(
        path, transport, clock=clock, retry_budget=RetryBudget(ratio=0.5, min_retries_per_second=0)
    )
    for _ in range(4):
        async with client.request(get("x")):
            pass
    budget = client.attempt_budget
    assert isinstance(budget, AttemptBudget)
    admitted = [budget.admit(ENDPOINT, AttemptKind.RETRY) for _ in range(3)]
    assert admitted == [True, True, False], "4 calls at ratio 0.5 allow 2 extra attempts"


async def test_telemetry_of_a_call(path: str) -> None:
    events = _Events()
    transport = _Transport(status=503)
    async with _client(path, transport, event_hub=events.hub).request(get("x")) as response:
        assert response.status == 503
    assert list(events.types()) == ["RequestStarted", "AttemptStarted", "AttemptFinished", "RequestFinished"]
    started, finished = events.events[0], events.events[-1]
    assert isinstance(started, RequestStarted)
    assert started.endpoint == ENDPOINT
    assert isinstance(finished, RequestFinished)
    assert (finished.status, finished.attempts) == (503, 1)
    attempt = events.events[2]
    assert isinstance(attempt, AttemptFinished)
    assert (attempt.kind, attempt.verdict) == ("first", "reject")


async def test_a_transport_error_reaches_the_caller_and_telemetry(path: str) -> None:
    events = _Events()
    transport = _Transport(error=RuntimeError("boom"))
    with pytest.raises(RuntimeError, match="boom"):
        async with _client(path, transport, event_hub=events.hub).request(get("x")):
            pass
    finished = events.events[-1]
    assert isinstance(finished, RequestFinished)
    assert (finished.status, finished.error) == (0, transport.error)


async def test_a_cancelled_call_is_reported_as_cancelled(path: str) -> None:
    events = _Events()
    transport = _Transport(error=asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        async with _client(path, transport, event_hub=events.hub).request(get("x")):
            pass
    finished = events.events[-1]
    assert isinstance(finished, RequestFinished)
    assert (finished.status, finished.cancelled) == (499, True)


async def test_a_raising_classifier_closes_the_response(path: str) -> None:
    class Raising(ResponseClassifier):
        def classify(self, response: aio_request.Response) -> ResponseVerdict:
            raise ValueError("cannot classify")

    transport = _Transport()
    with pytest.raises(ValueError, match="cannot classify"):
        async with _client(path, transport, response_classifier=Raising()).request(get("x")):
            pass
    assert transport.responses[0].closed


async def test_an_error_in_the_block_still_closes_the_response(path: str) -> None:
    transport = _Transport()
    with pytest.raises(KeyError):
        async with _client(path, transport).request(get("x")):
            raise KeyError("user code")
    assert transport.responses[0].closed


async def test_a_method_without_a_strategy_raises(path: str) -> None:
    del path  # the per-call strategy below replaces both
    strategy = aio_request.MethodBasedStrategy({"GET": aio_request.single_attempt_strategy()})
    client = aio_request.setup(transport=_Transport(), endpoint=ENDPOINT)
    with pytest.raises(ValueError, match="no strategy for method 'POST'"):
        async with client.request(aio_request.post("x", b""), strategy=strategy):
            pass
    async with client.request(get("x"), strategy=strategy) as response:
        assert response.status == 200


async def test_a_strategy_known_only_by_its_context_manager_is_told_how_the_block_exited() -> None:
    strategy = _GeneralSingle()
    client = aio_request.setup(transport=_Transport(), endpoint=ENDPOINT, safe_method_strategy=strategy)
    async with client.request(get("x")):
        pass
    with pytest.raises(KeyError):
        async with client.request(get("x")):
            raise KeyError("user code")
    assert strategy.exits == [None, KeyError]


def test_every_built_in_strategy_is_awaited_without_its_context_manager() -> None:
    from aio_request.strategies.request_strategy import OpeningStrategy

    delays = aio_request.constant_delays(delay=0.1)
    built_in = [
        aio_request.single_attempt_strategy(),
        aio_request.sequential_strategy(),
        aio_request.parallel_strategy(),
        aio_request.retry_until_deadline_expired(aio_request.single_attempt_strategy()),
        aio_request.MethodBasedStrategy({"GET": aio_request.sequential_strategy(delays_provider=delays)}),
        aio_request.setup(transport=_Transport(), endpoint=ENDPOINT).strategy,
    ]
    assert all(isinstance(strategy, OpeningStrategy) for strategy in built_in)


async def test_every_field_of_the_finished_events(path: str) -> None:
    clock = FakeClock(start=50.0)
    events = _Events()
    transport = _Transport(status=503)
    client = _client(path, transport, event_hub=events.hub, clock=clock)
    async with client.request(get("users/{id}", path_parameters={"id": 7})):
        pass
    attempt, call = events.events[2], events.events[3]
    assert isinstance(attempt, AttemptFinished)
    assert isinstance(call, RequestFinished)
    assert attempt._asdict() == {
        "request_id": call.request_id,
        "endpoint": ENDPOINT,
        "method": "GET",
        "path": "users/{id}",
        "attempt": 1,
        "kind": AttemptKind.FIRST,
        "status": 503,
        "verdict": ResponseVerdict.REJECT,
        "failure": None,
        "cancelled": False,
        "error": None,
        "duration": 0.0,
    }
    assert call._asdict() == {
        "request_id": attempt.request_id,
        "endpoint": ENDPOINT,
        "method": "GET",
        "path": "users/{id}",
        "status": 503,
        "failure": None,
        "circuit_breaker": False,
        "attempts": 1,
        "cancelled": False,
        "error": None,
        "duration": 0.0,
    }


class _TwoUndeclared(aio_request.RequestStrategy):
    """Asks for two attempts of undeclared kind before entering either, and enters the second."""

    def request(
        self,
        send_request: SendRequestFunc,
        endpoint: yarl.URL,
        request: aio_request.Request,
        deadline: Deadline,
        priority: Priority,
    ) -> AbstractAsyncContextManager[ResponseWithVerdict[ClosableResponse]]:
        send_request(endpoint, request, deadline, priority)  # asked for, never entered
        return send_request(endpoint, request, deadline, priority)


async def test_attempts_of_undeclared_kind_count_when_asked_for_and_unentered_ones_leave_nothing(
    recwarn: pytest.WarningsRecorder,
) -> None:
    import gc

    events = _Events()
    transport = _Transport()
    client = aio_request.setup(transport=transport, endpoint=ENDPOINT, event_hub=events.hub)
    async with client.request(get("x"), strategy=_TwoUndeclared()) as response:
        assert response.status == 200
    attempts = [event for event in events.events if isinstance(event, AttemptFinished)]
    assert [attempt.kind for attempt in attempts] == [AttemptKind.RETRY], "the second one asked for"
    assert len(transport.sent) == 1
    gc.collect()
    assert not [w for w in recwarn if "never awaited" in str(w.message)]
