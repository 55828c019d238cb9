"""The balanced endpoint provider: every attempt of a call goes to a replica picked for it.

It sits with the other endpoint providers (above the pipeline); what it balances with — replica
sources, pick policies, outlier detection — is :mod:`aio_request.balancing`.

The provider's :meth:`~BalancedEndpointProvider.get` gives the service URL, so the strategy,
the retry and hedge budgets and the call's telemetry see one service. Its
:meth:`~BalancedEndpointProvider.call_pipeline` wraps the client's pipeline for one call: each
attempt picks a replica — avoiding those the call already used while another is usable (Envoy's
``previous_hosts``, gRPC A6) — and is sent to it through the whole pipeline, so the circuit
breaker, scoped by endpoint URL, keeps one circuit per replica. When a replica's circuit answers
the local fallback, the attempt moves on to another replica at once; the fallback reaches the
caller only when no replica is usable.
"""

from __future__ import annotations

import asyncio
import random as _random
from collections.abc import Callable
from types import TracebackType
from typing import Final

import yarl

from aio_request._core.clock import MONOTONIC_CLOCK, Clock
from aio_request._core.errors import FailureKind, TransportFailure
from aio_request.balancing.balancer import Balancer
from aio_request.balancing.outliers import (
    DEFAULT_OUTLIER_DETECTION,
    NETWORK_ERROR_STATUS,
    Outcome,
    OutlierDetection,
    classify_outcome,
)
from aio_request.balancing.policies import PickPolicy
from aio_request.balancing.replica import Replica
from aio_request.balancing.replicas import ReplicaSource
from aio_request.client.endpoint import EndpointProvider
from aio_request.events import DEFAULT_EVENT_HUB, EventHub
from aio_request.http.deadline import Deadline
from aio_request.http.priority import Priority
from aio_request.http.request import Request
from aio_request.http.response import ClosableResponse, EmptyResponse
from aio_request.pipeline import NextModuleFunc
from aio_request.policies.retry_after import retry_after_seconds

_CANCELLED_STATUS: Final = 499
_ERROR_STATUS: Final = 0


class NoReplicasError(LookupError):
    """A balanced service has no replica yet (kept as the cause of the synthetic 489)."""


class BalancedEndpointProvider(EndpointProvider):
    """Spreads the attempts of every call over the replicas of one service.

    ``replicas`` is a :class:`StaticReplicas` or :class:`DnsReplicas` (any
    :class:`~aio_request.balancing.replicas.ReplicaSource`). Options, validated here:

    | option | default |
    |---|---|
    | ``policy`` | :class:`PeakEwmaPolicy`: P2C over latency * (pending + 1) |
    | ``outlier_detection`` | :class:`OutlierDetection` (see its defaults); ``None``: off |
    | ``panic_threshold`` | 0.5: below half the replicas usable, balance over all of them |
    | ``slow_start_seconds`` | 0.0: a replica added later takes its full share at once |

    ``clock``, ``random`` (a function returning floats in ``[0, 1)``) and ``event_hub`` (for the
    replica events) are injectable. A :class:`DnsReplicas` source is started on the first call
    and refreshes in the background until :meth:`aclose` (or ``async with provider:``).

    Example: ``BalancedEndpointProvider(StaticReplicas(["http://10.0.0.5:8080/"]))``.
    """

    __slots__ = ("_lock", "_service_url", "_source", "_started", "balancer")

    def __init__(
        self,
        replicas: ReplicaSource,
        *,
        policy: PickPolicy | None = None,
        outlier_detection: OutlierDetection | None = DEFAULT_OUTLIER_DETECTION,
        panic_threshold: float = 0.5,
        slow_start_seconds: float = 0.0,
        clock: Clock = MONOTONIC_CLOCK,
        random: Callable[[], float] | None = None,
        event_hub: EventHub = DEFAULT_EVENT_HUB,
    ) -> None:
        if not isinstance(replicas, ReplicaSource):
            raise ValueError(f"replicas must be a StaticReplicas or DnsReplicas, got {replicas!r}")
        self._source = replicas
        self._service_url = replicas.service_url
        self.balancer = Balancer(
            str(self._service_url),
            now=clock.now,
            random=random if random is not None else _random.Random().random,
            policy=policy,
            outlier_detection=outlier_detection,
            panic_threshold=panic_threshold,
            slow_start_seconds=slow_start_seconds,
            event_hub=event_hub,
        )
        """The replicas and their state (read-only use: inspection and tests)."""
        self._started = False
        self._lock: asyncio.Lock | None = None

    async def get(self) -> yarl.URL:
        """The service URL; the first call also starts the replica source."""
        if not self._started:
            await self.start()
        return self._service_url

    async def start(self) -> None:
        """Start the replica source now (otherwise the first call does)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if not self._started:
                await self._source.start(self.balancer.update)
                self._started = True

    def call_pipeline(self, pipeline: NextModuleFunc) -> NextModuleFunc:
        """``pipeline`` routed per attempt to a replica, for one call."""
        return _BalancedCall(self.balancer, self._source, pipeline).send

    async def aclose(self) -> None:
        """Stop refreshing the replicas (a :class:`DnsReplicas` source's background lookups)."""
        await self._source.aclose()

    async def __aenter__(self) -> BalancedEndpointProvider:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


class _BalancedCall:
    """The replicas one call used, and the per-attempt routing."""

    __slots__ = ("_balancer", "_pipeline", "_source", "_used")

    def __init__(self, balancer: Balancer, source: ReplicaSource, pipeline: NextModuleFunc) -> None:
        self._balancer = balancer
        self._source = source
        self._pipeline = pipeline
        self._used: list[Replica] = []

    async def send(
        self, endpoint: yarl.URL, request: Request, deadline: Deadline, priority: Priority
    ) -> ClosableResponse:
        balancer = self._balancer
        used = self._used
        bounced: list[Replica] = []
        while True:
            replica = balancer.pick(used)
            if replica is None:
                error = NoReplicasError(f"no replicas of {balancer.service} yet")
                return EmptyResponse(
                    status=NETWORK_ERROR_STATUS, failure=TransportFailure(FailureKind.CONNECT, error)
                )
            if replica not in used:
                used.append(replica)
            host = replica.host
            sent = request if host is None else request.update_headers({"Host": host})
            started_at = balancer.attempt_started(replica)
            try:
                response = await self._pipeline(replica.url, sent, deadline, priority)
            except BaseException as error:
                cancelled = isinstance(error, asyncio.CancelledError)
                balancer.attempt_finished(
                    replica,
                    started_at,
                    Outcome.CANCELLED if cancelled else Outcome.NEUTRAL,
                    _CANCELLED_STATUS if cancelled else _ERROR_STATUS,
                    None,
                )
                raise
            failure = response.failure
            if failure is not None and failure.kind is FailureKind.CIRCUIT_OPEN:
                balancer.attempt_finished(replica, started_at, Outcome.NEUTRAL, response.status, None)
                balancer.circuit_open(replica)
                bounced.append(replica)
                if len(bounced) < len(balancer.replicas) and not balancer.panic:
                    await response.close()
                    continue  # nothing was sent: try another replica within this attempt
                return response
            outcome = classify_outcome(response)
            retry_after = retry_after_seconds(response) if outcome is Outcome.OVERLOAD else None
            if failure is not None and failure.kind is FailureKind.CONNECT:
                self._source.connect_failed()
            balancer.attempt_finished(replica, started_at, outcome, response.status, retry_after)
            return response
