"""Deciding whether a response is good enough to return or worth another attempt."""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping
from typing import Final

from aio_request.http.headers import Header
from aio_request.http.response import Response


class ResponseVerdict(enum.Enum):
    """ACCEPT: return this response. REJECT: try again if the strategy allows."""

    ACCEPT = "accept"
    REJECT = "reject"


class ResponseClassifier(abc.ABC):
    """Gives every attempt's response a :class:`ResponseVerdict`."""

    __slots__ = ()

    @abc.abstractmethod
    def classify(self, response: Response) -> ResponseVerdict:
        """The verdict for ``response``."""


_RETRYABLE_CLIENT_STATUSES: Final = frozenset({408, 429})


class DefaultResponseClassifier(ResponseClassifier):
    """The default verdicts, in order of precedence.

    1. an entry of ``verdict_for_status``;
    2. ``X-Do-Not-Retry`` present → ACCEPT;
    3. 5xx, ``network_errors_code`` (489), 408 and 429 → REJECT;
    4. everything else, ``too_many_redirects_code`` (488) included → ACCEPT.
    """

    __slots__ = ("_network_errors_code", "_too_many_redirects_code", "_verdict_for_status")

    def __init__(
        self,
        network_errors_code: int = 489,
        too_many_redirects_code: int = 488,
        verdict_for_status: Mapping[int, ResponseVerdict] | None = None,
    ) -> None:
        self._network_errors_code = network_errors_code
        self._too_many_redirects_code = too_many_redirects_code
        self._verdict_for_status = dict(verdict_for_status or {})

    def classify(self, response: Response) -> ResponseVerdict:
        """Apply the rules above."""
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
