"""``Retry-After``: how long a server that answered 429 or 503 asked us to wait.

The header holds either delay-seconds (``120``) or an HTTP date (``Wed, 21 Oct 2015 07:28:00
GMT``), RFC 9110 §10.2.3. Only 429 (Too Many Requests) and 503 (Service Unavailable) responses
are looked at; on other statuses the header means something else or nothing.

What is honoured, and the cap:

* delay-seconds: ASCII digits with an optional fraction (``1.5`` is accepted although the RFC
  only has integers); anything else (negative, ``inf``, ``1e3``) is ignored;
* an HTTP date is turned into seconds from now with the *wall* clock (it is an absolute time);
  a date in the past means "now" (0 s); an unparseable one is ignored;
* the result is capped at ``max_seconds`` (:data:`MAX_RETRY_AFTER_SECONDS`, 60 s, by default):
  a buggy or hostile server cannot park a caller for hours. Under the client's default 20 s
  timeout anything above the remaining deadline stops the retries at once anyway.
"""

from __future__ import annotations

import datetime
import email.utils
import math
import re
from collections.abc import Callable
from typing import Final

from aio_request._core.clock import wall_time
from aio_request.http.headers import Header
from aio_request.http.response import Response

MAX_RETRY_AFTER_SECONDS: Final = 60.0
"""The longest ``Retry-After`` that is honoured; longer values count as this many seconds."""

PUSHBACK_STATUSES: Final = frozenset({429, 503})
"""Statuses whose ``Retry-After`` the strategies honour."""

_DELAY_SECONDS: Final = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_MAX_LENGTH: Final = 64


def parse_retry_after(
    value: str,
    *,
    max_seconds: float = MAX_RETRY_AFTER_SECONDS,
    wall_clock: Callable[[], float] = wall_time,
) -> float | None:
    """Seconds to wait according to one ``Retry-After`` value, capped; ``None`` when invalid.

    ``wall_clock`` gives the current POSIX time, used for HTTP dates.

    >>> parse_retry_after("2"), parse_retry_after("3600"), parse_retry_after("soon")
    (2.0, 60.0, None)
    >>> parse_retry_after("Thu, 01 Jan 1970 00:00:30 GMT", wall_clock=lambda: 10.0)
    20.0
    """
    text = value.strip()
    if not text or len(text) > _MAX_LENGTH or not text.isascii():
        return None
    if _DELAY_SECONDS.fullmatch(text) is not None:
        seconds = float(text)
    else:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            # RFC 9110 dates are always GMT; obsolete forms without a zone are read as GMT too.
            seconds = when.replace(tzinfo=datetime.UTC).timestamp() - wall_clock()
        else:
            seconds = when.timestamp() - wall_clock()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), max_seconds)


def retry_after_seconds(
    response: Response,
    *,
    max_seconds: float = MAX_RETRY_AFTER_SECONDS,
    wall_clock: Callable[[], float] = wall_time,
) -> float | None:
    """The pushback asked for by a 429/503 ``response`` (capped), else ``None``.

    With several ``Retry-After`` field lines, the longest valid one wins (the cautious reading).
    """
    if response.status not in PUSHBACK_STATUSES:
        return None
    values = response.headers.getall(Header.RETRY_AFTER, ())
    longest: float | None = None
    for value in values:
        seconds = parse_retry_after(value, max_seconds=max_seconds, wall_clock=wall_clock)
        if seconds is not None and (longest is None or seconds > longest):
            longest = seconds
    return longest
