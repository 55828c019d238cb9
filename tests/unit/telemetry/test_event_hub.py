"""The event hub: routing by event class, automatic listeners, opting out."""

from __future__ import annotations

import logging
import typing

import pytest

import aio_request
from aio_request._core.outcomes import AttemptKind, BudgetKind
from aio_request.events import (
    EVENT_TYPES,
    AttemptFinished,
    BudgetExhausted,
    Event,
    EventHub,
    RequestFinished,
    ServerRequestFinished,
)
from aio_request.testing import FakeTransport

from .helpers import Recorder

SERVED = ServerRequestFinished(route="/x", method="GET", status=200, client="", duration=0.1)
REFUSED = BudgetExhausted(scope="http://a/", kind=AttemptKind.RETRY, budget=BudgetKind.RETRY)

loaded: list[Recorder] = []


def make_recorder() -> Recorder:
    """An automatic-listener factory for the tests below."""
    recorder = Recorder()
    loaded.append(recorder)
    return recorder


def decline() -> None:
    """An automatic-listener factory whose integration is not configured."""
    return


AUTO = make_recorder


def broken() -> None:
    """An automatic-listener factory that fails."""
    raise RuntimeError("cannot start")


@pytest.fixture(autouse=True)
def _forget_loaded() -> None:
    loaded.clear()


def is_active(hub: EventHub) -> bool:
    return hub.active


def test_a_hub_is_active_only_while_someone_listens() -> None:
    hub = EventHub()
    assert not is_active(hub)
    unsubscribe = hub.subscribe(Recorder())
    assert is_active(hub)
    unsubscribe()
    assert not is_active(hub)
    assert all(hub.listeners_by_type[event_type] == () for event_type in EVENT_TYPES)


def test_listeners_get_events_in_subscription_order_and_a_failing_one_is_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = EventHub()
    seen: list[str] = []

    def first(event: object) -> None:
        seen.append("first")
        raise RuntimeError("boom")

    hub.subscribe(first)
    hub.subscribe(lambda event: seen.append("second"))
    with caplog.at_level(logging.ERROR):
        hub.emit(SERVED)
    assert seen == ["first", "second"]
    assert "failed" in caplog.records[0].getMessage()


def test_event_types_and_event_handlers_narrow_what_a_listener_gets() -> None:
    hub = EventHub()
    narrowed = Recorder()
    narrowed.event_types = frozenset({BudgetExhausted})  # type: ignore[attr-defined]
    handled: list[object] = []

    class WithHandlers:
        def __init__(self) -> None:
            self.event_handlers = {ServerRequestFinished: handled.append}

        def __call__(self, event: object) -> None:
            raise AssertionError("the hub calls the handlers, not the listener")

    hub.subscribe(narrowed)
    hub.subscribe(WithHandlers())
    explicit = Recorder()
    hub.subscribe(explicit, event_types=[ServerRequestFinished])
    hub.emit(SERVED)
    hub.emit(REFUSED)
    assert narrowed.events == [REFUSED]
    assert handled == [SERVED]
    assert explicit.events == [SERVED]
    assert hub.listeners_by_type[RequestFinished] == ()
    assert hub.listeners_by_type[AttemptFinished] == ()


def test_automatic_listeners_load_at_the_first_emission_and_receive_it() -> None:
    hub = EventHub(auto_listeners=[AUTO])
    assert hub.active, "pending automatic listeners count as listening"
    assert loaded == []
    hub.emit(SERVED)
    assert len(loaded) == 1
    assert loaded[0].events == [SERVED]
    hub.load_auto_listeners()
    assert len(loaded) == 1, "loaded once"


def test_building_a_client_loads_the_automatic_listeners() -> None:
    hub = EventHub(auto_listeners=[AUTO])
    aio_request.setup(transport=FakeTransport(), endpoint="http://a/", event_hub=hub)
    assert len(loaded) == 1
    assert hub.listeners_by_type[RequestFinished] == (loaded[0],)


def test_a_missing_integration_is_skipped_quietly_and_leaves_the_hub_inactive(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = EventHub(auto_listeners=[decline])
    with caplog.at_level(logging.WARNING):
        hub.load_auto_listeners()
    assert not hub.active
    assert caplog.records == []


def test_a_failing_factory_is_logged_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    hub = EventHub(auto_listeners=[broken, AUTO])
    with caplog.at_level(logging.ERROR):
        hub.load_auto_listeners()
    assert len(loaded) == 1, "the next factory still ran"
    assert "failed to start" in caplog.text


def test_disabling_automatic_listeners_before_or_after_they_load() -> None:
    before = EventHub(auto_listeners=[AUTO])
    before.disable_auto_listeners()
    assert not before.active
    before.emit(SERVED)
    assert loaded == []

    after = EventHub(auto_listeners=[AUTO])
    explicit = Recorder()
    after.subscribe(explicit)
    after.load_auto_listeners()
    after.disable_auto_listeners()
    after.emit(SERVED)
    assert loaded[0].events == []
    assert explicit.events == [SERVED], "explicit listeners stay"


def test_every_event_class_is_routed() -> None:
    """EVENT_TYPES lists exactly the members of the Event union: none is silently dropped."""
    assert set(EVENT_TYPES) == set(typing.get_args(Event))
