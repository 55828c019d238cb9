"""``aio-request demo``: its options, and the run from settings to tables, JSON and plot.

Every user error (a bad option value, a missing or invalid profile, an output folder that
cannot be created or written, aiohttp not installed) ends with one line on stderr and exit
status 2; Ctrl-C stops every server and task, then exits with 130. The report goes to stdout,
the progress bar and warnings to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final, TextIO

from aio_request.demo.profile import ProfileError, load_profile

DEFAULT_DURATION: Final = 60.0
"""Seconds of timeline of a default run (``--duration``)."""
DEFAULT_CALLS: Final = 4500
"""Calls per strategy of a default run (``--requests``): 75 per second."""
QUICK_DURATION: Final = 13.5
"""Seconds of timeline with ``--quick``."""
QUICK_CALLS: Final = 1000
"""Calls per strategy with ``--quick``: the fewest for which p99.9 is not the maximum."""
DEFAULT_CONCURRENCY: Final = 64
"""Most calls of one strategy in flight (``--concurrency``)."""
DEFAULT_SEED: Final = 1
"""The seed of the arrivals and the server-side draws (``--seed``)."""
DEFAULT_OUTPUT: Final = "demo-output"
"""The output folder, relative to the working directory (``--output``)."""
RESULTS_FILE: Final = "results.json"
"""Every call and every summary (see :mod:`aio_request.demo.export`)."""
PLOT_FILE: Final = "latency_cdf.png"
"""The latency CDF plot (see :mod:`aio_request.demo.plot`)."""
FAITHFUL_RATE: Final = 1200
"""Calls per second, all strategies together, above which the lab warns about its own lag."""
EXIT_USAGE: Final = 2
"""Exit status for a user error (wrong option, file or folder)."""
EXIT_INTERRUPTED: Final = 130
"""Exit status after Ctrl-C (128 + SIGINT)."""


class DemoError(Exception):
    """A user error; its message is printed as one line."""


def _number(kind: Callable[[str], float], low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {text}")
        return value

    return parse


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the demo's options to ``parser`` (the ``demo`` subcommand's)."""
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a short run: {QUICK_CALLS} calls per strategy over {QUICK_DURATION:g} s, in two passes"
        " (about 30 s in all; what the tests run)",
    )
    parser.add_argument(
        "--duration",
        type=_number(float, 1, 3600),
        metavar="SECONDS",
        help=f"length of the run's timeline; the incidents of the profile scale with it"
        f" (default {DEFAULT_DURATION:g}, with --quick {QUICK_DURATION:g})",
    )
    parser.add_argument(
        "--requests",
        type=_number(int, 10, 1_000_000),
        metavar="N",
        help=f"calls per strategy, spread over the duration as a seeded Poisson process (default"
        f" {DEFAULT_CALLS}, with --quick {QUICK_CALLS}; given with only one of --duration and"
        " --requests, the other keeps the mode's rate); p99.9 needs >= 1000",
    )
    parser.add_argument(
        "--concurrency",
        type=_number(int, 1, 10_000),
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"most calls of one strategy in flight at once; more wait for a slot, and that wait"
        f" counts in their latency (default {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument(
        "--seed",
        type=_number(int, 0, 2**63 - 1),
        default=DEFAULT_SEED,
        metavar="N",
        help=f"seed of the arrivals and of every server-side draw: the same seed replays the same"
        f" workload (default {DEFAULT_SEED})",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="a .toml or .json service profile: latency histogram, error rate, incidents (the"
        " fields are those of the built-in default_profile.toml next to aio_request/demo/profile.py"
        " and of the documentation's demo page; default: the built-in long-tail profile)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(DEFAULT_OUTPUT),
        metavar="DIR",
        help=f"folder for {RESULTS_FILE} (every call) and {PLOT_FILE}; created if missing"
        f" (default ./{DEFAULT_OUTPUT})",
    )
    parser.add_argument("--no-plot", action="store_true", help=f"do not draw {PLOT_FILE}")
    parser.add_argument(
        "--replicas",
        action="store_true",
        help="run the replicas scenario instead (two healthy, one slow, one failing and one dead"
        " replica: a single endpoint vs client-side balancing)",
    )


@dataclasses.dataclass(frozen=True, slots=True)
class DemoOptions:
    """The resolved options of one run."""

    duration: float
    calls: int
    concurrency: int
    seed: int
    profile: Path | None
    output: Path
    plot: bool
    replicas: bool = False


def resolve_options(args: argparse.Namespace) -> DemoOptions:
    """Fill in ``--duration``/``--requests`` from each other and the mode's default rate."""
    mode_duration, mode_calls = (
        (QUICK_DURATION, QUICK_CALLS) if args.quick else (DEFAULT_DURATION, DEFAULT_CALLS)
    )
    rate = mode_calls / mode_duration
    duration = args.duration
    calls = args.requests
    if duration is None:
        duration = mode_duration if calls is None else max(calls / rate, 1.0)
    if calls is None:
        calls = max(round(duration * rate), 10)
    return DemoOptions(
        duration=float(duration),
        calls=int(calls),
        concurrency=int(args.concurrency),
        seed=int(args.seed),
        profile=args.profile,
        output=args.output,
        plot=not args.no_plot,
        replicas=bool(getattr(args, "replicas", False)),
    )


