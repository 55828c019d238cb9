"""The seed's first example, run verbatim against an embedded loopback aiohttp service."""

from __future__ import annotations

import aiohttp
import aiohttp.web

import aio_request


async def _thing(request: aiohttp.web.Request) -> aiohttp.web.Response:
    context = aio_request.get_context()
    timeout = context.deadline.timeout if context.deadline is not None else None
    return aiohttp.web.json_response({"thing": 42, "deadline_seen_by_server": timeout})


async def run_seed_example() -> str:
    """Start a service on 127.0.0.1, call it as the seed shows, and return what was printed."""
    app = aiohttp.web.Application(middlewares=[aio_request.aiohttp_middleware_factory()])
    app.router.add_get("/thing", _thing)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        async with aiohttp.ClientSession() as client_session:
            client = aio_request.setup(
                transport=aio_request.AioHttpTransport(client_session),
                endpoint=f"http://127.0.0.1:{port}/",
            )
            response_ctx = client.request(
                aio_request.get("thing"), deadline=aio_request.Deadline.from_timeout(5)
            )
            async with response_ctx as response:
                body = await response.json()
        return f"GET http://127.0.0.1:{port}/thing -> {response.status} {body}"
    finally:
        await runner.cleanup()
