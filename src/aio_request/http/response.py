"""Responses: the abstract :class:`Response`, closable and in-memory implementations.

Transports return :class:`ClosableResponse` objects; the client closes every response it does not
hand to the caller, and the one it hands over when the caller's ``async with`` block ends.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable, Mapping
from typing import Any, Final

from multidict import CIMultiDict, CIMultiDictProxy

from aio_request._core.errors import TransportFailure, UnexpectedContentTypeError
from aio_request.http.headers import Header

_EMPTY_HEADERS: Final[CIMultiDictProxy[str]] = CIMultiDictProxy(CIMultiDict())
_JSON: Final = "application/json"


def parse_content_type(header: str | None) -> tuple[str, str | None]:
    """Split a ``Content-Type`` value into its lower-cased media type and its charset (if any)."""
    if not header:
        return "", None
    media_type, _, params = header.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"') or None
    return media_type.strip().lower(), charset


def as_headers_proxy(headers: Mapping[str, str] | None) -> CIMultiDictProxy[str]:
    """Return ``headers`` as a read-only case-insensitive multidict (no copy if it is one)."""
    if headers is None:
        return _EMPTY_HEADERS
    if isinstance(headers, CIMultiDictProxy):
        return headers
    return CIMultiDictProxy(CIMultiDict(headers))


def content_type_matches(actual: str, expected: str) -> bool:
    """Whether ``actual`` satisfies ``expected``; ``application/*+json`` counts as JSON."""
    if actual == expected:
        return True
    return expected == _JSON and actual.startswith("application/") and actual.endswith("+json")


class Response(abc.ABC):
    """A response: status, headers, timing and body accessors."""

    __slots__ = ()

    @property
    @abc.abstractmethod
    def status(self) -> int:
        """The HTTP status code (or a synthetic one: 489, 488, 408, 502)."""

    @property
    @abc.abstractmethod
    def headers(self) -> CIMultiDictProxy[str]:
        """The response headers (case-insensitive)."""

    @property
    @abc.abstractmethod
    def elapsed(self) -> float:
        """Seconds the attempt took, or -1 if unknown."""

    @property
    def failure(self) -> TransportFailure | None:
        """Why this response was synthesised locally; ``None`` for a real server response."""
        return None

    @abc.abstractmethod
    async def read(self) -> bytes:
        """The whole body."""

    async def text(self, encoding: str | None = None) -> str:
        """The body decoded with ``encoding``, else the charset of the content type, else UTF-8.

        Raises :class:`UnicodeDecodeError` when the body is not valid in that encoding and
        :class:`LookupError` when the encoding is not a known text encoding (the charset comes
        from the server, so any string can arrive here).
        """
        body = await self.read()
        charset = encoding or parse_content_type(self.headers.get(Header.CONTENT_TYPE))[1] or "utf-8"
        if "\x00" in charset:  # the codec registry would raise a bare ValueError
            raise LookupError(f"unknown encoding: {charset!r}")
        try:
            return body.decode(charset)
        except UnicodeDecodeError:
            raise
        except UnicodeError as exc:  # codecs such as punycode and idna raise the base class
            raise UnicodeDecodeError(charset, body, 0, len(body), str(exc)) from exc

    async def json(
        self,
        *,
        encoding: str | None = None,
        loads: Callable[[str], Any] = json.loads,
        content_type: str | None = _JSON,
    ) -> Any:
        """The body parsed as JSON; ``None`` for an empty body.

        Raises :class:`UnexpectedContentTypeError` when the content type does not match
        ``content_type`` (``None`` skips the check) and the ``loads`` error for invalid JSON.
        """
        if content_type is not None:
            actual = self.content_type
            if not content_type_matches(actual, content_type.lower()):
                raise UnexpectedContentTypeError(
                    content_type, actual, status=self.status, failure=self.failure
                )
        text = await self.text(encoding)
        if not text.strip():
            return None
        return loads(text)

    @property
    def content_type(self) -> str:
        """The media type of the body, lower-cased, without parameters ("" when absent)."""
        return parse_content_type(self.headers.get(Header.CONTENT_TYPE))[0]

    @property
    def is_json(self) -> bool:
        """Whether the content type is JSON (``application/json`` or ``application/*+json``)."""
        return content_type_matches(self.content_type, _JSON)

    def is_informational(self) -> bool:
        """1xx."""
        return 100 <= self.status < 200

    def is_successful(self) -> bool:
        """2xx."""
        return 200 <= self.status < 300

    def is_redirection(self) -> bool:
        """3xx."""
        return 300 <= self.status < 400

    def is_client_error(self) -> bool:
        """4xx."""
        return 400 <= self.status < 500

    def is_server_error(self) -> bool:
        """5xx."""
        return 500 <= self.status < 600

    def __repr__(self) -> str:
        return f"<{type(self).__name__} [{self.status}]>"


class ClosableResponse(Response):
    """A response that holds resources (a connection) until :meth:`close` is awaited."""

    __slots__ = ()

    @abc.abstractmethod
    async def close(self) -> None:
        """Release what the response holds; safe to call more than once."""


class BufferedResponse(ClosableResponse):
    """A response whose body is already in memory; closing it releases nothing."""

    __slots__ = ("_body", "_elapsed", "_failure", "_headers", "_status")

    def __init__(
        self,
        *,
        status: int,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        elapsed: float = -1.0,
        failure: TransportFailure | None = None,
    ) -> None:
        self._status = status
        self._headers = as_headers_proxy(headers)
        self._body = body
        self._elapsed = elapsed
        self._failure = failure

    @property
    def status(self) -> int:
        """The status code."""
        return self._status

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        """The headers."""
        return self._headers

    @property
    def elapsed(self) -> float:
        """Seconds the attempt took (-1 if unknown)."""
        return self._elapsed

    @property
    def failure(self) -> TransportFailure | None:
        """The local cause of a synthetic response, else ``None``."""
        return self._failure

    async def read(self) -> bytes:
        """The body."""
        return self._body

    async def close(self) -> None:
        """Nothing to release."""


class EmptyResponse(BufferedResponse):
    """A body-less response, used for synthetic statuses (``json()`` returns ``None``)."""

    __slots__ = ()

    def __init__(
        self,
        *,
        status: int,
        headers: Mapping[str, str] | None = None,
        elapsed: float = 0,
        failure: TransportFailure | None = None,
    ) -> None:
        super().__init__(status=status, headers=headers, body=b"", elapsed=elapsed, failure=failure)