def _prepare_output(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DemoError(f"cannot create the output folder {folder}: {error.strerror or error}") from None
    if not folder.is_dir():
        raise DemoError(f"the output folder {folder} is not a folder")


def run_demo(options: DemoOptions, out: TextIO | None = None) -> None:
    """Run the lab and print its report (to ``out``, default stdout); raises :class:`DemoError`."""
    out = sys.stdout if out is None else out
    if options.replicas:
        _run_replicas(options, out)
        return
    try:
        profile = load_profile(options.profile)
    except ProfileError as error:
        raise DemoError(str(error)) from None
    try:
        from aio_request.demo.export import write_results
        from aio_request.demo.lab import LabSettings, run_lab
        from aio_request.demo.plot import plot_available, write_cdf_plot
        from aio_request.demo.progress import ProgressBar
        from aio_request.demo.report import describe_profile, phase_tables, problems, takeaways
        from aio_request.demo.scenarios import scenarios
    except ImportError as error:
        raise DemoError(f"the demo needs aiohttp ({error}): pip install 'aio-request-ng[demo]'") from None
    _prepare_output(options.output)
    settings = LabSettings(
        profile=profile,
        calls=options.calls,
        duration=options.duration,
        concurrency=options.concurrency,
        seed=options.seed,
    )
    count = len(scenarios(profile))
    print("aio_request resilience lab", file=out)
    print("\n".join(describe_profile(profile)), file=out)
    print(
        f"workload: {count} scenarios in two passes of {count // 2} at once, {options.calls} calls each"
        f" over {options.duration:g} s"
        f" ({options.calls / options.duration:.0f}/s each), concurrency {options.concurrency},"
        f" seed {options.seed}\n",
        file=out,
        flush=True,
    )
    total_rate = count // 2 * options.calls / options.duration  # two passes of half the scenarios
    if total_rate > FAITHFUL_RATE:
        print(
            f"note: {total_rate:.0f} calls/s in all is more than one process serves faithfully (about"
            f" {FAITHFUL_RATE}); latencies will include the lab's own queueing\n",
            file=out,
        )
    started = time.perf_counter()
    with ProgressBar(count * options.calls, f"{count} strategies x {options.calls} calls") as bar:
        result = asyncio.run(run_lab(settings, bar.advance))
    elapsed = time.perf_counter() - started
    print(
        f"ran in {elapsed:.1f} s; latencies count from when each call was due, failures included\n", file=out
    )
    print("\n\n".join(phase_tables(result)), file=out)
    for warning in problems(result):
        print(warning, file=sys.stderr)
    lines = takeaways(result)
    if lines:
        print("\nWhat it shows:", file=out)
        print("\n".join(f"- {line}" for line in lines), file=out)
    try:
        written = [write_results(result, options.output / RESULTS_FILE)]
    except OSError as error:
        raise DemoError(f"cannot write {options.output / RESULTS_FILE}: {error.strerror or error}") from None
    note = ""
    if not options.plot:
        note = " (plot skipped: --no-plot)"
    elif not plot_available():
        note = " (no plot: matplotlib is not installed; pip install 'aio-request-ng[demo]')"
    else:
        try:
            written.append(write_cdf_plot(result, options.output / PLOT_FILE))
        except Exception as error:
            # The plot is a by-product: the tables and the JSON are already out.
            note = f" (no plot: {type(error).__name__}: {error})"
    print(f"\nResults in {options.output}/: {', '.join(p.name for p in written)}{note}", file=out)


def _run_replicas(options: DemoOptions, out: TextIO) -> None:
    """The replicas scenario (``--replicas``): its table and what it shows."""
    try:
        from aio_request.demo.progress import ProgressBar
        from aio_request.demo.replicas_lab import CLIENTS, replicas_table, run_replicas_lab, takeaways
    except ImportError as error:
        raise DemoError(f"the demo needs aiohttp ({error}): pip install 'aio-request-ng[demo]'") from None
    rate = options.calls / options.duration
    print("aio_request replicas lab: 2 healthy replicas (5 ms), 1 slow (50 ms), 1 failing, 1 dead", file=out)
    print(
        f"workload: {len(CLIENTS)} clients at once, {options.calls} GET calls each at {rate:.0f}/s,"
        f" setup() defaults (3 sequential attempts), seed {options.seed}\n",
        file=out,
        flush=True,
    )
    with ProgressBar(len(CLIENTS) * options.calls, f"{len(CLIENTS)} clients x {options.calls} calls") as bar:
        results = asyncio.run(
            run_replicas_lab(
                calls=options.calls,
                rate=rate,
                seed=options.seed,
                concurrency=options.concurrency,
                on_call_done=bar.advance,
            )
        )
    print(replicas_table(results), file=out)
    print("\nWhat it shows:", file=out)
    print("\n".join(f"- {line}" for line in takeaways(results)), file=out)
