"""Heavy load and hostile bodies: httpx under 1,000-10,000 concurrent calls, memory for huge bodies.

Usage::

    python benchmarks/hostile_load.py load [--calls 1000 10000] [--deadline 5] [--transport httpx]
    python benchmarks/hostile_load.py memory [--no-limit]

``load`` starts a loopback aiohttp server in another process whose ``/thing`` answers after a
seeded 0-20 ms, then fires all calls at once through one client (``setup()`` defaults, a
``--deadline`` second deadline each) and reports the time until the last call ended, the share
of calls that ended by their deadline (+50 ms of scheduling slack), the statuses, and the
client CPU per call.

``memory`` measures, each in a fresh process, the peak resident memory of one call whose
response is a 200 MB plain body, and of one whose 261 KB gzip body inflates to 256 MB, on
both transports. ``--no-limit`` passes ``max_response_size=None`` (the behaviour before the
limit existed). Prints markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import aiohttp.web
import httpx

import aio_request

BIG = 200 * 1000 * 1000
"""Bytes of the plain body of ``/big``."""
BOMB_INFLATED = 256 * 1024 * 1024
"""Bytes the gzip body of ``/bomb`` inflates to."""
SLACK = 0.05
"""Seconds past its deadline a call may end and still count as ending by it."""


async def _serve(port_file: Path) -> None:
    rng = random.Random(42)
    bomb = gzip.compress(b"\0" * BOMB_INFLATED, compresslevel=9)

    async def thing(request: aiohttp.web.Request) -> aiohttp.web.Response:
        await asyncio.sleep(rng.uniform(0, 0.02))
        return aiohttp.web.Response(body=b'{"ok": true}', content_type="application/json")

    async def big(request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        response = aiohttp.web.StreamResponse(headers={"Content-Length": str(BIG)})
        await response.prepare(request)
        chunk = b"x" * (1 << 20)
        left = BIG
        try:
            while left > 0:
                await response.write(chunk[: min(left, len(chunk))])
                left -= len(chunk)
        except ConnectionError:
            pass  # the client refused the body
        return response

    async def gzip_bomb(request: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(body=bomb, headers={"Content-Encoding": "gzip"})

    app = aiohttp.web.Application()
    app.router.add_get("/thing", thing)
    app.router.add_get("/big", big)
    app.router.add_get("/bomb", gzip_bomb)
    runner = aiohttp.web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    port_file.write_text(str(runner.addresses[0][1]))  # noqa: ASYNC240 - once, at start-up
    await asyncio.Event().wait()


class _Server:
    def __enter__(self) -> str:
        self._dir = tempfile.TemporaryDirectory()
        port_file = Path(self._dir.name) / "port"
        self._process = subprocess.Popen([sys.executable, __file__, "serve", str(port_file)])
        give_up = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > give_up:
                raise RuntimeError("the server did not start")
            time.sleep(0.05)
        return f"http://127.0.0.1:{port_file.read_text()}/"

    def __exit__(self, *exc_info: object) -> None:
        self._process.terminate()
        self._process.wait()
        self._dir.cleanup()


def _transport(kind: str, client: Any, **options: Any) -> aio_request.Transport:
    if kind == "httpx":
        return aio_request.HttpxTransport(client, **options)
    return aio_request.AioHttpTransport(client, **options)


def _client(kind: str) -> Any:
    if kind == "httpx":
        return httpx.AsyncClient()
    return aiohttp.ClientSession()


async def _close(client: Any) -> None:
    if isinstance(client, httpx.AsyncClient):
        await client.aclose()
    else:
        await client.close()


async def _load(
    endpoint: str, kind: str, calls: int, deadline: float, give_up: float, options: dict[str, Any]
) -> str:
    client = _client(kind)
    try:
        transport = _transport(kind, client, **options)
        api = aio_request.setup(transport=transport, endpoint=endpoint, timeout=deadline)
        statuses: dict[int, int] = {}
        late = 0
        worst = 0.0

        async def one() -> None:
            nonlocal late, worst
            started = time.monotonic()
            async with api.request(aio_request.get("thing")) as response:
                statuses[response.status] = statuses.get(response.status, 0) + 1
            took = time.monotonic() - started
            worst = max(worst, took)
            if took > deadline + SLACK:
                late += 1

        cpu = time.process_time()
        started = time.monotonic()
        tasks = [asyncio.ensure_future(one()) for _ in range(calls)]
        _, pending = await asyncio.wait(tasks, timeout=give_up)
        took = time.monotonic() - started
        cpu_per_call = (time.process_time() - cpu) / calls * 1e6
        if pending:
            ended = calls - len(pending)
            print(
                f"| {kind} | {calls:,} | {deadline:g} s | gave up after {took:.0f} s, {ended:,} ended "
                f"| - | {(ended - late) / calls:.1%} | - | - |",
                flush=True,
            )
            os._exit(1)  # cancelling thousands of stuck httpx calls could take minutes more
    finally:
        await _close(client)
    by_status = ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
    on_time = (calls - late) / calls
    return (
        f"| {kind} | {calls:,} | {deadline:g} s | {took:.1f} s | {worst:.2f} s | {on_time:.1%} "
        f"| {by_status} | {cpu_per_call:.0f} |"
    )


async def _one_big(endpoint: str, kind: str, path: str, no_limit: bool) -> str:
    client = _client(kind)
    options: dict[str, Any] = {}
    if no_limit:
        options["max_response_size"] = None
    try:
        transport = _transport(kind, client, **options)
        api = aio_request.setup(
            transport=transport,
            endpoint=endpoint,
            timeout=60,
            safe_method_strategy=aio_request.single_attempt_strategy(),
        )
        async with api.request(aio_request.get(path)) as response:
            body = await response.read()
            failure = response.failure.kind.value if response.failure is not None else "-"
            outcome = f"{response.status} ({failure}), {len(body):,} bytes"
    finally:
        await _close(client)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return f"{outcome} | {peak:.0f}"


def main(argv: list[str] | None = None) -> int:
    """Run what the command line asks for."""
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    load = sub.add_parser("load")
    load.add_argument("--calls", type=int, nargs="+", default=[1000, 10000])
    load.add_argument("--deadline", type=float, default=5.0)
    load.add_argument("--give-up", type=float, default=120.0, help="seconds before the run is abandoned")
    load.add_argument("--max-in-flight", type=int, help="HttpxTransport(max_in_flight=...)")
    load.add_argument("--transport", choices=["aiohttp", "httpx"], nargs="+", default=["httpx"])
    memory = sub.add_parser("memory")
    memory.add_argument("--no-limit", action="store_true")
    one = sub.add_parser("one")
    one.add_argument("endpoint")
    one.add_argument("transport")
    one.add_argument("path")
    one.add_argument("--no-limit", action="store_true")
    serve = sub.add_parser("serve")
    serve.add_argument("port_file", type=Path)
    options = parser.parse_args(argv)

    if options.command == "serve":
        asyncio.run(_serve(options.port_file))
        return 0
    if options.command == "one":
        print(asyncio.run(_one_big(options.endpoint, options.transport, options.path, options.no_limit)))
        return 0
    with _Server() as endpoint:
        if options.command == "load":
            print(
                "| transport | calls | deadline | all ended after | slowest call | ended by deadline "
                "| statuses | client CPU µs/call |"
            )
            print("|---|---|---|---|---|---|---|---|")
            for calls in options.calls:
                for kind in options.transport:
                    extra = {"max_in_flight": options.max_in_flight} if options.max_in_flight else {}
                    run = _load(endpoint, kind, calls, options.deadline, options.give_up, extra)
                    print(asyncio.run(run), flush=True)
        else:
            limit = "none" if options.no_limit else "default"
            print("| transport | body | limit | outcome | peak RSS MB |")
            print("|---|---|---|---|---|")
            for path, label in (("big", "200 MB plain"), ("bomb", "261 KB gzip → 256 MB")):
                for kind in ("aiohttp", "httpx"):
                    command = [sys.executable, __file__, "one", endpoint, kind, path]
                    if options.no_limit:
                        command.append("--no-limit")
                    result = subprocess.run(command, capture_output=True, text=True, check=False)
                    row = result.stdout.strip() or f"failed: {result.stderr.strip().splitlines()[-1:]}"
                    print(f"| {kind} | {label} | {limit} | {row} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
