"""A minimal aiohttp server for benchmarks, run in its own process: ``python loopback_server.py PORT_FILE``.

``GET /thing`` answers a small JSON body. The bound port is written to PORT_FILE.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import aiohttp.web


async def _thing(request: aiohttp.web.Request) -> aiohttp.web.Response:
    return aiohttp.web.Response(body=b'{"ok": true}', content_type="application/json")


async def serve(port_file: Path) -> None:
    """Serve until killed."""
    app = aiohttp.web.Application()
    app.router.add_get("/thing", _thing)
    runner = aiohttp.web.AppRunner(app, access_log=None)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port_file.write_text(str(runner.addresses[0][1]))  # noqa: ASYNC240 - once, at start-up
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve(Path(sys.argv[1])))
