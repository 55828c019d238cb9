"""The circuit-breaker role and the breaker that never opens."""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Hashable, Mapping
from types import MappingProxyType
from typing import Generic, TypeVar

from aio_request.circuit_breaker.state import CircuitState

TScope = TypeVar("TScope", bound=Hashable)
"""What a circuit is kept per (the client uses the endpoint URL string)."""

TResult = TypeVar("TResult")
"""What the protected operation returns."""


class CircuitBreaker(abc.ABC, Generic[TScope, TResult]):
    """Runs operations per scope, or answers ``fallback`` while that scope's circuit is open."""

    __slots__ = ()

    @abc.abstractmethod
    async def execute(
        self,
        *,
        scope: TScope,
        operation: Callable[[], Awaitable[TResult]],
        fallback: TResult,
        is_successful: Callable[[TResult], bool],
    ) -> TResult:
        """Run ``operation()`` and count its result with ``is_successful``, or return ``fallback``.

        An exception raised by ``operation`` propagates to the caller.
        """

    @property
    @abc.abstractmethod
    def state(self) -> Mapping[TScope, CircuitState]:
        """A read-only snapshot of the state of every scope seen so far."""


class NoopCircuitBreaker(CircuitBreaker[TScope, TResult]):
    """Always runs the operation; has no circuits (``state`` is empty)."""

    __slots__ = ()

    async def execute(
        self,
        *,
        scope: TScope,
        operation: Callable[[], Awaitable[TResult]],
        fallback: TResult,
        is_successful: Callable[[TResult], bool],
    ) -> TResult:
        """Return ``await operation()``."""
        return await operation()

    @property
    def state(self) -> Mapping[TScope, CircuitState]:
        """Always empty."""
        return MappingProxyType({})
