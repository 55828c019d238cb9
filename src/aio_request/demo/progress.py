"""The progress bar shown on stderr while the lab runs.

It uses rich (the ``demo`` extra) when it is installed and stderr is a terminal; otherwise it
prints a plain line at every tenth of the way, so logs and pipes get a readable trace.
"""

from __future__ import annotations

import importlib.util
import sys
from contextlib import AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


class ProgressBar(AbstractContextManager["ProgressBar"]):
    """Counts finished calls out of ``total``; :meth:`advance` after each one."""

    __slots__ = ("_description", "_done", "_next_report", "_rich", "_stream", "_task", "_total")

    def __init__(self, total: int, description: str, *, stream: TextIO | None = None) -> None:
        self._total = max(total, 1)
        self._description = description
        self._stream = stream if stream is not None else sys.stderr
        self._done = 0
        self._next_report = 0.1
        self._rich: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> ProgressBar:
        if self._stream.isatty() and importlib.util.find_spec("rich") is not None:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

            self._rich = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TimeRemainingColumn(),
                console=Console(file=self._stream),
                refresh_per_second=4,
                transient=True,
            )
            self._rich.start()
            self._task = self._rich.add_task(self._description, total=self._total)
        else:
            print(f"{self._description}: 0 %", file=self._stream, flush=True)
        return self

    def advance(self) -> None:
        """Count one more finished call."""
        self._done += 1
        if self._rich is not None and self._task is not None:
            self._rich.advance(self._task, 1)
        elif self._done / self._total >= self._next_report:
            print(f"{self._description}: {self._done * 100 // self._total} %", file=self._stream, flush=True)
            self._next_report += 0.1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._rich is not None:
            self._rich.stop()
            self._rich = None
