"""Telemetry as a stream of small events, and the hub that delivers them to listeners.

The core emits events; adapters (Prometheus, OpenTelemetry, logging) subscribe to a hub and turn
them into metrics, spans or log lines. The core never imports an adapter. Emitting costs one
truth test when nobody listens, so events are free to leave on.

One call of ``client.request`` emits, in order: :class:`RequestStarted`; for every attempt an
:class:`AttemptStarted` and an :class:`AttemptFinished` (attempts of a hedged call overlap);
then :class:`RequestFinished` as soon as the response the caller gets is chosen (or the call
failed or was cancelled). All of them are emitted in the task that runs the call or the
attempt, so a listener may bind context (an OpenTelemetry span) on a ``*Started`` event and
release it on the matching ``*Finished`` one. Labels are low-cardinality by construction:
``path`` is the request's URL template (``users/{id}``), never the path with the ids filled in.

Every event is an immutable :class:`~typing.NamedTuple` (three times cheaper to build than a
frozen dataclass, and events are built on every call); kinds, verdicts, failures and circuit
states are the enums
of :mod:`aio_request._core.outcomes` (string enums: ``event.kind == "hedge"`` holds).

Integrations that are installed turn on by themselves: :data:`DEFAULT_EVENT_HUB` is given one
*automatic listener* factory, :func:`prometheus_default_listener`, that it calls the first time a
client or middleware is built on it, or at its first emission, whichever comes first;
``import aio_request`` imports no adapter. :meth:`EventHub.disable_auto_listeners` opts out,
and a hub of your own (``setup(event_hub=EventHub())``) has none unless you pass factories.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from aio_request._core.outcomes import (
    AttemptKind,
    BudgetKind,
    CircuitState,
    EjectionReason,
    FailureKind,
    ReplicaOutcome,
    ResponseVerdict,
    ShedReason,
)

if TYPE_CHECKING:
    from aio_request.http.priority import Priority
    from aio_request.http.request import Request

_log = logging.getLogger(__name__)


class ServerRequestFinished(NamedTuple):
    """A server middleware finished handling one request.

    ``route`` is the route's template (never the raw path), ``status`` 499 when the client went
    away and 500 for an unhandled error, ``client`` the caller's ``X-Service-Name`` (or "").
    """

    route: str
    method: str
    status: int
    client: str
    duration: float


class CircuitStateChanged(NamedTuple):
    """A circuit breaker moved the circuit of ``scope`` from ``old`` to ``new``.

    The client's scope is the endpoint URL string. Emitted on every transition: opened (closed or
    half-open → open), probing or throttling (→ half-open) and closed (→ closed).
    """

    scope: object
    old: CircuitState
    new: CircuitState


class BudgetExhausted(NamedTuple):
    """An extra attempt was not sent because a budget was empty.

    ``scope`` is the endpoint URL string, ``kind`` the kind of the attempt refused (``RETRY`` or
    ``HEDGE``) and ``budget`` the budget that refused it.
    """

    scope: str
    kind: AttemptKind
    budget: BudgetKind


class RequestStarted(NamedTuple):
    """A ``client.request`` call resolved its endpoint and is about to run its strategy.

    ``request_id`` identifies the call in every event it emits (unique within the process);
    ``endpoint`` is the endpoint URL as a string, ``path`` the request's URL template,
    ``timeout`` the seconds left of the call's deadline and ``priority`` its priority (the
    :class:`~aio_request.Priority` member, a ``str``).
    ``request`` is the caller's request (``request.build_url(...)`` gives the full URL).
    """

    request_id: int
    endpoint: str
    method: str
    path: str
    timeout: float
    priority: Priority
    request: Request


class RequestFinished(NamedTuple):
    """A ``client.request`` call chose the response its caller gets, failed or was cancelled.

    ``status`` is the chosen response's status (a synthetic one included: ``failure`` then names
    the local cause, e.g. ``"timeout"``, else it is ``None``), ``499`` when the caller cancelled
    the call and ``0`` when it raised (``error`` holds the exception). ``circuit_breaker`` is
    true when the response is the circuit breaker's fallback (``failure`` is
    ``"circuit_open"``). ``attempts`` counts the attempts started, ``duration`` is seconds from
    :class:`RequestStarted` on the client's clock (the caller's ``async with`` block is not
    included).
    """

    request_id: int
    endpoint: str
    method: str
    path: str
    status: int
    failure: FailureKind | None
    circuit_breaker: bool
    attempts: int
    cancelled: bool
    error: BaseException | None
    duration: float


class AttemptStarted(NamedTuple):
    """One attempt of a call is about to go through the pipeline.

    ``attempt`` counts from 1 within the call. ``kind`` is decided by the strategy that
    started it: ``FIRST``, ``RETRY`` (after a rejected response, nothing else in flight) or
    ``HEDGE`` (alongside an attempt still waiting for its response). ``timeout`` is the seconds
    left of the attempt's deadline.
    """

    request_id: int
    endpoint: str
    method: str
    path: str
    attempt: int
    kind: AttemptKind
    timeout: float
    request: Request


class AttemptFinished(NamedTuple):
    """One attempt got its response and verdict, failed or was cancelled.

    ``status`` is the response's status (synthetic ones included: ``failure`` then names the
    local cause, e.g. ``"timeout"`` or ``"connect"``, else it is ``None``), ``499`` when the
    attempt was cancelled (a losing hedge, or the caller went away) and ``0`` when it raised
    (``error``). ``verdict`` is ``ACCEPT`` or ``REJECT``, ``None`` without a response.
    ``duration`` is seconds from :class:`AttemptStarted` on the client's clock.
    """

    request_id: int
    endpoint: str
    method: str
    path: str
    attempt: int
    kind: AttemptKind
    status: int
    verdict: ResponseVerdict | None
    failure: FailureKind | None
    cancelled: bool
    error: BaseException | None
    duration: float


class ReplicasChanged(NamedTuple):
    """The replica set of a balanced ``service`` changed (first set included).

    ``added`` and ``removed`` are replica URL strings; removed replicas drain: they get no new
    attempts and the attempts already sent to them finish. ``replicas`` is the new set's size.
    """

    service: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    replicas: int


class ReplicaEjected(NamedTuple):
    """A replica of ``service`` stopped receiving attempts for ``seconds``.

    ``reason`` (an :class:`~aio_request._core.outcomes.EjectionReason`, equal to its string) is
    ``"failures"`` (consecutive failures: outlier ejection), ``"unanswered"`` (consecutive
    attempts cancelled before any response: outlier ejection too), ``"failure_backoff"`` (a
    failure short of ejection: out for a second per failure in a row), ``"circuit_open"`` (its
    circuit breaker answered with the local fallback) or ``"retry_after"`` (it answered a 429
    or a shed 503 with ``Retry-After``). ``times_ejected`` counts outlier ejections.
    """

    service: str
    replica: str
    reason: EjectionReason
    seconds: float
    times_ejected: int


class ReplicaRestored(NamedTuple):
    """An ejected replica of ``service`` may receive attempts again."""

    service: str
    replica: str


class BalancerPanicChanged(NamedTuple):
    """The balancer of ``service`` entered (``panic``) or left panic mode.

    In panic mode fewer than the panic threshold of the replicas are usable, and attempts are
    spread over all of them, ejected ones included. ``usable`` and ``replicas`` are the counts
    at the change.
    """

    service: str
    panic: bool
    usable: int
    replicas: int


class ReplicaAttemptFinished(NamedTuple):
    """One attempt sent to a replica of a balanced ``service`` ended.

    ``outcome`` (a :class:`~aio_request._core.outcomes.ReplicaOutcome`, equal to its string) is
    how the balancer counted it: ``"success"``, ``"failure"`` (5xx other than a
    shed 503, a connection failure, an attempt timeout), ``"overload"`` (429 or a 503 with
    ``Retry-After``: a latency penalty, not a failure), ``"neutral"`` (nothing learnt, e.g. the
    low-timeout guard answered) or ``"cancelled"``. ``status`` is as in :class:`AttemptFinished`;
    ``duration`` is seconds on the balancer's clock.
    """

    service: str
    replica: str
    status: int
    outcome: ReplicaOutcome
    duration: float


class OverloadLimitChanged(NamedTuple):
    """The concurrency limit of a server's overload protection moved from ``previous`` to ``limit``.

    Also emitted once when the protection is made, with ``previous`` 0.

    ``protection`` is the protection's name (``OverloadProtection(name=...)``, default ``"default"``).
    """

    protection: str
    limit: int
    previous: int


class OverloadAdmitted(NamedTuple):
    """Overload protection let a request's handler start.

    ``priority`` is the request's :class:`~aio_request.Priority`, ``queue_time`` the seconds it waited for
    a slot (0 when it started at once) and ``in_flight`` how many requests of that priority run
    now, itself included.
    """

    protection: str
    priority: Priority
    queue_time: float
    in_flight: int


class OverloadReleased(NamedTuple):
    """A handler admitted by overload protection finished; ``in_flight`` of its ``priority`` remain."""

    protection: str
    priority: Priority
    in_flight: int


class OverloadShed(NamedTuple):
    """Overload protection answered a request without running its handler.

    ``reason`` (a :class:`~aio_request._core.outcomes.ShedReason`, equal to its string) is
    ``"queue_full"`` (no slot and no room in the queue, or pushed out of it by a
    higher priority), ``"queue_timeout"`` (waited as long as the queue allows) — both answered
    ``503`` with ``Retry-After`` and ``X-Request-Shed`` — or ``"deadline"`` (less time left than
    the route's typical service time; ``408`` with ``X-Do-Not-Retry``).
    """

    protection: str
    route: str
    priority: Priority
    reason: ShedReason


Event = (
    ServerRequestFinished
    | CircuitStateChanged
    | BudgetExhausted
    | RequestStarted
    | RequestFinished
    | AttemptStarted
    | AttemptFinished
    | ReplicasChanged
    | ReplicaEjected
    | ReplicaRestored
    | BalancerPanicChanged
    | ReplicaAttemptFinished
    | OverloadLimitChanged
    | OverloadAdmitted
    | OverloadReleased
    | OverloadShed
)
"""Every event type the core emits."""

EVENT_TYPES: Final[tuple[type[Event], ...]] = (
    ServerRequestFinished,
    CircuitStateChanged,
    BudgetExhausted,
    RequestStarted,
    RequestFinished,
    AttemptStarted,
    AttemptFinished,
    ReplicasChanged,
    ReplicaEjected,
    ReplicaRestored,
    BalancerPanicChanged,
    ReplicaAttemptFinished,
    OverloadLimitChanged,
    OverloadAdmitted,
    OverloadReleased,
    OverloadShed,
)
"""The classes of :data:`Event`, for routing tables."""

EventListener = Callable[[Event], None]
"""Something told of events; it must be quick and must not raise.

A listener may narrow what it gets: with an ``event_types`` attribute (a collection of event
classes) the hub delivers only those; with an ``event_handlers`` attribute (a mapping of event
class → function) the hub calls those functions directly, one per class, and the listener itself
is never called. Emitters skip building events that no listener takes.
"""

EventHandler = Callable[[Any], None]
"""A function the hub calls with the events of one class (a listener, or one of its handlers)."""

ListenerFactory = Callable[[], EventListener | None]
"""Makes an automatic listener, or returns ``None`` when its integration is not available."""


def deliver(handlers: tuple[EventHandler, ...], event: Event) -> None:
    """Call each of ``handlers`` with ``event``; one that raises is logged and skipped."""
    for handler in handlers:
        try:
            handler(event)
        except Exception:
            _log.exception("telemetry listener %r failed", handler)


def _routes_of(
    listener: EventListener, event_types: Iterable[type] | None
) -> Mapping[type, EventHandler] | None:
    """Event class → handler for ``listener``; ``None`` when it takes every event."""
    if event_types is None:
        handlers: Mapping[type, EventHandler] | None = getattr(listener, "event_handlers", None)
        if handlers is not None:
            return dict(handlers)
        event_types = getattr(listener, "event_types", None)
        if event_types is None:
            return None
    return dict.fromkeys(event_types, listener)


class EventHub:
    """Delivers events to its listeners, in subscription order.

    A listener that raises is logged and skipped: telemetry never breaks a request.

    ``auto_listeners`` are factories of listeners for integrations that may be missing: each is
    called once, by :meth:`load_auto_listeners` (clients and middlewares call it when they are
    built) or at the first emission, whichever comes first, and returns a listener to subscribe
    or ``None`` to decline (its integration is not installed). A factory that raises is logged
    and skipped. Until then the hub counts as :attr:`active`, so the first emission does reach
    them. The default is none: ``EventHub()`` delivers only to what is subscribed to it.
    """

    __slots__ = ("_auto_unsubscribers", "_pending_auto", "_subscriptions", "active", "listeners_by_type")

    active: bool
    """Whether anyone listens (or may, once automatic listeners load): emitters test it before
    doing anything else. Read-only; it is an attribute rather than a property because it is read
    on every request."""

    listeners_by_type: Mapping[type, tuple[EventHandler, ...]]
    """Event class → the functions its events go to, for every class of :data:`EVENT_TYPES`.
    Hot paths read it once per call and build only the events somebody takes. Read-only, and
    complete once the automatic listeners are loaded."""

    def __init__(self, *, auto_listeners: Iterable[ListenerFactory] = ()) -> None:
        self._subscriptions: tuple[tuple[EventListener, Mapping[type, EventHandler] | None], ...] = ()
        self._pending_auto: tuple[ListenerFactory, ...] = tuple(auto_listeners)
        self._auto_unsubscribers: list[Callable[[], None]] = []
        self._rebuild()

    def _handlers_for(self, event_type: type) -> tuple[EventHandler, ...]:
        handlers: list[EventHandler] = []
        for listener, routes in self._subscriptions:
            if routes is None:
                handlers.append(listener)
            else:
                handler = routes.get(event_type)
                if handler is not None:
                    handlers.append(handler)
        return tuple(handlers)

    def _rebuild(self) -> None:
        self.listeners_by_type = {event_type: self._handlers_for(event_type) for event_type in EVENT_TYPES}
        self.active = bool(self._subscriptions) or bool(self._pending_auto)

    def subscribe(
        self, listener: EventListener, *, event_types: Iterable[type] | None = None
    ) -> Callable[[], None]:
        """Add ``listener``; returns a function that removes it again.

        ``event_types`` limits it to events of those classes; by default the listener's own
        ``event_handlers`` or ``event_types`` attribute decides (see :data:`EventListener`), else
        it gets every event.
        """
        subscription = (listener, _routes_of(listener, event_types))
        self._subscriptions = (*self._subscriptions, subscription)
        self._rebuild()

        def unsubscribe() -> None:
            self._subscriptions = tuple(x for x in self._subscriptions if x is not subscription)
            self._rebuild()

        return unsubscribe

    def load_auto_listeners(self) -> None:
        """Make and subscribe the automatic listeners now (once; later calls do nothing)."""
        pending, self._pending_auto = self._pending_auto, ()
        for factory in pending:
            listener = _make_auto_listener(factory)
            if listener is not None:
                self._auto_unsubscribers.append(self.subscribe(listener))
        self._rebuild()

    def disable_auto_listeners(self) -> None:
        """Never load the automatic listeners, and unsubscribe those already loaded.

        Listeners subscribed explicitly stay. For :data:`DEFAULT_EVENT_HUB` this turns off the
        Prometheus metrics that installing ``prometheus-client`` enables.
        """
        self._pending_auto = ()
        unsubscribers, self._auto_unsubscribers = self._auto_unsubscribers, []
        for unsubscribe in unsubscribers:
            unsubscribe()
        self._rebuild()

    def emit(self, event: Event) -> None:
        """Deliver ``event`` to every listener that takes its class."""
        if self._pending_auto:
            self.load_auto_listeners()
        event_type = type(event)
        handlers = self.listeners_by_type.get(event_type)
        deliver(self._handlers_for(event_type) if handlers is None else handlers, event)


def _make_auto_listener(factory: ListenerFactory) -> EventListener | None:
    try:
        return factory()
    except Exception:
        _log.exception("automatic telemetry listener %r failed to start", factory)
        return None


def prometheus_default_listener() -> EventListener | None:
    """The Prometheus adapter recording into ``prometheus_client.REGISTRY``, if installed.

    The automatic listener of :data:`DEFAULT_EVENT_HUB`; ``None`` without ``prometheus-client``.
    """
    try:
        # Imported here, not at the top: the adapter is an optional extra, and importing it
        # costs every program that does not use it.
        from aio_request.telemetry import prometheus
    except ImportError as error:
        _log.debug("Prometheus telemetry skipped: %s", error)
        return None
    return prometheus.default_listener()


DEFAULT_EVENT_HUB: Final = EventHub(auto_listeners=(prometheus_default_listener,))
"""The hub clients and middlewares use unless they are given another one.

When ``prometheus-client`` is installed, the Prometheus adapter subscribes itself here on first
use, recording into ``prometheus_client.REGISTRY`` (see :mod:`aio_request.telemetry.prometheus`
to use another registry, and :meth:`EventHub.disable_auto_listeners` to opt out).
"""
