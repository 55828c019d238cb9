"""Command line: ``python -m aio_request demo [options]`` (also the ``aio-request`` console script).

A wrong option, file or folder ends with one line on stderr and exit status 2, never a
traceback; Ctrl-C exits with 130 after every server and task the demo started has stopped.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from aio_request.demo.cli import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    DemoError,
    add_demo_arguments,
    resolve_options,
    run_demo,
)


class _OneLineErrorParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``prog: error: message``), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineErrorParser(
        prog="aio-request",
        description="aio_request command line: deadline-aware, hedged and budgeted HTTP calls",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="run the resilience lab against embedded loopback services",
        description="The resilience lab: embedded services on 127.0.0.1 replay a service profile (a"
        " long latency tail, a burst of errors, an outage, a 429 throttle with Retry-After, a"
        " slowdown) while the same seeded workload runs with single attempts, sequential retries,"
        " fixed-delay and adaptive hedging, first alone and then behind the circuit breaker and the"
        " retry/hedge budgets. It prints a table per phase and writes every call (JSON) and a"
        " latency CDF plot (PNG).",
    )
    add_demo_arguments(demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    prog = f"{parser.prog} {args.command}"
    try:
        run_demo(resolve_options(args))
    except DemoError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
