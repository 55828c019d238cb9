"""Deciding whether a response is good enough to return or worth another attempt."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Final

from aio_request._core.outcomes import (
    NETWORK_ERROR_STATUS,
    TIMEOUT_STATUS,
    TOO_MANY_REDIRECTS_STATUS,
    FailureKind,
)
from aio_request._core.outcomes import ResponseVerdict as ResponseVerdict  # re-exported
from aio_request.http.headers import Header
from aio_request.http.response import Response


class ResponseClassifier(abc.ABC):
    """Gives every attempt's response a :class:`ResponseVerdict`."""

    __slots__ = ()

    @abc.abstractmethod
    def classify(self, response: Response) -> ResponseVerdict:
        """The verdict for ``response``."""


_RETRYABLE_CLIENT_STATUSES: Final = frozenset({TIMEOUT_STATUS, 429})

_VERDICT_BY_FAILURE: Final = {
    FailureKind.CONNECT: ResponseVerdict.REJECT,
    FailureKind.RESET: ResponseVerdict.REJECT,
    FailureKind.PROTOCOL: ResponseVerdict.REJECT,
    FailureKind.TIMEOUT: ResponseVerdict.REJECT,
    FailureKind.TOO_MANY_REDIRECTS: ResponseVerdict.ACCEPT,
    FailureKind.INVALID_REDIRECT: ResponseVerdict.ACCEPT,
    FailureKind.RESPONSE_TOO_LARGE: ResponseVerdict.ACCEPT,
    FailureKind.DEADLINE: ResponseVerdict.ACCEPT,
    FailureKind.CIRCUIT_OPEN: ResponseVerdict.ACCEPT,
}
_SHED_STATUS: Final = 503


def is_shed(response: Response) -> bool:
    """Whether ``response`` is a server's shed answer: ``503`` with ``X-Request-Shed``.

    The server did not process the request, so it is safe to send again at once, whatever the
    method: strategies retry it without a delay (within the retry budget), the single-attempt
    strategy retries it once, and the circuit breaker does not count it as a failure.
    """
    return response.status == _SHED_STATUS and Header.X_REQUEST_SHED in response.headers


class DefaultResponseClassifier(ResponseClassifier):
    """The default verdicts, in order of precedence.

    1. a synthetic response is judged by its ``failure`` kind, whatever its status: a local
       timeout or a connection that failed (``CONNECT``, ``RESET``, ``PROTOCOL``, ``TIMEOUT``)
       → REJECT; too many redirects, a redirect that cannot be followed, a body over the size
       limit, a spent deadline and an open circuit → ACCEPT (nothing to gain by sending again);
    2. an entry of ``verdict_for_status``;
    3. ``X-Do-Not-Retry`` present → ACCEPT;
    4. 5xx, ``network_errors_code`` (489), 408 and 429 → REJECT;
    5. everything else, ``too_many_redirects_code`` (488) included → ACCEPT.
    """

    __slots__ = ("_network_errors_code", "_too_many_redirects_code", "_verdict_for_status")

    def __init__(
        self,
        network_errors_code: int = NETWORK_ERROR_STATUS,
        too_many_redirects_code: int = TOO_MANY_REDIRECTS_STATUS,
        verdict_for_status: Mapping[int, ResponseVerdict] | None = None,
    ) -> None:
        self._network_errors_code = network_errors_code
        self._too_many_redirects_code = too_many_redirects_code
        self._verdict_for_status = dict(verdict_for_status or {})

    def classify(self, response: Response) -> ResponseVerdict:
        """Apply the rules above."""
        failure = response.failure
        if failure is not None:
            return _VERDICT_BY_FAILURE[failure.kind]
        status = response.status
        if self._verdict_for_status:
            verdict = self._verdict_for_status.get(status)
            if verdict is not None:
                return verdict
        if status < 400 and status != self._network_errors_code:
            return ResponseVerdict.ACCEPT  # what rules 2 and 4 both say, without the header lookup
        if Header.X_DO_NOT_RETRY in response.headers:
            return ResponseVerdict.ACCEPT
        if status == self._too_many_redirects_code:
            return ResponseVerdict.ACCEPT
        if status >= 500 or status == self._network_errors_code or status in _RETRYABLE_CLIENT_STATUSES:
            return ResponseVerdict.REJECT
        return ResponseVerdict.ACCEPT
