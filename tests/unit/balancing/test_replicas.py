"""Replica sources: static lists and DNS lookups refreshed on a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
import yarl
from multidict import CIMultiDict, CIMultiDictProxy

from aio_request._core.errors import FailureKind, TransportFailure
from aio_request.balancing import DnsReplicas, Outcome, StaticReplicas, classify_outcome
from aio_request.balancing.balancer import ReplicaAddress
from aio_request.http.response import EmptyResponse
from aio_request.testing import FakeClock


class FakeDns:
    """Answers lookups from a mutable record list; raises when told to."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = list(addresses)
        self.error: Exception | None = None
        self.lookups: list[tuple[str, int, float]] = []
        self.clock: FakeClock | None = None

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.lookups.append((host, port, self.clock.now() if self.clock else 0.0))
        if self.error is not None:
            raise self.error
        return list(self.addresses)


class Updates(list[list[ReplicaAddress]]):
    def __call__(self, addresses: Sequence[ReplicaAddress]) -> None:
        self.append(list(addresses))

    @property
    def hosts(self) -> list[list[str]]:
        return [[str(url.host) for url, _host in update] for update in self]


def dns_replicas(dns: FakeDns, clock: FakeClock, **options: float) -> DnsReplicas:
    dns.clock = clock
    return DnsReplicas(
        "http://users.internal:8080/base/", resolver=dns, clock=clock, random=lambda: 0.5, **options
    )


