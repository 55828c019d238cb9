"""Balanced clients against real aiohttp replicas on loopback addresses."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
import httpx
import pytest
import yarl

import aio_request
from aio_request import (
    BalancedEndpointProvider,
    Client,
    DnsReplicas,
    LeastOutstandingPolicy,
    StaticReplicas,
    constant_delays,
    get,
    parallel_strategy,
    sequential_strategy,
)
from aio_request.events import EventHub
from aio_request.http.transport import Transport
from aio_request.transports.aiohttp import AioHttpTransport
from aio_request.transports.httpx import HttpxTransport

from .fleet import fleet, free_port


@pytest.fixture(params=["aiohttp", "httpx"])
async def transport(request: pytest.FixtureRequest) -> AsyncIterator[Transport]:
    if request.param == "aiohttp":
        async with aiohttp.ClientSession() as session:
            yield AioHttpTransport(session)
    else:
        async with httpx.AsyncClient() as client:
            yield HttpxTransport(client)


def client_for(transport: Transport, provider: BalancedEndpointProvider, **options: Any) -> Client:
    return aio_request.setup(
        transport=transport, endpoint_provider=provider, event_hub=EventHub(), timeout=5.0, **options
    )


NO_DELAY_RETRIES = sequential_strategy(delays_provider=constant_delays())


async def statuses(client: Client, count: int) -> list[int]:
    result = []
    for _ in range(count):
        async with client.request(get("thing")) as response:
            result.append(response.status)
    return result


@pytest.mark.parametrize("policy", [None, LeastOutstandingPolicy()], ids=["peak_ewma", "least_outstanding"])
async def test_a_replica_answering_500_is_retried_elsewhere_and_avoided(
    transport: Transport, policy: LeastOutstandingPolicy | None
) -> None:
    async with fleet() as (bad, good1, good2):
        bad.behaviour = "fail"
        provider = BalancedEndpointProvider(
            StaticReplicas([bad.url, good1.url, good2.url]), policy=policy, random=lambda: 0.0
        )
        client = client_for(
            transport,
            provider,
            safe_method_strategy=NO_DELAY_RETRIES,
            retry_budget=None,  # the first picks all go to the bad replica (random is always 0)
        )
        assert await statuses(client, 100) == [200] * 100
        # After each failure it is out of the draws for 1 s, 2 s, ... (the run is shorter).
        assert 1 <= bad.hits <= 2
        assert good1.hits + good2.hits == 100


async def test_a_replica_refusing_connections_costs_no_call(transport: Transport) -> None:
    async with fleet(("127.0.0.1",) * 2) as servers:
        refused = yarl.URL(f"http://127.0.0.1:{free_port()}/")
        provider = BalancedEndpointProvider(StaticReplicas([refused, *(s.url for s in servers)]))
        client = client_for(transport, provider, safe_method_strategy=NO_DELAY_RETRIES)
        assert await statuses(client, 100) == [200] * 100
        (refused_replica,) = [r for r in provider.balancer.replicas if r.url == refused]
        assert refused_replica.times_ejected <= 1
        assert sum(s.hits for s in servers) == 100


async def test_a_hedge_to_another_replica_beats_a_black_hole(transport: Transport) -> None:
    async with fleet(("127.0.0.1",) * 2) as (hole, good):
        hole.behaviour = "blackhole"
        provider = BalancedEndpointProvider(StaticReplicas([hole.url, good.url]))
        client = client_for(
            transport,
            provider,
            safe_method_strategy=parallel_strategy(
                attempts_count=2, delays_provider=constant_delays(delay=0.05)
            ),
        )
        for _ in range(20):
            started = time.monotonic()
            assert await statuses(client, 1) == [200]
            assert time.monotonic() - started < 1.0  # the hole would hold it for the 5 s timeout
        assert good.hits == 20
        for _ in range(100):
            if hole.in_flight == 0:
                break
            await asyncio.sleep(0.01)
        assert hole.in_flight == 0  # the losing attempts were cancelled and their connections closed


async def test_dns_replicas_follow_the_records_and_keep_the_host_header(transport: Transport) -> None:
    async with fleet(("127.0.0.2", "127.0.0.3", "127.0.0.4"), same_port=True) as (two, three, four):
        records = ["127.0.0.2", "127.0.0.3"]

        async def resolver(host: str, port: int) -> Sequence[str]:
            assert host == "users.internal"
            return list(records)

        service = f"http://users.internal:{two.port}/"
        async with BalancedEndpointProvider(
            DnsReplicas(service, refresh_interval=0.1, resolver=resolver)
        ) as provider:
            client = client_for(transport, provider)
            assert await statuses(client, 20) == [200] * 20
            assert two.hits + three.hits == 20
            records[:] = ["127.0.0.4"]
            for _ in range(100):
                if [r.url.host for r in provider.balancer.replicas] == ["127.0.0.4"]:
                    break
                await asyncio.sleep(0.02)
            assert await statuses(client, 10) == [200] * 10
            assert four.hits == 10
        assert {*two.hosts, *three.hosts, *four.hosts} == {f"users.internal:{two.port}"}


async def test_a_connect_error_refreshes_the_dns_records_early(transport: Transport) -> None:
    async with fleet(("127.0.0.3",)) as (alive,):
        records = ["127.0.0.2", "127.0.0.3"]  # nobody listens on 127.0.0.2
        lookups: list[float] = []

        async def resolver(host: str, port: int) -> Sequence[str]:
            lookups.append(time.monotonic())
            return list(records)

        async with BalancedEndpointProvider(
            DnsReplicas(f"http://users.internal:{alive.port}/", refresh_interval=60.0, resolver=resolver),
            random=lambda: 0.0,  # the first pick is the first record
        ) as provider:
            client = client_for(transport, provider, safe_method_strategy=NO_DELAY_RETRIES, retry_budget=None)
            records[:] = ["127.0.0.3"]
            assert await statuses(client, 10) == [200] * 10
            for _ in range(150):
                if len(lookups) >= 2:
                    break
                await asyncio.sleep(0.02)
            assert len(lookups) == 2
            assert lookups[1] - lookups[0] < 2.0
            assert [r.url.host for r in provider.balancer.replicas] == ["127.0.0.3"]
