"""Run one documentation code block (read from stdin) the way a reader would paste it.

The block runs in a fresh interpreter with a loopback HTTP service on 127.0.0.2 (Linux routes all
of 127/8 to loopback): every host name it uses (``endpoint``, ``users.internal`` ...) resolves to
that address, and every connection to it reaches the service whatever the port, so examples keep
their realistic URLs. IP addresses outside loopback (``10.0.0.5`` in a replicas example) are sent
to the service too: no block ever reaches beyond this machine. Loopback addresses the block uses
itself (``127.0.0.1``) are left alone. The
service answers every path with a small JSON document. Top-level
``await`` / ``async with`` are allowed, as in ``python -m asyncio``.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import ipaddress
import socket
import sys
import threading
from typing import Any

from aiohttp import web

_real_getaddrinfo = socket.getaddrinfo
_real_create_connection = asyncio.BaseEventLoop.create_connection
SERVICE_HOST = "127.0.0.2"


async def _answer(request: web.Request) -> web.Response:
    return web.json_response({"method": request.method, "path": request.path, "id": 42, "name": "Ann"})


def _serve(ready: threading.Event, address: list[int]) -> None:
    async def main() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", _answer)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, SERVICE_HOST, 0)
        await site.start()
        address.append(runner.addresses[0][1])
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def _is_loopback_ip(host: Any) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main() -> None:
    source = sys.stdin.read()
    ready = threading.Event()
    address: list[int] = []
    threading.Thread(target=_serve, args=(ready, address), daemon=True).start()
    if not ready.wait(10):
        raise RuntimeError("the loopback service did not start")
    port = address[0]

    def getaddrinfo(host: Any, service: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, bytes):
            host = host.decode()
        if host in (None, "localhost") or _is_loopback_ip(host):
            return _real_getaddrinfo(host, service, *args, **kwargs)
        return _real_getaddrinfo(SERVICE_HOST, port, *args, **kwargs)

    async def create_connection(
        self: Any, protocol_factory: Any, host: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        if host is not None and not _is_loopback_ip(host) and host != "localhost":
            host = SERVICE_HOST  # an address beyond this machine: never reached
        if host == SERVICE_HOST:  # clients that reconnect to the resolved address with their own port
            if args:
                args = (port, *args[1:])
            else:
                kwargs["port"] = port
        return await _real_create_connection(self, protocol_factory, host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    asyncio.BaseEventLoop.create_connection = create_connection  # type: ignore[method-assign]
    code = compile(source, "<docs block>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    if code.co_flags & inspect.CO_COROUTINE:
        asyncio.run(eval(code, namespace))
    else:
        exec(code, namespace)


if __name__ == "__main__":
    main()
