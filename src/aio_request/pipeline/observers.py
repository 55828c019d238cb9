"""The pipeline module that tells :class:`RequestResponseObserver` objects of every attempt.

``setup()`` places it just before the transport, so observers see the attempts that were really
sent (not the low-timeout ``408`` nor the circuit-breaker ``502``), with the request as the
caller built it (URL template and parameters, before enrichment and system headers). An attempt
cancelled before its response arrived is not observed. An observer that raises is logged and
skipped: observation never breaks a request.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import yarl

from aio_request.http.deadline import Deadline
from aio_request.http.priority import Priority
from aio_request.http.request import Request
from aio_request.http.response import ClosableResponse
from aio_request.pipeline import NextModuleFunc, RequestModule
from aio_request.policies.observer import RequestResponseObserver

_log = logging.getLogger(__name__)


class ResponseObserverModule(RequestModule):
    """Calls ``observer.observe(request, response)`` for every observer after each attempt."""

    __slots__ = ("_observers",)

    def __init__(self, observers: Iterable[RequestResponseObserver]) -> None:
        self._observers = tuple(observers)

    @property
    def observers(self) -> tuple[RequestResponseObserver, ...]:
        """The observers, in the order they are told."""
        return self._observers

    async def execute(
        self,
        next: NextModuleFunc,
        *,
        endpoint: yarl.URL,
        request: Request,
        deadline: Deadline,
        priority: Priority,
    ) -> ClosableResponse:
        """Call ``next``, then tell every observer of the response."""
        response = await next(endpoint, request, deadline, priority)
        for observer in self._observers:
            try:
                observer.observe(request, response)
            except Exception:
                _log.exception("response observer %r failed", observer)
        return response
