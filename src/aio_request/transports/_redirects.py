"""Following redirects, the same way on both transports.

Both transports send each hop themselves (their client's own redirect handling is off) and ask
:func:`next_hop` what to send next, so the rules are one:

* a ``301``, ``302``, ``303``, ``307`` or ``308`` response with a ``Location`` is a redirect;
  every other response, a 3xx without ``Location`` included, is the answer;
* the ``Location`` is resolved against the URL of the hop that received it. A relative reference
  (``/next``, ``next``, ``?q=1``, ``//host/next``) is joined; an absolute one must be
  ``http://`` or ``https://`` with a host. Anything else raises :class:`InvalidRedirectError`:
  another scheme (``javascript:``, ``mailto:``, ``x:``), a scheme without ``//host``
  (``http:x``), a port outside 1-65535, spaces or control characters, several different
  ``Location`` values, an empty one;
* ``303`` (but for ``HEAD``), and ``301``/``302`` after a ``POST``, become a body-less ``GET``;
  ``307`` and ``308`` repeat the method and the body;
* when the next hop leaves the origin (scheme, host, port) of the current one, the credentials
  go: ``Authorization``, ``Cookie``, ``Proxy-Authorization`` (and an explicit ``Host``);
* ``X-Request-Timeout``, when the request carries a valid one, is rewritten on every hop to
  what is left of it when that hop is sent (the value the first hop announced, minus the time
  since it was sent).
"""

from __future__ import annotations

import re
from typing import Final

import yarl
from multidict import CIMultiDict, CIMultiDictProxy, istr

from aio_request.http.headers import MAX_SENT_TIMEOUT, Header, format_request_timeout, parse_request_timeout

REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
"""Statuses that redirect when they carry a ``Location``."""

_CREDENTIALS: Final = (istr("Authorization"), istr("Cookie"), istr("Proxy-Authorization"), istr("Host"))
_BODY_HEADERS: Final = (
    Header.CONTENT_LENGTH,
    Header.CONTENT_TYPE,
    istr("Content-Encoding"),
    istr("Transfer-Encoding"),
)
_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_UNSAFE: Final = re.compile(r"[\x00-\x20\x7f]")
_HTTP_SCHEMES: Final = frozenset({"http", "https"})


class InvalidRedirectError(Exception):
    """A redirect whose ``Location`` cannot be followed; :attr:`location` is what was sent."""

    def __init__(self, location: str, reason: str) -> None:
        super().__init__(f"cannot follow the redirect to {location!r}: {reason}")
        self.location = location


class TooManyRedirectsError(Exception):
    """More redirects than the request's ``max_redirects``; carries the ``Location`` chain."""

    def __init__(self, max_redirects: int, locations: list[str]) -> None:
        super().__init__(f"more than {max_redirects} redirects")
        self.locations = locations


class Hop:
    """One request of a redirect chain: what is sent, and where."""

    __slots__ = ("body", "headers", "method", "url")

    def __init__(
        self,
        method: str,
        url: yarl.URL,
        headers: CIMultiDictProxy[str] | CIMultiDict[str],
        body: bytes | None,
    ) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body


def redirect_location(status: int, locations: list[str]) -> str | None:
    """The ``Location`` to follow for a response, ``None`` when it is not a redirect.

    ``locations`` are all the response's ``Location`` values; several different ones raise
    :class:`InvalidRedirectError`.
    """
    if status not in REDIRECT_STATUSES or not locations:
        return None
    first = locations[0]
    if any(location != first for location in locations[1:]):
        raise InvalidRedirectError(", ".join(locations), "several different Location values")
    return first


def resolve_location(base: yarl.URL, location: str) -> yarl.URL:
    """The absolute http(s) URL ``location`` points to from ``base``; see the module docstring."""
    if not location:
        raise InvalidRedirectError(location, "empty")
    if _UNSAFE.search(location) is not None:
        raise InvalidRedirectError(location, "spaces or control characters")
    scheme = _SCHEME.match(location)
    if scheme is not None and scheme.group()[:-1].lower() not in _HTTP_SCHEMES:
        raise InvalidRedirectError(location, "not an http(s) URL")
    try:
        parsed = yarl.URL(location)
        if (scheme is not None or location.startswith("//")) and not parsed.raw_host:
            raise InvalidRedirectError(location, "an http(s) URL without a host")
        target = (parsed if scheme is not None else base.join(parsed)).with_fragment(None)
        port = target.port
    except (ValueError, TypeError, UnicodeError) as exc:
        raise InvalidRedirectError(location, str(exc) or type(exc).__name__) from exc
    if target.scheme not in _HTTP_SCHEMES or not target.raw_host:
        raise InvalidRedirectError(location, "not an http(s) URL with a host")
    if port is None or not 0 < port < 65536:
        raise InvalidRedirectError(location, f"port {port} out of range 1-65535")
    return target


def same_origin(first: yarl.URL, second: yarl.URL) -> bool:
    """Whether both URLs have the same scheme, host and port."""
    return _origin(first) == _origin(second)


def _origin(url: yarl.URL) -> tuple[str, str, int | None]:
    return url.scheme, (url.raw_host or "").lower(), url.port


def announced_timeout(headers: CIMultiDictProxy[str] | CIMultiDict[str]) -> float | None:
    """The seconds ``X-Request-Timeout`` announces in ``headers``; ``None`` when absent or invalid."""
    values = headers.getall(Header.X_REQUEST_TIMEOUT, [])
    return parse_request_timeout(values, limit=MAX_SENT_TIMEOUT) if values else None


def next_hop(hop: Hop, status: int, location: str, seconds_left: float | None) -> Hop:
    """What to send after ``hop`` was answered ``status`` with ``location``.

    ``seconds_left`` is what is left now of the deadline the first hop announced in
    ``X-Request-Timeout`` (``None`` when it announced none, or nothing valid: the header is then
    copied as it is). Raises :class:`InvalidRedirectError` when the location cannot be followed.
    """
    url = resolve_location(hop.url, location)
    headers = CIMultiDict(hop.headers)
    method, body = hop.method, hop.body
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method, body = "GET", None
        for name in _BODY_HEADERS:
            headers.popall(name, None)
    if not same_origin(url, hop.url):
        for name in _CREDENTIALS:
            headers.popall(name, None)
    if seconds_left is not None and Header.X_REQUEST_TIMEOUT in headers:
        headers[Header.X_REQUEST_TIMEOUT] = format_request_timeout(seconds_left)
    return Hop(method, url, headers, body)
