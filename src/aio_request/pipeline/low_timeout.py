"""The guard that sends nothing when too little of the deadline is left."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Final

import yarl
from multidict import CIMultiDict, CIMultiDictProxy

from aio_request._core.errors import FailureKind, TransportFailure
from aio_request._core.validate import non_negative
from aio_request.http.deadline import Deadline
from aio_request.http.headers import Header
from aio_request.http.priority import Priority
from aio_request.http.request import Request
from aio_request.http.response import ClosableResponse, EmptyResponse
from aio_request.pipeline.module import NextModuleFunc, RequestModule

_DO_NOT_RETRY_HEADERS: Final = CIMultiDictProxy(CIMultiDict({Header.X_DO_NOT_RETRY: "1"}))


class LowTimeoutModule(RequestModule):
    """Sends nothing when the deadline is expired or below ``low_timeout_threshold`` seconds.

    Instead it returns a ``408`` with ``X-Do-Not-Retry`` (its ``failure`` kind is DEADLINE).
    """

    __slots__ = ("_threshold",)

    def __init__(self, low_timeout_threshold: float) -> None:
        self._threshold = non_negative("low_timeout_threshold", low_timeout_threshold)

    async def execute(
        self,
        next: NextModuleFunc,
        *,
        endpoint: yarl.URL,
        request: Request,
        deadline: Deadline,
        priority: Priority,
    ) -> ClosableResponse:
        """Short-circuit with 408 when too little time is left, else call ``next``."""
        if deadline.timeout <= self._threshold:
            return await _too_late()
        return await next(endpoint, request, deadline, priority)

    def _plain_call(self, next: NextModuleFunc) -> NextModuleFunc | None:
        if type(self) is not LowTimeoutModule:
            return None
        threshold = self._threshold

        def low_timeout(
            endpoint: yarl.URL, request: Request, deadline: Deadline, priority: Priority
        ) -> Awaitable[ClosableResponse]:
            if deadline.timeout <= threshold:
                return _too_late()
            return next(endpoint, request, deadline, priority)

        return low_timeout


async def _too_late() -> ClosableResponse:
    return EmptyResponse(
        status=408, headers=_DO_NOT_RETRY_HEADERS, failure=TransportFailure(FailureKind.DEADLINE)
    )
