"""The pipeline's shape: a module, the function that calls the next one, and the fold.

``build_pipeline([m1, m2, ..., TransportModule(...)])`` returns one function; each module gets the
next one's function and may short-circuit (the low-timeout guard, a circuit breaker) or change
what is passed on.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeAlias

import yarl

from aio_request.http.deadline import Deadline
from aio_request.http.priority import Priority
from aio_request.http.request import Request
from aio_request.http.response import ClosableResponse

NextModuleFunc: TypeAlias = Callable[[yarl.URL, Request, Deadline, Priority], Awaitable[ClosableResponse]]
"""(endpoint, request, deadline, priority) → the response of the rest of the pipeline."""

RequestEnricher: TypeAlias = Callable[[Request], Request | Awaitable[Request]]
"""A sync or async function applied to every attempt's request before it is sent."""


class RequestModule(abc.ABC):
    """One step of the pipeline."""

    __slots__ = ()

    @abc.abstractmethod
    async def execute(
        self,
        next: NextModuleFunc,
        *,
        endpoint: yarl.URL,
        request: Request,
        deadline: Deadline,
        priority: Priority,
    ) -> ClosableResponse:
        """Produce the attempt's response, usually by calling ``next``."""

    def _plain_call(self, next: NextModuleFunc) -> NextModuleFunc | None:
        """A plain function doing what :meth:`execute` does with ``next``, or ``None``.

        Built-in modules return one when they can (no coroutine of their own per attempt, the
        pipeline's hot path); only for their exact class, since a subclass may override
        :meth:`execute`. :func:`build_pipeline` calls :meth:`execute` when this gives ``None``.
        """
        return None


class BypassModule(RequestModule):
    """Passes everything on unchanged (a placeholder for a disabled feature)."""

    __slots__ = ()

    async def execute(
        self,
        next: NextModuleFunc,
        *,
        endpoint: yarl.URL,
        request: Request,
        deadline: Deadline,
        priority: Priority,
    ) -> ClosableResponse:
        """Call ``next``."""
        return await next(endpoint, request, deadline, priority)


async def _no_module_sent_it(
    endpoint: yarl.URL, request: Request, deadline: Deadline, priority: Priority
) -> ClosableResponse:
    # NotImplementedError (a RuntimeError) as in aio-request 0.2.9, whose users match on it.
    raise NotImplementedError(
        "the pipeline ended without a module that sends the request (add a TransportModule)"
    )


def _bind(module: RequestModule, next_func: NextModuleFunc) -> NextModuleFunc:
    plain = module._plain_call(next_func)
    if plain is not None:
        return plain
    execute = module.execute

    def call(
        endpoint: yarl.URL, request: Request, deadline: Deadline, priority: Priority
    ) -> Awaitable[ClosableResponse]:
        return execute(next_func, endpoint=endpoint, request=request, deadline=deadline, priority=priority)

    return call


def build_pipeline(modules: Sequence[RequestModule]) -> NextModuleFunc:
    """Fold ``modules`` (first runs first) into one function."""
    next_func: NextModuleFunc = _no_module_sent_it
    for module in reversed(modules):
        next_func = _bind(module, next_func)
    return next_func
