"""The deadline and priority of the work being done now, carried in a context variable.

Server middlewares set it from the incoming headers; :meth:`Client.request` reads it, so an
outgoing call made while handling a request inherits that request's deadline and priority.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Iterator
from typing import Final

from aio_request.http.deadline import Deadline
from aio_request.http.priority import Priority


@dataclasses.dataclass(frozen=True, slots=True)
class Context:
    """The inherited deadline and priority; ``None`` where nothing was inherited."""

    deadline: Deadline | None = None
    priority: Priority | None = None


_EMPTY: Final = Context()
_current: contextvars.ContextVar[Context] = contextvars.ContextVar("aio_request_context", default=_EMPTY)


class _Unset:
    __slots__ = ()


_UNSET: Final = _Unset()


def get_context() -> Context:
    """Return the current :class:`Context` (empty when nothing was set)."""
    return _current.get()


@contextlib.contextmanager
def set_context(
    *,
    deadline: Deadline | _Unset | None = _UNSET,
    priority: Priority | _Unset | None = _UNSET,
) -> Iterator[Context]:
    """Override the deadline and/or the priority for the ``with`` block; yields the new context.

    >>> with set_context(priority=Priority.HIGH):
    ...     get_context().priority
    <Priority.HIGH: 'high'>
    """
    current = _current.get()
    new = Context(
        deadline=current.deadline if isinstance(deadline, _Unset) else deadline,
        priority=current.priority if isinstance(priority, _Unset) else priority,
    )
    token = _current.set(new)
    try:
        yield new
    finally:
        _current.reset(token)
