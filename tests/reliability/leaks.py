"""What a request can leave behind, and one place that looks for all of it.

:class:`LeakWatch` records, from the moment it starts: the tasks that appear (server handler
tasks of the loopback fault server excepted), everything reported to the loop's exception
handler ("Task was destroyed but it is pending!", ...), and the ``ResourceWarning`` and
``RuntimeWarning`` warnings raised meanwhile ("unclosed transport", "coroutine ... was never
awaited", "Unclosed response"). :meth:`LeakWatch.problems` runs :func:`gc.collect` first, so
objects dropped without being closed are found when the test asks, not at some later time.

aiohttp reports an unclosed response only when the loop is in debug mode, which makes asyncio
several times slower (it records a stack for every task, future and callback). Instead, while
the watch runs, a response collected unclosed warns "Unclosed response" whatever the mode.
"""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Callable
from types import TracebackType
from typing import Any

import aiohttp

_SERVER_HANDLERS = frozenset({"FaultServer._serve"})
"""Coroutines of the test servers: they outlive a request while a kept-alive connection is open."""


def _is_server_handler(task: asyncio.Task[Any]) -> bool:
    return getattr(task.get_coro(), "__qualname__", "") in _SERVER_HANDLERS


def _reporting_del(original: Callable[..., None]) -> Callable[..., None]:
    def __del__(self: aiohttp.ClientResponse) -> None:
        # The same condition as aiohttp's own report in debug mode.
        if not self._closed and self._connection is not None and not self._loop.get_debug():
            warnings.warn(f"Unclosed response {self!r}", ResourceWarning, stacklevel=1, source=self)
        original(self)

    return __del__


class LeakWatch:
    """Collects leftover tasks, loop errors and resource warnings; use it as a context manager."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.baseline: set[asyncio.Task[Any]] = set()
        self.loop_errors: list[dict[str, Any]] = []
        self.warnings: list[warnings.WarningMessage] = []
        self._catcher = warnings.catch_warnings(record=True)
        self._previous_handler = self.loop.get_exception_handler()
        self._original_del = aiohttp.ClientResponse.__del__

    def __enter__(self) -> LeakWatch:
        self.baseline = set(asyncio.all_tasks())
        self.loop.set_exception_handler(lambda _loop, context: self.loop_errors.append(context))
        recorded = self._catcher.__enter__()
        assert recorded is not None
        self.warnings = recorded
        warnings.simplefilter("always")
        aiohttp.ClientResponse.__del__ = _reporting_del(self._original_del)  # type: ignore[method-assign]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        aiohttp.ClientResponse.__del__ = self._original_del  # type: ignore[method-assign]
        self._catcher.__exit__(exc_type, exc, traceback)
        self.loop.set_exception_handler(self._previous_handler)

    def leftover_tasks(self) -> list[asyncio.Task[Any]]:
        """Unfinished tasks started since the watch began (test server handlers excepted)."""
        current = asyncio.current_task()
        return [
            task
            for task in asyncio.all_tasks()
            if task is not current and task not in self.baseline and not _is_server_handler(task)
        ]

    def problems(self) -> list[str]:
        """Everything found so far, after a garbage collection; empty when all is clean."""
        gc.collect()
        found = [f"task left running: {task!r}" for task in self.leftover_tasks()]
        found += [f"loop error: {context.get('message')!r} {context!r}" for context in self.loop_errors]
        found += [
            f"{warning.category.__name__}: {warning.message}"
            for warning in self.warnings
            if issubclass(warning.category, ResourceWarning | RuntimeWarning)
        ]
        return found

    def assert_clean(self) -> None:
        """Fail with the list of problems, if there is any."""
        problems = self.problems()
        assert problems == [], "\n".join(problems)
