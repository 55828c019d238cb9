"""The immutable description of an HTTP request relative to an endpoint.

See :mod:`aio_request.http.url` for how the URL template and its parameters become the URL sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, TypeAlias

import yarl
from multidict import CIMultiDict, CIMultiDictProxy

from aio_request._core.errors import InvalidRequestError
from aio_request._core.validate import at_least
from aio_request.http.headers import Header
from aio_request.http.url import (
    PathParameters,
    QueryParameters,
    ensure_relative,
    join_endpoint,
    normalize_query,
    render_path,
)

Headers: TypeAlias = Mapping[str, str] | CIMultiDictProxy[str] | CIMultiDict[str]
"""Request headers: any mapping of names to values, or a multidict for repeated names."""

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Control characters but HTAB (RFC 9110 §5.5; aiohttp refuses to send them) and lone surrogates
# (no encoding can send them): refused when the request is built, not deep in a transport.
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")
_NO_HEADERS: Final[CIMultiDictProxy[str]] = CIMultiDictProxy(CIMultiDict())
_COMMON_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Valid method names that need no regular expression to tell."""


_MAX_TEMPLATES: Final = 1024
_MAX_JOINED: Final = 1024
_joined: dict[tuple[yarl.URL, str, str, tuple[tuple[str, str], ...]], yarl.URL] = {}
"""Absolute URLs by endpoint, rendered path, query string and query pairs: joining costs more
than the lookup, and most calls repeat one."""
_templates: dict[str, tuple[yarl.URL, str | None]] = {}


def _parsed_template(url: str | yarl.URL, path_parameters: PathParameters | None) -> tuple[yarl.URL, str]:
    """The relative URL and its rendered path; a ``str`` template is parsed once, and its path
    rendered once when it takes no parameters (most requests are built from a literal)."""
    if type(url) is not str:
        parsed = ensure_relative(url)
        return parsed, render_path(parsed, path_parameters)
    cached = _templates.get(url)
    if cached is None:
        parsed = ensure_relative(url)
        static = None if "{" in parsed.path else render_path(parsed, None)
        if len(_templates) >= _MAX_TEMPLATES:
            _templates.clear()
        cached = _templates[url] = (parsed, static)
    parsed, static = cached
    return parsed, render_path(parsed, path_parameters) if static is None else static


class Method:
    """HTTP method names."""

    GET: Final = "GET"
    POST: Final = "POST"
    PUT: Final = "PUT"
    DELETE: Final = "DELETE"
    PATCH: Final = "PATCH"


def _validated_headers(headers: Headers | None) -> CIMultiDictProxy[str]:
    if not headers:
        return _NO_HEADERS
    result: CIMultiDict[str] = CIMultiDict()
    _add_headers(result, headers)
    return CIMultiDictProxy(result)


def _add_headers(target: CIMultiDict[str], headers: Headers) -> None:
    for name, value in headers.items():
        if not isinstance(name, str) or _TOKEN.fullmatch(name) is None:
            raise InvalidRequestError(f"invalid header name {name!r}")
        if not isinstance(value, str):
            raise TypeError(f"header {name!r} must have a str value, got {type(value).__name__}")
        if _BAD_VALUE.search(value) is not None:
            raise InvalidRequestError(
                f"header {name!r} contains a control character (CR, LF, ...) or a lone surrogate: {value!r}"
            )
        target.add(name, value)


