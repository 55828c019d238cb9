"""Choose a strategy by the request's HTTP method."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from contextlib import AbstractAsyncContextManager

import yarl

from aio_request.http.deadline import Deadline
from aio_request.http.priority import Priority
from aio_request.http.request import Request
from aio_request.http.response import ClosableResponse
from aio_request.policies.observer import RequestResponseObserver
from aio_request.strategies.request_strategy import (
    OpenedAttempt,
    OpeningStrategy,
    RequestStrategy,
    ResponseWithVerdict,
    SendRequestFunc,
    Verdicted,
    unique_observers,
)


class MethodBasedStrategy(OpeningStrategy):
    """Delegates to ``strategy_by_method[request.method]``, else to ``default``.

    A method with no strategy and no ``default`` raises :class:`ValueError`.
    """

    __slots__ = ("_default", "_strategy_by_method")

    def __init__(
        self, strategy_by_method: Mapping[str, RequestStrategy], *, default: RequestStrategy | None = None
    ) -> None:
        self._strategy_by_method = {method.upper(): s for method, s in strategy_by_method.items()}
        self._default = default

    def observers(self) -> tuple[RequestResponseObserver, ...]:
        """The observers of every strategy it may choose, each once."""
        strategies = [*self._strategy_by_method.values()]
        if self._default is not None:
            strategies.append(self._default)
        return unique_observers(strategies)

    def strategy_for(self, method: str) -> RequestStrategy | None:
        """The strategy for ``method`` (upper case), else ``default`` (``None`` when unset)."""
        return self._strategy_by_method.get(method, self._default)

    def open(
        self,
        send_request: SendRequestFunc,
        endpoint: yarl.URL,
        request: Request,
        deadline: Deadline,
        priority: Priority,
    ) -> Awaitable[OpenedAttempt[Verdicted]]:
        """Run the chosen strategy; its result, open."""
        strategy = self._strategy_by_method.get(request.method, self._default)
        if strategy is None:
            raise _no_strategy(request)
        return strategy.open(send_request, endpoint, request, deadline, priority)

    def request(
        self,
        send_request: SendRequestFunc,
        endpoint: yarl.URL,
        request: Request,
        deadline: Deadline,
        priority: Priority,
    ) -> AbstractAsyncContextManager[ResponseWithVerdict[ClosableResponse]]:
        """The chosen strategy's context."""
        strategy = self._strategy_by_method.get(request.method, self._default)
        if strategy is None:
            raise _no_strategy(request)
        return strategy.request(send_request, endpoint, request, deadline, priority)


def _no_strategy(request: Request) -> ValueError:
    return ValueError(f"no strategy for method {request.method!r}")