def test_static_replicas_keep_their_own_host_unless_a_service_url_is_given() -> None:
    plain = StaticReplicas(["http://10.0.0.5:8080/", "http://10.0.0.6:8080/", "http://10.0.0.5:8080/"])
    updates = Updates()
    asyncio.run(plain.start(updates))
    assert updates == [[(yarl.URL("http://10.0.0.5:8080/"), None), (yarl.URL("http://10.0.0.6:8080/"), None)]]
    named = StaticReplicas(["http://10.0.0.5:8080/"], service_url="http://users.internal:8080/")
    assert named.service_url == yarl.URL("http://users.internal:8080/")
    asyncio.run(named.start(updates))
    assert updates[-1] == [(yarl.URL("http://10.0.0.5:8080/"), "users.internal:8080")]


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: StaticReplicas([]), "urls must hold at least one URL, got none"),
        (lambda: StaticReplicas("http://a/"), "urls must be a collection of URLs"),
        (lambda: StaticReplicas(["/relative"]), "urls must be an absolute http"),
        (lambda: StaticReplicas(["ftp://a/"]), "urls must be an absolute http"),
        (
            lambda: DnsReplicas("http://a/", refresh_interval=0),
            "refresh_interval must be a finite number > 0",
        ),
        (lambda: DnsReplicas("http://a/", jitter=1.0), r"jitter must be in \[0, 1\), got 1.0"),
        (lambda: DnsReplicas("a.internal"), "url must be an absolute http"),
    ],
)
def test_invalid_sources_are_refused(factory: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factory()  # type: ignore[operator]


async def test_dns_replicas_become_urls_with_the_services_host_header() -> None:
    clock = FakeClock()
    dns = FakeDns("127.0.0.2", "::1")
    source = dns_replicas(dns, clock)
    updates = Updates()
    await source.start(updates)
    try:
        assert updates == [
            [
                (yarl.URL("http://127.0.0.2:8080/base/"), "users.internal:8080"),
                (yarl.URL("http://[::1]:8080/base/"), "users.internal:8080"),
            ]
        ]
        assert dns.lookups == [("users.internal", 8080, 0.0)]
    finally:
        await source.aclose()


async def test_dns_is_looked_up_again_every_jittered_interval() -> None:
    clock = FakeClock()
    dns = FakeDns("127.0.0.2")
    draws = iter([0.0, 1.0 - 1e-9, 0.5])
    dns.clock = clock
    source = DnsReplicas(
        "http://svc:80/",
        refresh_interval=10.0,
        jitter=0.2,
        resolver=dns,
        clock=clock,
        random=lambda: next(draws),
    )
    await source.start(Updates())
    try:
        await clock.advance(29.0)
        times = [when for _host, _port, when in dns.lookups]
        assert times == [0.0, pytest.approx(8.0), pytest.approx(20.0)]  # 10 x 0.8, then 10 x 1.2
    finally:
        await source.aclose()


async def test_changed_records_are_delivered_and_a_failed_lookup_keeps_the_last_set() -> None:
    clock = FakeClock()
    dns = FakeDns("127.0.0.2", "127.0.0.3")
    source = dns_replicas(dns, clock, refresh_interval=5.0)
    updates = Updates()
    await source.start(updates)
    try:
        dns.addresses = ["127.0.0.3", "127.0.0.4"]
        await clock.advance(5.0)
        dns.error = OSError("SERVFAIL")
        await clock.advance(5.0)
        dns.error = None
        dns.addresses = []
        await clock.advance(5.0)
        assert len(dns.lookups) == 4
        assert updates.hosts == [["127.0.0.2", "127.0.0.3"], ["127.0.0.3", "127.0.0.4"]]
    finally:
        await source.aclose()


async def test_a_connect_error_brings_the_next_lookup_forward_at_most_once_a_second() -> None:
    clock = FakeClock()
    dns = FakeDns("127.0.0.2")
    source = dns_replicas(dns, clock, refresh_interval=60.0)
    await source.start(Updates())
    try:
        await clock.advance(0.5)
        source.connect_failed()
        source.connect_failed()
        await clock.advance(0.5)
        assert [when for *_, when in dns.lookups] == [0.0, 1.0]
        source.connect_failed()
        await clock.advance(0.5)  # the last lookup was 0.5 s ago: not yet
        assert len(dns.lookups) == 2
        await clock.advance(0.5)
        assert [when for *_, when in dns.lookups] == [0.0, 1.0, 2.0]
        await clock.advance(10.0)
        assert len(dns.lookups) == 3
    finally:
        await source.aclose()


async def test_without_a_first_set_lookups_are_retried_every_second() -> None:
    clock = FakeClock()
    dns = FakeDns()
    source = dns_replicas(dns, clock, refresh_interval=60.0)
    updates = Updates()
    await source.start(updates)
    try:
        assert not source.has_replicas
        await clock.advance(2.0)
        dns.addresses = ["127.0.0.9"]
        await clock.advance(1.0)
        assert [when for *_, when in dns.lookups] == [0.0, 1.0, 2.0, 3.0]
        assert updates.hosts == [["127.0.0.9"]]
        assert source.has_replicas
    finally:
        await source.aclose()


async def test_aclose_stops_the_refresh_and_a_source_starts_once() -> None:
    clock = FakeClock()
    dns = FakeDns("127.0.0.2")
    source = dns_replicas(dns, clock, refresh_interval=1.0)
    await source.start(Updates())
    with pytest.raises(RuntimeError, match="already started"):
        await source.start(Updates())
    await source.aclose()
    await clock.advance(10.0)
    assert len(dns.lookups) == 1
    assert clock.sleepers == 0


_RETRY_AFTER = CIMultiDictProxy(CIMultiDict({"Retry-After": "2"}))


@pytest.mark.parametrize(
    ("response", "outcome"),
    [
        (EmptyResponse(status=200), Outcome.SUCCESS),
        (EmptyResponse(status=404), Outcome.SUCCESS),
        (EmptyResponse(status=500), Outcome.FAILURE),
        (EmptyResponse(status=503), Outcome.FAILURE),
        (EmptyResponse(status=489), Outcome.FAILURE),
        (EmptyResponse(status=503, headers=_RETRY_AFTER), Outcome.OVERLOAD),
        (EmptyResponse(status=429), Outcome.OVERLOAD),
        (EmptyResponse(status=408), Outcome.NEUTRAL),
        (EmptyResponse(status=408, failure=TransportFailure(FailureKind.TIMEOUT)), Outcome.FAILURE),
        (EmptyResponse(status=489, failure=TransportFailure(FailureKind.CONNECT)), Outcome.FAILURE),
        (EmptyResponse(status=489, failure=TransportFailure(FailureKind.RESET)), Outcome.FAILURE),
        (EmptyResponse(status=408, failure=TransportFailure(FailureKind.DEADLINE)), Outcome.NEUTRAL),
        (EmptyResponse(status=502, failure=TransportFailure(FailureKind.CIRCUIT_OPEN)), Outcome.NEUTRAL),
        (
            EmptyResponse(status=488, failure=TransportFailure(FailureKind.TOO_MANY_REDIRECTS)),
            Outcome.SUCCESS,
        ),
    ],
)
def test_attempt_outcomes(response: EmptyResponse, outcome: Outcome) -> None:
    assert classify_outcome(response) is outcome
