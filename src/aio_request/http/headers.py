"""The wire format: header names and the only code that formats or parses ``X-Request-*`` values.

Server middlewares parse what clients format here, so both directions stay in one module.

Parsing rules (both server middlewares use :func:`parse_request_timeout` and
:func:`parse_priority`, so aiohttp and ASGI servers behave the same):

* every field line of the header is looked at (duplicated headers are not an error), and a line
  may hold a comma-separated list, as HTTP allows proxies to join duplicates;
* a field line longer than :data:`MAX_HEADER_VALUE_LENGTH` characters is ignored without being
  parsed (a 4,000-digit number costs nothing);
* a timeout element is a plain ASCII decimal (``4.98``, ``.5``, ``2e1``; optional sign, optional
  exponent), surrounded by optional spaces or tabs. ``float()`` is only called after that strict
  match, so ``1_000``, non-ASCII digits, ``0x10`` or inner spaces are invalid;
* the literals ``inf``/``infinity`` (any case) mean "as long as allowed" and are capped; ``nan``
  and ``-inf`` mean "already expired";
* invalid elements are ignored; among the valid ones the **smallest** wins (the most cautious
  reading of conflicting duplicates); zero, negative and NaN become ``0.0`` (expired); anything
  above the caller-supplied ``limit`` (``inf``, ``1e308``) becomes ``limit``;
* priorities are ``high``, ``normal`` or ``low`` in any case, ASCII only; unknown values are
  ignored and, among several valid ones, the **lowest** wins; nothing valid means the default.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Final

from multidict import istr

from aio_request.http.priority import Priority


class Header:
    """Header names used by the library (case-insensitive :class:`multidict.istr`)."""

    X_REQUEST_TIMEOUT: Final = istr("X-Request-Timeout")
    X_REQUEST_PRIORITY: Final = istr("X-Request-Priority")
    X_SERVICE_NAME: Final = istr("X-Service-Name")
    X_DO_NOT_RETRY: Final = istr("X-Do-Not-Retry")
    X_CIRCUIT_BREAKER: Final = istr("X-Circuit-Breaker")
    X_REQUEST_SHED: Final = istr("X-Request-Shed")
    """On a ``503``: the server shed the request without processing it, so it is safe to retry
    (even a POST); the value names the reason (``queue_full``, ``queue_timeout``)."""
    CONTENT_TYPE: Final = istr("Content-Type")
    CONTENT_LENGTH: Final = istr("Content-Length")
    LOCATION: Final = istr("Location")
    HOST: Final = istr("Host")
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
    return f"{seconds:.3f}".rstrip("0").rstrip(".")  # "20.000" -> "20", "0.000" -> "0"


MAX_HEADER_VALUE_LENGTH: Final = 32
"""Longer ``X-Request-Timeout``/``X-Request-Priority`` field lines are ignored without parsing."""

_DECIMAL: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INFINITE: Final = frozenset({"inf", "+inf", "infinity", "+infinity"})
_EXPIRED_LITERALS: Final = frozenset({"nan", "+nan", "-nan", "-inf", "-infinity"})
_OWS: Final = " \t"
_PRIORITY_RANK: Final = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2}


def _elements(values: str | Iterable[str]) -> Iterable[str]:
    """The comma-separated elements of every field line that is short enough to look at."""
    if isinstance(values, str):
        values = (values,)
    for value in values:
        if len(value) > MAX_HEADER_VALUE_LENGTH:
            continue
        yield from value.split(",")


def _parse_seconds(element: str) -> float | None:
    """One element as seconds (``0.0`` when expired, maybe ``inf``), ``None`` when invalid."""
    text = element.strip(_OWS)
    if _DECIMAL.fullmatch(text) is not None:
        seconds = float(text)
        return seconds if seconds > 0 else 0.0
    if not text.isascii():
        return None
    lowered = text.lower()
    if lowered in _INFINITE:
        return math.inf
    if lowered in _EXPIRED_LITERALS:
        return 0.0
    return None


def parse_request_timeout(values: str | Iterable[str], *, limit: float) -> float | None:
    """Seconds left according to ``X-Request-Timeout`` field lines, capped at ``limit``.

    ``values`` is every field line of the header (or one string). Returns ``None`` when no line
    holds a valid value (absent, empty, not a number, overlong), ``0.0`` when the caller's deadline
    is already spent (zero, negative, NaN), else ``min(smallest valid value, limit)``: always a
    finite number when ``limit`` is finite. See the module docstring for the exact rules.

    Raises ``ValueError`` when ``limit`` is NaN or not > 0.

    >>> parse_request_timeout(["4.98"], limit=20), parse_request_timeout(["1e308"], limit=20)
    (4.98, 20.0)
    >>> parse_request_timeout(["-1"], limit=20), parse_request_timeout(["1_000", "abc"], limit=20)
    (0.0, None)
    """
    if not isinstance(limit, int | float) or isinstance(limit, bool) or math.isnan(limit) or limit <= 0:
        raise ValueError(f"limit must be a number > 0, got {limit!r}")
    smallest: float | None = None
    for element in _elements(values):
        seconds = _parse_seconds(element)
        if seconds is not None and (smallest is None or seconds < smallest):
            smallest = seconds
    if smallest is None:
        return None
    return min(smallest, float(limit))


def parse_priority(values: str | Iterable[str], *, default: Priority) -> Priority:
    """The priority according to ``X-Request-Priority`` field lines, else ``default``.

    Case and surrounding whitespace do not matter; unknown, non-ASCII and overlong values are
    ignored; when several valid priorities arrive, the lowest wins.

    >>> parse_priority([" HIGH "], default=Priority.NORMAL), parse_priority(["urgent"], default=Priority.LOW)
    (<Priority.HIGH: 'high'>, <Priority.LOW: 'low'>)
    """
    found: Priority | None = None
    for element in _elements(values):
        if not element.isascii():
            continue
        priority = Priority.try_parse(element)
        if priority is not None and (found is None or _PRIORITY_RANK[priority] < _PRIORITY_RANK[found]):
            found = priority
    return default if found is None else found
