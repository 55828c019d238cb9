"""aio_request beside raw aiohttp and the retry libraries people use with it, in one run.

A loopback aiohttp server runs in another process; the client process alternates slices of
``--slice`` GETs (concurrency ``--concurrency``, every call succeeding) over one shared
``aiohttp.ClientSession``:

* ``raw aiohttp``: ``session.get(url)`` and ``read()``;
* ``raw aiohttp + deadline headers and timeout``: the same GET carrying what a client that
  propagates deadlines must add: ``X-Request-Timeout`` and ``X-Request-Priority``, and a
  ``ClientTimeout`` bounded by the deadline (the floor under aio_request's figures);
* ``aiohttp-retry``: ``RetryClient`` with ``ExponentialRetry(attempts=3)``;
* ``backoff``: ``@backoff.on_exception(backoff.expo, aiohttp.ClientError, max_tries=3)``;
* ``tenacity``: ``@retry(stop=stop_after_attempt(3), wait=wait_exponential(), ...)``;
* ``aio_request`` single attempt with no telemetry listener (``event_hub=EventHub()``),
  single attempt with Prometheus on (the default hub, ``prometheus-client`` installed), and
  ``setup()`` defaults (sequential strategy, retry and hedge budgets) with Prometheus on.

The stable figure is client CPU per call relative to raw aiohttp *in the same round* (the
median of those ratios): throughput swings with whatever else the two cores are doing, CPU per
call much less. Throughput is reported beside it.

With ``--httpx``, a second table compares raw ``httpx`` with aio_request over its httpx
transport (single attempt, no listener) the same way.

Needs the ``bench`` extra (``make bench`` installs it).
Usage: ``python benchmarks/peers.py [--rounds 7] [--slice 2000] [--concurrency 64] [--httpx]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import aiohttp_retry
import backoff
import httpx
import tenacity

import aio_request
from aio_request.events import EventHub

HERE = Path(__file__).parent

Call = Callable[[], Awaitable[None]]


async def _run_slice(call: Call, count: int, concurrency: int) -> tuple[float, float]:
    """Run ``count`` calls with ``concurrency`` workers; return (requests/s, CPU µs per call)."""
    remaining = count

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    cpu_start, wall_start = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - wall_start, time.process_time() - cpu_start
    return count / wall, cpu / count * 1e6


def _calls(session: aiohttp.ClientSession, endpoint: str) -> dict[str, Call]:
    """Every client under test, each doing one successful GET of ``/thing`` and reading it."""
    url = endpoint + "thing"  # a str, parsed per call, as aio_request parses "thing" per call

    async def raw() -> None:
        async with session.get(url) as response:
            await response.read()

    default_timeout = 20.0

    async def raw_propagating() -> None:
        # What any client that propagates a deadline and a priority sends on top of a raw GET:
        # the two headers, and a timeout bounded by the deadline (aio_request's own floor).
        deadline = time.monotonic() + default_timeout
        left = deadline - time.monotonic()
        headers = {"X-Request-Timeout": f"{left:.3f}", "X-Request-Priority": "normal"}
        timeout = aiohttp.ClientTimeout(total=left)
        async with session.get(url, headers=headers, timeout=timeout) as response:
            await response.read()

    retry_client = aiohttp_retry.RetryClient(
        client_session=session, retry_options=aiohttp_retry.ExponentialRetry(attempts=3)
    )

    async def with_aiohttp_retry() -> None:
        async with retry_client.get(url) as response:
            await response.read()

    async def get_raising() -> None:
        async with session.get(url) as response:
            response.raise_for_status()
            await response.read()

    # Wrapped by calling the decorators: without the bench extra, mypy sees them as untyped.
    with_backoff: Call = backoff.on_exception(backoff.expo, aiohttp.ClientError, max_tries=3)(get_raising)
    with_tenacity: Call = tenacity.retry(
        stop=tenacity.stop_after_attempt(3),
        wait=tenacity.wait_exponential(multiplier=0.05),
        retry=tenacity.retry_if_exception_type(aiohttp.ClientError),
        reraise=True,
    )(get_raising)

    transport = aio_request.AioHttpTransport(session)
    single_off = aio_request.setup(
        transport=transport,
        endpoint=endpoint,
        safe_method_strategy=aio_request.single_attempt_strategy(),
        event_hub=EventHub(),
    )
    single_prometheus = aio_request.setup(
        transport=transport, endpoint=endpoint, safe_method_strategy=aio_request.single_attempt_strategy()
    )
    defaults = aio_request.setup(transport=transport, endpoint=endpoint)

    def library(client: aio_request.Client) -> Call:
        async def call() -> None:
            async with client.request(aio_request.get("thing")) as response:
                await response.read()

        return call

    return {
        "raw aiohttp": raw,
        "raw aiohttp + deadline headers and timeout": raw_propagating,
        "aiohttp-retry (3 attempts)": with_aiohttp_retry,
        "backoff + aiohttp (3 tries)": with_backoff,
        "tenacity + aiohttp (3 attempts)": with_tenacity,
        "aio_request, single attempt, no listener": library(single_off),
        "aio_request, single attempt, Prometheus": library(single_prometheus),
        "aio_request, setup() defaults, Prometheus": library(defaults),
    }


@contextlib.asynccontextmanager
async def _loopback_server() -> AsyncIterator[str]:
    """The endpoint of a loopback server running in another process."""
    with tempfile.TemporaryDirectory() as folder:
        port_file = Path(folder) / "port"
        # Started once, before anything is timed.
        server = subprocess.Popen([sys.executable, str(HERE / "loopback_server.py"), str(port_file)])  # noqa: ASYNC220
        try:
            for _ in range(200):
                if port_file.exists() and port_file.read_text():
                    break
                await asyncio.sleep(0.05)
            yield f"http://127.0.0.1:{port_file.read_text()}/"
        finally:
            server.terminate()
            server.wait()


async def _interleave(
    calls: dict[str, Call], rounds: int, slice_size: int, concurrency: int
) -> dict[str, list[tuple[float, float]]]:
    """(requests/s, CPU µs per call) of every client in every round, rounds interleaved."""
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in calls}
    for call in calls.values():  # warm-up: connections, caches, lazy telemetry
        await _run_slice(call, slice_size // 2, concurrency)
    for round_number in range(rounds):
        # Rotate the order so no client always runs right after the same one.
        names = list(calls)
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            results[name].append(await _run_slice(calls[name], slice_size, concurrency))
    return results


async def compare(rounds: int, slice_size: int, concurrency: int) -> dict[str, list[tuple[float, float]]]:
    """The aiohttp-based clients, interleaved."""
    async with _loopback_server() as endpoint:
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            return await _interleave(_calls(session, endpoint), rounds, slice_size, concurrency)


async def compare_httpx(
    rounds: int, slice_size: int, concurrency: int
) -> dict[str, list[tuple[float, float]]]:
    """Raw httpx and aio_request over its httpx transport (single attempt, no listener), interleaved."""
    async with _loopback_server() as endpoint:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(limits=limits) as http:
            url = endpoint + "thing"

            async def raw() -> None:
                response = await http.get(url)
                response.read()

            client = aio_request.setup(
                transport=aio_request.HttpxTransport(http),
                endpoint=endpoint,
                safe_method_strategy=aio_request.single_attempt_strategy(),
                event_hub=EventHub(),
            )

            async def library() -> None:
                async with client.request(aio_request.get("thing")) as response:
                    await response.read()

            calls: dict[str, Call] = {
                "raw httpx": raw,
                "aio_request over httpx, single attempt, no listener": library,
            }
            return await _interleave(calls, rounds, slice_size, concurrency)


def _table(results: dict[str, list[tuple[float, float]]], baseline: str) -> None:
    print(
        "| client | CPU per call vs "
        + baseline
        + " | client CPU µs per call | requests/s | throughput vs raw |"
    )
    print("|---|---|---|---|---|")
    raw = results[baseline]
    raw_rps = statistics.median(rps for rps, _ in raw)
    for name, runs in results.items():
        cpu_ratio = statistics.median(cpu / raw_cpu for (_, cpu), (_, raw_cpu) in zip(runs, raw, strict=True))
        rps = statistics.median(r for r, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"| {name} | {cpu_ratio:.2f} | {cpu:.0f} | {rps:,.0f} | {rps / raw_rps:.2f} |")


def main() -> None:
    """Run the comparison and print a markdown table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--slice", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--httpx", action="store_true", help="also compare raw httpx with the httpx transport"
    )
    args = parser.parse_args()
    results = asyncio.run(compare(args.rounds, args.slice, args.concurrency))
    print(
        f"Loopback, concurrency {args.concurrency}, {args.rounds} interleaved rounds of "
        f"{args.slice} calls per client (medians):"
    )
    _table(results, "raw aiohttp")
    if args.httpx:
        print()
        print("The same with httpx:")
        _table(asyncio.run(compare_httpx(args.rounds, args.slice, args.concurrency)), "raw httpx")


if __name__ == "__main__":
    main()
