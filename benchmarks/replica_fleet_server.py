"""Replica servers for ``replicas.py``, run in their own process and driven through stdin.

One command per line, each answered by one line on stdout:

* ``start NAME HOST PORT`` → ``started PORT`` (port 0 picks one): a replica answering
  ``GET /thing`` after ``--base-delay`` seconds (and ``GET /warmup`` at once);
* ``stop NAME`` → ``stopped``: close its listener and connections (in-flight requests get up to
  0.5 s to finish): connections are then refused;
* ``set NAME BEHAVIOUR [DELAY]`` → ``ok``: ``ok`` (the base delay), ``slow`` (DELAY seconds),
  ``fail`` (500 after the base delay) or ``blackhole`` (accepts, never answers);
* ``hits`` → a JSON object of name → ``GET /thing`` requests received since the last ``hits``.
"""

from __future__ import annotations

import asyncio
import json
import sys

import aiohttp.web


class Replica:
    """One replica server."""

    def __init__(self, base_delay: float) -> None:
        self.behaviour = "ok"
        self.delay = base_delay
        self.base_delay = base_delay
        self.hits = 0
        self.runner: aiohttp.web.AppRunner | None = None

    async def thing(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        self.hits += 1
        if self.behaviour == "blackhole":
            await asyncio.Event().wait()
        await asyncio.sleep(self.delay if self.behaviour == "slow" else self.base_delay)
        return aiohttp.web.Response(status=500 if self.behaviour == "fail" else 200, text="ok")

    async def warmup(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(text="ok")

    async def start(self, host: str, port: int) -> int:
        app = aiohttp.web.Application()
        app.router.add_get("/thing", self.thing)
        app.router.add_get("/warmup", self.warmup)
        self.runner = aiohttp.web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5
        )
        await self.runner.setup()
        await aiohttp.web.TCPSite(self.runner, host, port, backlog=1024, reuse_address=True).start()
        bound: int = self.runner.addresses[0][1]
        return bound

    async def stop(self) -> None:
        runner, self.runner = self.runner, None
        if runner is not None:
            await runner.cleanup()


async def serve(base_delay: float) -> None:
    """Answer commands from stdin until it closes."""
    loop = asyncio.get_running_loop()
    replicas: dict[str, Replica] = {}
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        command, *args = line.split()
        if command == "start":
            name, host, port = args
            replica = replicas.setdefault(name, Replica(base_delay))
            reply = f"started {await replica.start(host, int(port))}"
        elif command == "stop":
            await replicas[args[0]].stop()
            reply = "stopped"
        elif command == "set":
            replica = replicas[args[0]]
            replica.behaviour = args[1]
            if len(args) > 2:
                replica.delay = float(args[2])
            reply = "ok"
        elif command == "hits":
            reply = json.dumps({name: replica.hits for name, replica in replicas.items()})
            for replica in replicas.values():
                replica.hits = 0
        else:
            reply = f"unknown command {command!r}"
        sys.stdout.write(reply + "\n")
        sys.stdout.flush()
    for replica in replicas.values():
        await replica.stop()


if __name__ == "__main__":
    asyncio.run(serve(float(sys.argv[1]) if len(sys.argv) > 1 else 0.005))
