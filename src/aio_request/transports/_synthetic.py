"""The synthetic responses both transports return instead of raising: one shape, one place."""

from __future__ import annotations

from typing import Final

from multidict import CIMultiDict, CIMultiDictProxy

from aio_request._core.clock import MONOTONIC_CLOCK
from aio_request._core.errors import FailureKind, TransportFailure
from aio_request.http.headers import Header
from aio_request.http.response import EmptyResponse

NO_TIMEOUT_LEFT: Final = "the attempt's timeout was spent before anything was sent"
"""The message of the TimeoutError kept on a 408 answered without sending anything."""


def do_not_retry() -> CIMultiDict[str]:
    """Headers that tell the classifier not to retry: ``X-Do-Not-Retry: 1``."""
    return CIMultiDict({Header.X_DO_NOT_RETRY: "1"})


def failed_response(
    status: int,
    kind: FailureKind,
    exc: BaseException,
    started: float,
    headers: CIMultiDict[str] | None = None,
) -> EmptyResponse:
    """A body-less ``status`` response carrying its cause, timed from the monotonic ``started``."""
    return EmptyResponse(
        status=status,
        headers=CIMultiDictProxy(headers) if headers is not None else None,
        elapsed=MONOTONIC_CLOCK.now() - started,
        failure=TransportFailure(kind, exc),
    )
