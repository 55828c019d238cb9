"""Instructions the library executes per call, counted by valgrind's cachegrind.

Instruction counts are exact and repeatable on a busy machine, where timings swing by ±20 %, so
one run decides whether a change made the per-call path cheaper. Each case runs the same call
``--calls`` times over a transport that answers at once; the script runs the case twice under
``valgrind --tool=cachegrind`` (with ``--calls`` and with twice as many) and reports the
difference divided by ``--calls``: start-up and imports cancel out.

Usage::

    python benchmarks/instructions_per_call.py [--calls 2000] [--case single ...]
    python benchmarks/instructions_per_call.py --case single-off --case otel-metrics --case otel
    PYTHONPATH=/other/checkout/src python benchmarks/instructions_per_call.py   # compare a tree

``--run CASE N`` is the inner mode that valgrind runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable

import yarl

import aio_request
import aio_request.events


class _InstantTransport(aio_request.Transport):
    """Answers at once: ``200``, or ``503`` for the first ``rejected`` attempts of each call.

    It builds the request's URL, as every real transport does.

    Only root names are used, so the script also measures older checkouts (``PYTHONPATH``).
    """

    def __init__(self, rejected: int = 0) -> None:
        self._ok = aio_request.EmptyResponse(status=200)
        self._rejected = rejected
        self._seen = 0

    async def send(
        self, endpoint: yarl.URL, request: aio_request.Request, timeout: float
    ) -> aio_request.ClosableResponse:
        request.build_url(endpoint)  # as every real transport does
        self._seen += 1
        if self._seen % (self._rejected + 1):
            return aio_request.EmptyResponse(status=503)
        return self._ok


def _otel_hub(traces: bool) -> aio_request.events.EventHub:
    """A hub with only the OpenTelemetry listener: the SDK's meter provider (in-memory reader)
    and, with ``traces``, its tracer provider (no span processor: spans go nowhere)."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider

    from aio_request.telemetry.otel import OpenTelemetryListener

    hub = aio_request.events.EventHub()
    hub.subscribe(
        OpenTelemetryListener(
            meter_provider=MeterProvider(metric_readers=[InMemoryMetricReader()]),
            tracer_provider=TracerProvider(),
            traces=traces,
        )
    )
    return hub


def _case(name: str) -> Callable[[], Awaitable[None]]:
    hedged = aio_request.parallel_strategy(
        attempts_count=3, delays_provider=aio_request.constant_delays(delay=0.05)
    )
    endpoint = "http://instant.test/"
    if name == "single":
        client = aio_request.setup(
            transport=_InstantTransport(),
            endpoint=endpoint,
            safe_method_strategy=aio_request.single_attempt_strategy(),
        )
    elif name == "single-off":  # nobody listens: no telemetry at all
        client = aio_request.setup(
            transport=_InstantTransport(),
            endpoint=endpoint,
            safe_method_strategy=aio_request.single_attempt_strategy(),
            event_hub=aio_request.events.EventHub(),
        )
    elif name in ("otel-metrics", "otel"):  # the OpenTelemetry listener alone, SDK providers
        client = aio_request.setup(
            transport=_InstantTransport(),
            endpoint=endpoint,
            safe_method_strategy=aio_request.single_attempt_strategy(),
            event_hub=_otel_hub(traces=name == "otel"),
        )
    elif name == "defaults":
        client = aio_request.setup(transport=_InstantTransport(), endpoint=endpoint)
    elif name == "hedged":
        client = aio_request.setup(
            transport=_InstantTransport(rejected=2), endpoint=endpoint, safe_method_strategy=hedged
        )
    else:
        raise ValueError(f"unknown case {name!r}")

    async def call() -> None:
        async with client.request(aio_request.get("thing")) as response:
            await response.read()

    return call


async def _run_aiohttp(calls: int, raw: bool) -> None:
    """Single attempts, no listener, through the aiohttp transport to a server in this process
    (or, with ``raw``, the same GETs with aiohttp alone).

    The count includes the server's work, which is the same whatever the client does, so a
    change of the client or of the transport shows as it is, and ``aiohttp-off`` minus
    ``aiohttp-raw`` is what the library adds to a real call.
    """
    import aiohttp
    import aiohttp.web

    async def thing(request: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(body=b'{"ok": true}', content_type="application/json")

    app = aiohttp.web.Application()
    app.router.add_get("/thing", thing)
    runner = aiohttp.web.AppRunner(app, access_log=None)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        endpoint = f"http://127.0.0.1:{runner.addresses[0][1]}/"
        async with aiohttp.ClientSession() as session:
            client = aio_request.setup(
                transport=aio_request.AioHttpTransport(session),
                endpoint=endpoint,
                safe_method_strategy=aio_request.single_attempt_strategy(),
                event_hub=aio_request.events.EventHub(),
            )
            url = endpoint + "thing"
            for _ in range(calls + 1):
                if raw:
                    async with session.get(url) as raw_response:
                        await raw_response.read()
                else:
                    async with client.request(aio_request.get("thing")) as response:
                        await response.read()
    finally:
        await runner.cleanup()


async def _run(name: str, calls: int) -> None:
    if name in ("aiohttp-off", "aiohttp-raw"):
        await _run_aiohttp(calls, raw=name == "aiohttp-raw")
        return
    call = _case(name)
    await call()  # first-call work (lazy telemetry set-up, caches) happens in both counts alike
    for _ in range(calls):
        await call()


def _instructions(case: str, calls: int) -> int:
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "cachegrind.out")
        subprocess.run(
            [
                "valgrind",
                "--tool=cachegrind",
                "--cache-sim=no",
                f"--cachegrind-out-file={out}",
                sys.executable,
                __file__,
                "--run",
                case,
                str(calls),
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        with open(out) as file:
            match = re.search(r"^summary:\s+(\d+)", file.read(), re.MULTILINE)
        if match is None:
            raise RuntimeError("cachegrind wrote no summary line")
        return int(match.group(1))


def main() -> None:
    """Print a markdown table of instructions per call for each case."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument(
        "--case",
        action="append",
        choices=[
            "single-off",
            "single",
            "defaults",
            "hedged",
            "otel-metrics",
            "otel",
            "aiohttp-off",
            "aiohttp-raw",
        ],
    )
    parser.add_argument("--run", nargs=2, metavar=("CASE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        asyncio.run(_run(args.run[0], int(args.run[1])))
        return
    print(f"aio_request from {os.path.dirname(aio_request.__file__)}")
    print("| case | instructions per call |")
    print("|---|---|")
    for case in args.case or ["single-off", "single", "defaults", "hedged", "aiohttp-raw", "aiohttp-off"]:
        low, high = _instructions(case, args.calls), _instructions(case, 2 * args.calls)
        print(f"| {case} | {(high - low) / args.calls:,.0f} |")


if __name__ == "__main__":
    main()
