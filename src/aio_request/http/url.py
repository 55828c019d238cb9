"""Turning a request's relative URL template into the URL that is sent, safely.

The rules, which the README documents:

* the request URL is relative; an absolute or scheme-relative URL (``//host/x``) is refused;
* it is always appended to the endpoint's path: ``get("/thing")`` on ``http://h/api/`` goes to
  ``http://h/api/thing`` (a leading ``/`` does not escape the endpoint), and ``.``/``..``
  segments in a template are refused;
* each ``{name}`` placeholder is replaced by ``str(value)`` percent-encoded as exactly one path
  segment (``/ ? # %``, spaces and non-ASCII are encoded); the values ``""``, ``.`` and ``..``
  are refused, so ``users/{id}`` can never leave ``users/``;
* query parameters are a mapping or an iterable of pairs; ``None`` values are skipped, non-string
  iterables repeat the key, ``bool`` becomes ``true``/``false``, other values ``str(value)``;
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
        if "." in path and any(segment in (".", "..") for segment in path.split("/")):
            raise InvalidRequestError(f"request path must not contain dot segments: {path!r}")
        return template.raw_path.lstrip("/")
    parts = _PLACEHOLDER.split(path)
    rendered: list[str] = []
    for index, part in enumerate(parts):
        if index % 2 == 0:
            for segment in part.split("/"):
                if segment in (".", ".."):
                    raise InvalidRequestError(
                        f"request path must not contain dot segments: {template.path!r}"
                    )
            rendered.append(quote(part, safe=_LITERAL_SAFE))
            continue
        if path_parameters is None or part not in path_parameters:
            raise InvalidRequestError(f"path parameter {part!r} of {template.path!r} is missing")
        value = _check_text("path parameter", part, str(path_parameters[part]))
        if value in ("", ".", ".."):
            raise InvalidRequestError(f"path parameter {part!r} must not be {value!r}")
        rendered.append(quote(value, safe=""))
    return "".join(rendered).lstrip("/")


def _query_value(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _check_text("query parameter", name, value)
    if isinstance(value, int | float):
        return str(value)
    raise TypeError(f"query parameter {name!r} has unsupported value type {type(value).__name__}")


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
        if isinstance(value, str | bytes | bool | int | float):
            pairs.append((name, _query_value(name, value)))
            continue
        if isinstance(value, Iterable):
            pairs.extend((name, _query_value(name, v)) for v in value if v is not None)
            continue
        raise TypeError(f"query parameter {name!r} has unsupported value type {type(value).__name__}")
    return tuple(pairs)


def join_endpoint(
    endpoint: yarl.URL, relative_path: str, query_string: str, query: Iterable[tuple[str, str]]
) -> yarl.URL:
    """Append an encoded relative path and a query to ``endpoint``, never leaving its path."""
    base = endpoint.raw_path
    path = base + relative_path if base.endswith("/") else f"{base}/{relative_path}"
    url = yarl.URL.build(
        scheme=endpoint.scheme,
        authority=endpoint.raw_authority,
        path=path,
        query_string=query_string,
        encoded=True,
    )
    pairs = list(query)
    return url.extend_query(pairs) if pairs else url
