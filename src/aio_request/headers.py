"""The wire format: header names and the only code that formats ``X-Request-*`` values.

Server middlewares parse what clients format here, so both directions stay in one module.
"""

from __future__ import annotations

import math
from typing import Final

from multidict import istr


class Header:
    """Header names used by the library (case-insensitive :class:`multidict.istr`)."""

    X_REQUEST_TIMEOUT: Final = istr("X-Request-Timeout")
    X_REQUEST_PRIORITY: Final = istr("X-Request-Priority")
    X_SERVICE_NAME: Final = istr("X-Service-Name")
    X_DO_NOT_RETRY: Final = istr("X-Do-Not-Retry")
    X_CIRCUIT_BREAKER: Final = istr("X-Circuit-Breaker")
    CONTENT_TYPE: Final = istr("Content-Type")
    CONTENT_LENGTH: Final = istr("Content-Length")
    LOCATION: Final = istr("Location")
    RETRY_AFTER: Final = istr("Retry-After")


MAX_SENT_TIMEOUT: Final = 86_400.0
"""The largest ``X-Request-Timeout`` a client ever sends (a day); larger values are capped."""


def format_request_timeout(seconds: float) -> str:
    """Format seconds left as a compact, finite decimal with millisecond resolution.

    NaN and negatives become ``"0"``, infinity and huge values :data:`MAX_SENT_TIMEOUT`:
    whatever the caller's deadline, the header is a finite number a server can parse.

    >>> format_request_timeout(4.98), format_request_timeout(20), format_request_timeout(0.0125)
    ('4.98', '20', '0.013')
    """
    if math.isnan(seconds) or seconds <= 0:
        return "0"
    if seconds > MAX_SENT_TIMEOUT:
        seconds = MAX_SENT_TIMEOUT
    text = f"{seconds:.3f}".rstrip("0")
    return text[:-1] if text.endswith(".") else text
