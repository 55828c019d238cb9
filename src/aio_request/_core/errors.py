"""The library's exception types and the causes kept on synthetic responses.

Exception tree::

    Exception
     ├── UnexpectedContentTypeError      the response body is not of the expected content type
     └── ValueError
          └── InvalidRequestError        a request that cannot be sent safely (absolute URL,
                                         CR/LF in a header, a path parameter that escapes
                                         its segment, ...)

Transport failures are never raised to the caller: they become responses with synthetic status
codes (489, 488, 408) that carry a :class:`TransportFailure` describing the cause.
"""

from __future__ import annotations

import dataclasses

from aio_request._core.outcomes import FailureKind

__all__ = ["FailureKind", "InvalidRequestError", "TransportFailure", "UnexpectedContentTypeError"]


class UnexpectedContentTypeError(Exception):
    """The response's content type does not match the one asked for in ``json()``.

    The message names the response's ``status`` when known and, for a response synthesised
    locally (``failure`` set: a timeout, a network error, an open circuit ...), says so with the
    failure's kind and cause, since such a response has no body to parse.
    """

    def __init__(
        self,
        expected: str,
        actual: str,
        *,
        status: int | None = None,
        failure: TransportFailure | None = None,
    ) -> None:
        message = f"expected content type {expected!r}, got {actual!r}"
        if failure is not None:
            message += (
                f": this {status} response was not sent by the server but produced locally "
                f"({failure}); check response.is_successful() or response.failure before "
                "reading the body"
            )
        elif status is not None:
            message += f" (status {status})"
        super().__init__(message)
        self.expected = expected
        self.actual = actual
        self.status = status
        """The response's status, when known."""
        self.failure = failure
        """Why the response was produced locally, ``None`` for a server response."""


class InvalidRequestError(ValueError):
    """A request that cannot be sent safely; the message says which part is wrong."""


@dataclasses.dataclass(frozen=True, slots=True)
class TransportFailure:
    """Why a response was synthesised locally instead of received from the server.

    Real server responses have ``failure is None``; so a 408 with a failure means "we timed out"
    while a 408 without one means "the server said 408".
    """

    kind: FailureKind
    exception: BaseException | None = None

    def __str__(self) -> str:
        if self.exception is None:
            return self.kind.value
        return f"{self.kind.value}: {type(self.exception).__name__}: {self.exception}"
