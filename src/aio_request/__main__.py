"""Command line: ``python -m aio_request demo`` (also the ``aio-request`` console script)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aio-request", description="aio_request command line")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="run the demo against embedded loopback services")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = _parser().parse_args(argv)
    if args.command == "demo":
        try:
            from aio_request.demo.seed_example import run_seed_example
        except ImportError as error:
            print(
                f"aio-request demo: {error} (install with: pip install 'aio-request[demo]')", file=sys.stderr
            )
            return 2
        print(asyncio.run(run_seed_example()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