class Request:
    """An immutable request; build one with :func:`get`, :func:`post_json` and friends.

    All arguments are keyword-only. ``url`` is relative to the endpoint (``str`` or
    :class:`yarl.URL`); an absolute URL raises :class:`ValueError`. Invalid headers, parameters
    or redirect limits raise :class:`ValueError`/:class:`TypeError` here, not in the transport.

    ``max_response_size`` (``None``): the largest body, in bytes after decoding, the transport
    buffers for this request; ``None`` leaves it to the transport's own ``max_response_size``.
    """

    __slots__ = (
        "_headers",
        "_query_pairs",
        "_relative_path",
        "allow_redirects",
        "body",
        "max_redirects",
        "max_response_size",
        "method",
        "path_parameters",
        "query_parameters",
        "url",
    )

    method: str
    url: yarl.URL
    path_parameters: PathParameters | None
    query_parameters: QueryParameters | None
    body: bytes | None
    allow_redirects: bool
    max_redirects: int
    max_response_size: int | None
    _headers: CIMultiDictProxy[str]
    _relative_path: str
    _query_pairs: tuple[tuple[str, str], ...]

    def __init__(
        self,
        *,
        method: str,
        url: str | yarl.URL,
        path_parameters: PathParameters | None = None,
        query_parameters: QueryParameters | None = None,
        headers: Headers | None = None,
        body: bytes | None = None,
        allow_redirects: bool = True,
        max_redirects: int = 10,
        max_response_size: int | None = None,
    ) -> None:
        common = type(method) is str and method in _COMMON_METHODS
        if not common and (not isinstance(method, str) or _TOKEN.fullmatch(method) is None):
            raise InvalidRequestError(f"invalid method {method!r}")
        if body is not None and not isinstance(body, bytes | bytearray | memoryview):
            raise TypeError(f"body must be bytes or None, got {type(body).__name__}")
        if isinstance(max_redirects, bool) or not isinstance(max_redirects, int) or max_redirects < 0:
            raise ValueError(f"max_redirects must be an int >= 0, got {max_redirects!r}")
        if max_response_size is not None:
            at_least("max_response_size", max_response_size, 0)
        parsed, relative_path = _parsed_template(url, path_parameters)
        fields = (
            method.upper(),
            parsed,
            path_parameters,
            query_parameters,
            bytes(body) if body is not None and not isinstance(body, bytes) else body,
            bool(allow_redirects),
            max_redirects,
            max_response_size,
            _validated_headers(headers) if headers else _NO_HEADERS,
            relative_path,
            normalize_query(query_parameters) if query_parameters else (),
        )
        if type(self) is not Request:  # a subclass may have a layout of its own
            for name, value in zip(_FIELDS, fields, strict=True):
                object.__setattr__(self, name, value)
            return
        # Validated: filled in as a draft (see _with_headers), then a Request again.
        object.__setattr__(self, "__class__", _RequestDraft)
        (
            self.method,
            self.url,
            self.path_parameters,
            self.query_parameters,
            self.body,
            self.allow_redirects,
            self.max_redirects,
            self.max_response_size,
            self._headers,
            self._relative_path,
            self._query_pairs,
        ) = fields
        self.__class__ = Request

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        """The request headers (a read-only case-insensitive multidict)."""
        return self._headers

    def build_url(self, endpoint: yarl.URL) -> yarl.URL:
        """The absolute URL this request is sent to on ``endpoint`` (see :mod:`aio_request.http.url`)."""
        key = (endpoint, self._relative_path, self.url.raw_query_string, self._query_pairs)
        url = _joined.get(key)
        if url is None:
            url = join_endpoint(endpoint, *key[1:])
            if len(_joined) >= _MAX_JOINED:
                _joined.clear()
            _joined[key] = url
        return url

    def _with_headers(self, headers: CIMultiDictProxy[str]) -> Request:
        # Filled in as a _RequestDraft (plain attribute stores), then made a Request: ten times
        # cheaper than object.__setattr__ per slot, and this runs for every attempt.
        clone: Request = object.__new__(_RequestDraft)
        clone.method = self.method
        clone.url = self.url
        clone.path_parameters = self.path_parameters
        clone.query_parameters = self.query_parameters
        clone.body = self.body
        clone.allow_redirects = self.allow_redirects
        clone.max_redirects = self.max_redirects
        clone.max_response_size = self.max_response_size
        clone._headers = headers
        clone._relative_path = self._relative_path
        clone._query_pairs = self._query_pairs
        clone.__class__ = Request
        return clone

    def with_system_headers(self, request_timeout: str, priority: str) -> Request:
        """A copy carrying ``X-Request-Timeout`` and ``X-Request-Priority`` (replacing any).

        The pipeline's hot path: the values come from the library's own formatter, so they are
        not validated again.
        """
        if not self._headers:  # the common case: nothing to copy or replace
            new_headers = CIMultiDict(
                {Header.X_REQUEST_TIMEOUT: request_timeout, Header.X_REQUEST_PRIORITY: priority}
            )
        else:
            new_headers = CIMultiDict(self._headers)
            new_headers[Header.X_REQUEST_TIMEOUT] = request_timeout
            new_headers[Header.X_REQUEST_PRIORITY] = priority
        return self._with_headers(CIMultiDictProxy(new_headers))

    def update_headers(self, headers: Headers) -> Request:
        """A copy whose headers named in ``headers`` are replaced by the given values."""
        if not headers:
            return self
        new_headers = CIMultiDict(self._headers)
        added: CIMultiDict[str] = CIMultiDict()
        _add_headers(added, headers)
        for name in added:
            new_headers.popall(name, None)
        new_headers.extend(added)
        return self._with_headers(CIMultiDictProxy(new_headers))

    def extend_headers(self, headers: Headers) -> Request:
        """A copy with ``headers`` added to the existing ones (repeated names are kept)."""
        if not headers:
            return self
        new_headers = CIMultiDict(self._headers)
        _add_headers(new_headers, headers)
        return self._with_headers(CIMultiDictProxy(new_headers))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Request is immutable; use update_headers/extend_headers")

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.url}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Request):
            return NotImplemented
        return (
            self.method == other.method
            and self.url == other.url
            and self._relative_path == other._relative_path
            and self._query_pairs == other._query_pairs
            and list(self._headers.items()) == list(other._headers.items())
            and self.body == other.body
            and self.allow_redirects == other.allow_redirects
            and self.max_redirects == other.max_redirects
            and self.max_response_size == other.max_response_size
        )

    __hash__ = None  # type: ignore[assignment]


_FIELDS: Final = (
    "method",
    "url",
    "path_parameters",
    "query_parameters",
    "body",
    "allow_redirects",
    "max_redirects",
    "max_response_size",
    "_headers",
    "_relative_path",
    "_query_pairs",
)
"""Every slot of a Request, in the order ``Request.__init__`` computes them."""


class _RequestDraft(Request):
    """A :class:`Request` under construction: same slots, attributes assignable.

    Only :meth:`Request._with_headers` makes one, and turns it into a ``Request`` at once.
    """

    __slots__ = ()
    __setattr__ = object.__setattr__  # type: ignore[assignment]
