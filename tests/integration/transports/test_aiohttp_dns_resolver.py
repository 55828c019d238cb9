"""AioHttpDnsResolver: caching, background refresh on a fake clock, dropping, closing, and use
by a real aiohttp connector (it is aiohttp-only, so these tests are not parametrised)."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import aiohttp.abc
import pytest

from aio_request.http.request import Request
from aio_request.testing import FakeClock
from aio_request.transports.aiohttp import AioHttpDnsResolver, AioHttpTransport

from .fault_server import FaultServer

pytestmark = pytest.mark.timeout(30)


class ScriptedResolver(aiohttp.abc.AbstractResolver):
    """Answers from ``answers`` (addresses, or an exception to raise) and records the calls."""

    def __init__(self, answers: dict[str, list[str] | Exception]) -> None:
        self.answers = answers
        self.calls: list[str] = []
        self.closed = False

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        self.calls.append(host)
        answer = self.answers[host]
        if isinstance(answer, Exception):
            raise answer
        return [
            aiohttp.abc.ResolveResult(
                hostname=host, host=address, port=port, family=family, proto=0, flags=socket.AI_NUMERICHOST
            )
            for address in answer
        ]

    async def close(self) -> None:
        self.closed = True


def addresses(results: list[aiohttp.abc.ResolveResult]) -> list[str]:
    return [result["host"] for result in results]


async def test_first_resolution_goes_through_and_later_ones_are_cached() -> None:
    inner = ScriptedResolver({"svc.test": ["10.0.0.1", "10.0.0.2"]})
    resolver = AioHttpDnsResolver(inner, clock=FakeClock())

    first = await resolver.resolve("svc.test", 80)
    second = await resolver.resolve("svc.test", 80)

    assert addresses(first) == addresses(second) == ["10.0.0.1", "10.0.0.2"]
    assert first[0]["port"] == 80
    assert inner.calls == ["svc.test"]
    await resolver.close()


async def test_refresh_task_starts_with_the_first_resolution() -> None:
    clock = FakeClock()
    resolver = AioHttpDnsResolver(ScriptedResolver({"svc.test": ["10.0.0.1"]}), interval=5, clock=clock)
    await asyncio.sleep(0)
    assert clock.sleepers == 0

    await resolver.resolve("svc.test")
    await asyncio.sleep(0)

    assert clock.sleepers == 1
    assert clock.next_wake_time == 5
    await resolver.close()


async def test_cached_addresses_are_refreshed_every_interval() -> None:
    clock = FakeClock()
    inner = ScriptedResolver({"svc.test": ["10.0.0.1"]})
    resolver = AioHttpDnsResolver(inner, interval=30, clock=clock)
    await resolver.resolve("svc.test")
    inner.answers["svc.test"] = ["10.0.0.9"]

    await clock.advance(29)
    assert addresses(await resolver.resolve("svc.test")) == ["10.0.0.1"]
    await clock.advance(1)
    assert addresses(await resolver.resolve("svc.test")) == ["10.0.0.9"]
    await clock.advance(60)

    assert inner.calls == ["svc.test"] * 4
    await resolver.close()


async def test_host_is_dropped_after_max_failures_failed_refreshes() -> None:
    clock = FakeClock()
    inner = ScriptedResolver({"svc.test": ["10.0.0.1"]})
    resolver = AioHttpDnsResolver(inner, interval=10, max_failures=3, clock=clock)
    await resolver.resolve("svc.test")
    inner.answers["svc.test"] = OSError("no such host")

    await clock.advance(20)  # two failed refreshes: still served from the cache
    assert addresses(await resolver.resolve("svc.test")) == ["10.0.0.1"]
    await clock.advance(10)  # the third one drops it
    calls_before = len(inner.calls)

    with pytest.raises(OSError, match="no such host"):
        await resolver.resolve("svc.test")
    assert len(inner.calls) == calls_before + 1
    await resolver.close()


async def test_successful_refresh_resets_the_failure_count() -> None:
    clock = FakeClock()
    inner = ScriptedResolver({"svc.test": ["10.0.0.1"]})
    resolver = AioHttpDnsResolver(inner, interval=10, max_failures=2, clock=clock)
    await resolver.resolve("svc.test")

    inner.answers["svc.test"] = OSError("flaky")
    await clock.advance(10)
    inner.answers["svc.test"] = ["10.0.0.2"]
    await clock.advance(10)
    inner.answers["svc.test"] = OSError("flaky")
    await clock.advance(10)

    assert addresses(await resolver.resolve("svc.test")) == ["10.0.0.2"]
    assert inner.calls == ["svc.test"] * 4
    await resolver.close()


async def test_failed_first_resolution_propagates_and_is_not_cached() -> None:
    inner = ScriptedResolver({"svc.test": OSError("no such host")})
    resolver = AioHttpDnsResolver(inner, clock=FakeClock())

    for _ in range(2):
        with pytest.raises(OSError, match="no such host"):
            await resolver.resolve("svc.test")

    assert inner.calls == ["svc.test", "svc.test"]
    await resolver.close()


async def test_close_cancels_and_awaits_the_refresh_task_and_closes_the_inner_resolver() -> None:
    clock = FakeClock()
    inner = ScriptedResolver({"svc.test": ["10.0.0.1"]})
    resolver = AioHttpDnsResolver(inner, clock=clock)
    await resolver.resolve("svc.test")
    others = asyncio.all_tasks() - {asyncio.current_task()}
    assert len(others) == 1

    await resolver.close()
    await resolver.close()

    assert all(task.done() for task in others)
    assert clock.sleepers == 0
    assert inner.closed
    with pytest.raises(RuntimeError, match="closed"):
        await resolver.resolve("svc.test")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"interval": 0}, "interval must be a finite number > 0, got 0"),
        ({"max_failures": 0}, "max_failures must be an int >= 1, got 0"),
    ],
)
def test_invalid_options_are_refused(options: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AioHttpDnsResolver(ScriptedResolver({}), **options)  # type: ignore[arg-type]


async def test_aiohttp_connector_uses_the_cached_resolution(fault_server: FaultServer) -> None:
    inner = ScriptedResolver({"fault.test": ["127.0.0.1"]})
    resolver = AioHttpDnsResolver(inner)
    connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False, force_close=True)
    endpoint = fault_server.url.with_host("fault.test")
    try:
        async with aiohttp.ClientSession(connector=connector) as session:
            transport = AioHttpTransport(session)
            for _ in range(2):
                response = await transport.send(endpoint, Request(method="GET", url="ok"), timeout=5.0)
                assert response.status == 200
    finally:
        await resolver.close()

    assert fault_server.connections_accepted == 2
    assert inner.calls == ["fault.test"]
    assert fault_server.requests[0].headers["Host"] == endpoint.raw_authority
