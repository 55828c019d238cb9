"""The pipeline module that puts every attempt behind a circuit breaker, per endpoint.

The scope is the endpoint URL string. While the endpoint's circuit is open, no request is sent
and the attempt's response is a ``502`` with ``X-Circuit-Breaker`` and ``X-Do-Not-Retry``
(its ``failure`` kind is ``CIRCUIT_OPEN``), so the default classifier accepts it and no strategy
retries it. A response counts as a success when the client's classifier ACCEPTs it: a REJECT
verdict (5xx, 489, 408, 429 by default) counts as a failure, except a shed answer
(:func:`~aio_request.policies.classify.is_shed`), which never counts against the circuit.

``setup()`` places this module after the low-timeout guard: a ``408`` produced because too
little time was left sent nothing, so it must count neither as a success (the classifier accepts
it for its ``X-Do-Not-Retry``) nor as a failure.
"""

from __future__ import annotations

from typing import Any, Final

import yarl
from multidict import CIMultiDict, CIMultiDictProxy

from aio_request._core.errors import FailureKind, TransportFailure
from aio_request._core.outcomes import CIRCUIT_OPEN_STATUS as CIRCUIT_OPEN_STATUS  # re-exported
from aio_request.circuit_breaker import CircuitBreaker
from aio_request.http.deadline import Deadline
from aio_request.http.headers import Header
from aio_request.http.priority import Priority
from aio_request.http.request import Request
from aio_request.http.response import ClosableResponse, EmptyResponse
from aio_request.pipeline.module import NextModuleFunc, RequestModule
from aio_request.policies.classify import ResponseClassifier, ResponseVerdict, is_shed

CIRCUIT_OPEN_RESPONSE: Final = EmptyResponse(
    status=CIRCUIT_OPEN_STATUS,
    headers=CIMultiDictProxy(CIMultiDict({Header.X_CIRCUIT_BREAKER: "open", Header.X_DO_NOT_RETRY: "1"})),
    failure=TransportFailure(FailureKind.CIRCUIT_OPEN),
)
"""The fallback: ``502`` with ``X-Circuit-Breaker: open`` and ``X-Do-Not-Retry: 1``."""


class CircuitBreakerModule(RequestModule):
    """Runs the rest of the pipeline through ``circuit_breaker`` with the endpoint as scope.

    ``response_classifier`` decides what counts as a success (ACCEPT). A classifier that raises
    counts the attempt as a failure here; the client's own classification raises it afterwards.
    """

    __slots__ = ("_circuit_breaker", "_classifier")

    def __init__(
        self,
        circuit_breaker: CircuitBreaker[str, Any],
        response_classifier: ResponseClassifier,
    ) -> None:
        self._circuit_breaker = circuit_breaker
        self._classifier = response_classifier

    def _is_successful(self, response: ClosableResponse) -> bool:
        if is_shed(response):
            return True  # a server protecting itself is alive: never count it against the circuit
        try:
            return self._classifier.classify(response) is ResponseVerdict.ACCEPT
        except Exception:
            return False

    async def execute(
        self,
        next: NextModuleFunc,
        *,
        endpoint: yarl.URL,
        request: Request,
        deadline: Deadline,
        priority: Priority,
    ) -> ClosableResponse:
        """The rest of the pipeline's response, or the 502 fallback while the circuit is open."""

        async def operation() -> ClosableResponse:
            return await next(endpoint, request, deadline, priority)

        response: ClosableResponse = await self._circuit_breaker.execute(
            scope=str(endpoint),
            operation=operation,
            fallback=CIRCUIT_OPEN_RESPONSE,
            is_successful=self._is_successful,
        )
        return response
