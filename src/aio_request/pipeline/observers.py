"""A pipeline module that tells :class:`RequestResponseObserver` objects of every attempt.

For pipelines built by hand with ``build_pipeline``: clients made by ``setup()`` tell their
observers themselves (``response_observers`` and the observers of each call's strategy). The
observers get the request as the caller built it (URL template and parameters). An attempt
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
