"""An https request to an IP address with a ``Host`` header is verified against the Host's name.

A real TLS server on 127.0.0.1 presents a certificate for ``service.test`` only (issued by a
test CA the clients trust): reached by address, it is accepted when the request carries
``Host: service.test`` and refused otherwise, on both transports and through a balanced client.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import aiohttp.web
import httpx
import pytest
import trustme
import yarl
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict

import aio_request
from aio_request import BalancedEndpointProvider, StaticReplicas, get
from aio_request._core.errors import FailureKind
from aio_request.events import EventHub
from aio_request.http.request import Request
from aio_request.http.transport import Transport
from aio_request.transports._tls_name import tls_server_name
from aio_request.transports.aiohttp import AioHttpTransport
from aio_request.transports.httpx import HttpxTransport

pytestmark = pytest.mark.timeout(30)


@dataclass
class _TlsServer:
    url: yarl.URL
    """``https://127.0.0.1:<port>/``"""
    client_context: ssl.SSLContext
    """Trusts the test CA (and nothing else)."""
    seen_hosts: list[str]


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_server(authority: trustme.CA) -> AsyncIterator[_TlsServer]:
    seen: list[str] = []

    async def hello(request: aiohttp.web.Request) -> aiohttp.web.Response:
        seen.append(request.headers.get("Host", ""))
        return aiohttp.web.Response(text="hello")

    app = aiohttp.web.Application()
    app.router.add_get("/hello", hello)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("service.test").configure_cert(server_context)
    runner = aiohttp.web.AppRunner(app, access_log=None)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context)
    await site.start()
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    try:
        port = runner.addresses[0][1]
        yield _TlsServer(yarl.URL(f"https://127.0.0.1:{port}/"), client_context, seen)
    finally:
        await runner.cleanup()


@pytest.fixture(params=["aiohttp", "httpx"])
async def transport(request: pytest.FixtureRequest, tls_server: _TlsServer) -> AsyncIterator[Transport]:
    if request.param == "aiohttp":
        connector = aiohttp.TCPConnector(ssl=tls_server.client_context)
        async with aiohttp.ClientSession(connector=connector) as session:
            yield AioHttpTransport(session)
    else:
        async with httpx.AsyncClient(verify=tls_server.client_context) as client:
            yield HttpxTransport(client)


async def _send(transport: Transport, server: _TlsServer, host: str | None) -> aio_request.ClosableResponse:
    headers = None if host is None else {"Host": host}
    request = Request(method="GET", url="hello", headers=headers)
    return await transport.send(server.url, request, timeout=5.0)


async def test_the_certificate_is_verified_against_the_host_header_name(
    transport: Transport, tls_server: _TlsServer
) -> None:
    port = tls_server.url.port
    response = await _send(transport, tls_server, f"service.test:{port}")
    try:
        assert response.status == 200
        assert await response.read() == b"hello"
    finally:
        await response.close()
    assert tls_server.seen_hosts == [f"service.test:{port}"]


@pytest.mark.parametrize("host", [None, "other.test", "127.0.0.1"])
async def test_any_other_name_is_still_refused(
    transport: Transport, tls_server: _TlsServer, host: str | None
) -> None:
    response = await _send(transport, tls_server, host)
    try:
        assert response.status == 489
        assert response.failure is not None
        assert response.failure.kind is FailureKind.CONNECT
    finally:
        await response.close()
    assert tls_server.seen_hosts == []


async def test_a_balanced_client_reaches_an_https_replica_by_address(
    transport: Transport, tls_server: _TlsServer
) -> None:
    service = tls_server.url.with_host("service.test")
    provider = BalancedEndpointProvider(StaticReplicas([tls_server.url], service_url=service))
    client = aio_request.setup(
        transport=transport, endpoint_provider=provider, event_hub=EventHub(), timeout=5.0
    )
    try:
        for _ in range(3):
            async with client.request(get("hello")) as response:
                assert response.status == 200
    finally:
        await provider.aclose()
    assert tls_server.seen_hosts == [f"service.test:{tls_server.url.port}"] * 3


@pytest.mark.parametrize(
    ("url", "host", "name"),
    [
        ("https://10.0.0.1:8443/", "users.internal:8443", "users.internal"),
        ("https://10.0.0.1/", "Users.Internal", "users.internal"),
        ("https://[::1]:8443/", "users.internal", "users.internal"),
        ("https://10.0.0.1/", "[::1]:8443", None),
        ("https://10.0.0.1/", "10.0.0.2", None),
        ("http://10.0.0.1/", "users.internal", None),
        ("https://users.internal/", "users.internal", None),
        ("https://10.0.0.1/", "", None),
        ("https://10.0.0.1/", "users.internal:bad", None),
        ("https://10.0.0.1/", "%75sers.internal", None),
        ("https://10.0.0.1/", "users.internal.", "users.internal"),
    ],
)
def test_the_tls_server_name_rule(url: str, host: str, name: str | None) -> None:
    assert tls_server_name(yarl.URL(url), CIMultiDict({"Host": host})) == name
    assert tls_server_name(yarl.URL(url), CIMultiDict()) is None


@given(host=st.text(max_size=40))
def test_any_host_header_gives_a_name_without_port_or_none(host: str) -> None:
    name = tls_server_name(yarl.URL("https://10.0.0.1/"), CIMultiDict({"Host": host}))
    assert name is None or re.fullmatch(r"[a-z0-9.-]+", name)
