"""Turning a request's relative URL template into the URL that is sent, safely.

The rules, which the README documents:

* the request URL is relative; an absolute or scheme-relative URL (``//host/x``) is refused;
* it is appended to the endpoint's path, which is treated as a directory: ``get("/thing")`` on
  ``http://h/api/`` goes to ``http://h/api/thing`` (a leading ``/`` does not escape the
  endpoint); an empty URL (``get("")``) is the endpoint itself;
* ``.``/``..`` segments written in the template are resolved as RFC 3986 does against that path
  (``get("../admin")`` on ``http://h/api/v1/`` goes to ``http://h/api/admin``); the result never
  leaves the endpoint's scheme, host and port;
* each ``{name}`` placeholder is replaced by ``str(value)`` percent-encoded as exactly one path
  segment (``/ ? # %``, spaces and non-ASCII are encoded); the values ``""``, ``.`` and ``..``
  are refused, so ``users/{id}`` can never leave ``users/``;
* query parameters are a mapping or an iterable of pairs; ``None`` values are skipped, non-string
  iterables repeat the key, every other value becomes ``str(value)`` (so ``True`` is sent as
  ``True``, a ``UUID``, ``date``, ``Decimal`` or ``Enum`` as its ``str()``), ``bytes`` are decoded
  as UTF-8;
* CR, LF or NUL in any parameter is refused: they have no business in a URL; so are lone
  surrogates, which cannot be encoded (a query value would otherwise lose them silently).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias
from urllib.parse import quote

import yarl

from aio_request._core.errors import InvalidRequestError

PathParameters: TypeAlias = Mapping[str, Any]
"""Values for the ``{name}`` placeholders of a request path; each is stringified."""

QueryParameters: TypeAlias = Mapping[str, Any] | Iterable[tuple[str, Any]]
"""A mapping or pairs; ``None`` values are skipped and non-string iterables repeat the key."""

_PLACEHOLDER = re.compile(r"\{([^{}/]*)\}")
_FORBIDDEN_CHARS = re.compile(r"[\r\n\x00\ud800-\udfff]")
_LITERAL_SAFE = "/!$&'()*+,;=:@"


def ensure_relative(url: str | yarl.URL) -> yarl.URL:
    """Return ``url`` as a relative :class:`yarl.URL`, refusing absolute and scheme-relative ones."""
    if isinstance(url, str):
        if url.startswith(("//", "\\")):
            raise InvalidRequestError(f"request URL must be relative to the endpoint, got {url!r}")
        parsed = yarl.URL(url)
    elif isinstance(url, yarl.URL):
        parsed = url
    else:
        raise TypeError(f"url must be a str or yarl.URL, got {type(url).__name__}")
    if parsed.is_absolute() or parsed.scheme or parsed.raw_host is not None:
        raise InvalidRequestError(f"request URL must be relative to the endpoint, got {str(parsed)!r}")
    return parsed


def _check_text(kind: str, name: str, text: str) -> str:
    if _FORBIDDEN_CHARS.search(text) is not None:
        raise InvalidRequestError(f"{kind} {name!r} contains CR, LF, NUL or a lone surrogate: {text!r}")
    return text


def render_path(template: yarl.URL, path_parameters: PathParameters | None) -> str:
    """Return the percent-encoded relative path of ``template`` with placeholders filled in."""
    path = template.path
    if "{" not in path:  # the common case: nothing to fill, yarl's encoding is kept
        return template.raw_path.lstrip("/")
    parts = _PLACEHOLDER.split(path)
    rendered: list[str] = []
    for index, part in enumerate(parts):
        if index % 2 == 0:
            rendered.append(quote(part, safe=_LITERAL_SAFE))
            continue
        if path_parameters is None or part not in path_parameters:
            raise InvalidRequestError(f"path parameter {part!r} of {template.path!r} is missing")
        rendered.append(encode_path_parameter(part, path_parameters[part]))
    return "".join(rendered).lstrip("/")


def encode_path_parameter(name: str, value: Any) -> str:
    """``str(value)`` percent-encoded as exactly one path segment; ``""``, ``.``, ``..`` are refused."""
    text = _check_text("path parameter", name, str(value))
    if text in ("", ".", ".."):
        raise InvalidRequestError(f"path parameter {name!r} must not be {text!r}")
    return quote(text, safe="")


def _is_dot_segment(segment: str) -> bool:
    return segment in (".", "..") or (
        "%" in segment and segment.replace("%2e", ".").replace("%2E", ".") in (".", "..")
    )


def _remove_dot_segments(path: str) -> str:
    """Resolve ``.`` and ``..`` in an absolute path (RFC 3986 5.2.4); ``..`` stops at the root."""
    kept: list[str] = []
    segments = path.split("/")[1:]
    for position, segment in enumerate(segments):
        last = position == len(segments) - 1
        if _is_dot_segment(segment):
            if segment.replace("%2e", ".").replace("%2E", ".") == ".." and kept:
                kept.pop()
            if last:  # "a/.." and "a/." name a directory: keep the trailing slash
                kept.append("")
            continue
        kept.append(segment)
    return "/" + "/".join(kept)


def query_text(name: str, value: Any) -> str:
    """The text sent for one query value: ``str(value)``, ``bytes`` decoded as UTF-8, checked."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bytes | bytearray):
        try:
            text = bytes(value).decode()
        except UnicodeDecodeError as error:
            raise InvalidRequestError(f"query parameter {name!r} is bytes that are not UTF-8") from error
    else:
        text = str(value)
    return _check_text("query parameter", name, text)


def normalize_query(query_parameters: QueryParameters | None) -> tuple[tuple[str, str], ...]:
    """Flatten query parameters into ``(name, value)`` string pairs, validating both."""
    if not query_parameters:
        return ()
    items = query_parameters.items() if isinstance(query_parameters, Mapping) else query_parameters
    pairs: list[tuple[str, str]] = []
    for name, value in items:
        if not isinstance(name, str):
            raise TypeError(f"query parameter names must be str, got {name!r}")
        _check_text("query parameter name", name, name)
        if value is None:
            continue
        if isinstance(value, Iterable) and not isinstance(value, str | bytes | bytearray):
            pairs.extend((name, query_text(name, v)) for v in value if v is not None)
            continue
        pairs.append((name, query_text(name, value)))
    return tuple(pairs)


def join_endpoint(
    endpoint: yarl.URL, relative_path: str, query_string: str, query: Iterable[tuple[str, str]]
) -> yarl.URL:
    """Append an encoded relative path and a query to ``endpoint``, never leaving its origin."""
    base = endpoint.raw_path or "/"
    if not relative_path:
        path = base
    else:
        path = base + relative_path if base.endswith("/") else f"{base}/{relative_path}"
        maybe_dots = "." in relative_path or "%2" in relative_path
        if maybe_dots and any(_is_dot_segment(part) for part in relative_path.split("/")):
            path = _remove_dot_segments(path)
    url = yarl.URL.build(
        scheme=endpoint.scheme,
        authority=endpoint.raw_authority,
        path=path,
        query_string=query_string,
        encoded=True,
    )
    pairs = list(query)
    return url.extend_query(pairs) if pairs else url
