"""Functions that build :class:`Request` objects: ``get``, ``post_json`` and friends."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import yarl

from aio_request.http.headers import Header
from aio_request.http.request import Headers, Method, Request
from aio_request.http.url import PathParameters, QueryParameters


def request(
    method: str,
    url: str | yarl.URL,
    *,
    headers: Headers | None = None,
    path_parameters: PathParameters | None = None,
    query_parameters: QueryParameters | None = None,
    body: bytes | None = None,
    allow_redirects: bool = True,
    max_redirects: int = 10,
    max_response_size: int | None = None,
) -> Request:
    """A request with any method; the other builders are shortcuts for this one.

    Every builder takes ``allow_redirects``, ``max_redirects`` and ``max_response_size`` as
    :class:`~aio_request.http.request.Request` does.
    """
    return Request(
        method=method,
        url=url,
        headers=headers,
        path_parameters=path_parameters,
        query_parameters=query_parameters,
        body=body,
        allow_redirects=allow_redirects,
        max_redirects=max_redirects,
        max_response_size=max_response_size,
    )


def get(
    url: str | yarl.URL,
    *,
    headers: Headers | None = None,
    path_parameters: PathParameters | None = None,
    query_parameters: QueryParameters | None = None,
    allow_redirects: bool = True,
    max_redirects: int = 10,
    max_response_size: int | None = None,
) -> Request:
    """A ``GET`` request, e.g. ``get("users/{id}", path_parameters={"id": 42})``."""
    return Request(
        method=Method.GET,
        url=url,
        headers=headers,
        path_parameters=path_parameters,
        query_parameters=query_parameters,
        allow_redirects=allow_redirects,
        max_redirects=max_redirects,
        max_response_size=max_response_size,
    )


def delete(
    url: str | yarl.URL,
    *,
    headers: Headers | None = None,
    path_parameters: PathParameters | None = None,
    query_parameters: QueryParameters | None = None,
    allow_redirects: bool = True,
    max_redirects: int = 10,
    max_response_size: int | None = None,
) -> Request:
    """A ``DELETE`` request."""
    return Request(
        method=Method.DELETE,
        url=url,
        headers=headers,
        path_parameters=path_parameters,
        query_parameters=query_parameters,
        allow_redirects=allow_redirects,
        max_redirects=max_redirects,
        max_response_size=max_response_size,
    )


def post(
    url: str | yarl.URL,
    body: bytes | None = None,
    *,
    headers: Headers | None = None,
    path_parameters: PathParameters | None = None,
    query_parameters: QueryParameters | None = None,
    allow_redirects: bool = True,
    max_redirects: int = 10,
    max_response_size: int | None = None,
) -> Request:
    """A ``POST`` request with a raw ``body``."""
    return request(
        Method.POST,
        url,
        body=body,
        headers=headers,
        path_parameters=path_parameters,
        query_parameters=query_parameters,
        allow_redirects=allow_redirects,
        max_redirects=max_redirects,
        max_response_size=max_response_size,
    )


def put(
    url: str | yarl.URL,
    body: bytes | None = None,
    *,
    headers: Headers | None = None,
    path_parameters: PathParameters | None = None,
    query_parameters: QueryParameters | None = None,
    allow_redirects: bool = True,
    max_redirects: int = 10,
    max_response_size: int | None = None,
) -> Request:
    """A ``PUT`` request with a raw ``body``."""
    return request(
        Method.PUT,
        url,
        body=body,
        headers=headers,
        path_parameters=path_parameters,
        query_parameters=query_parameters,
        allow_redirects=allow_redirects,
        max_redirects=max_redirects,
        max_response_size=max_response_size,
    )


def patch(
    url: str | yarl.URL,
    body: bytes | None = None,
    *,
    headers: Headers | None = None,
    path_parameters: PathParameters | None = None,
    query_parameters: QueryParameters | None = None,
    allow_redirects: bool = True,
    max_redirects: int = 10,
    max_response_size: int | None = None,
) -> Request:
    """A ``PATCH`` request with a raw ``body``."""
    return request(
        Method.PATCH,
        url,
        body=body,
        headers=headers,
        path_parameters=path_parameters,
        query_parameters=query_parameters,
        allow_redirects=allow_redirects,
        max_redirects=max_redirects,
        max_response_size=max_response_size,
    )


def request_json(
    method: str,
    url: str | yarl.URL,
    data: Any,
    *,
    headers: Headers | None = None,
    path_parameters: PathParameters | None = None,
    query_parameters: QueryParameters | None = None,
    allow_redirects: bool = True,
    max_redirects: int = 10,
    max_response_size: int | None = None,
    encoding: str = "utf-8",
    dumps: Callable[[Any], str] = json.dumps,
    content_type: str = "application/json",
) -> Request:
    """A request whose body is ``data`` encoded as JSON (``bytes`` are sent as they are).

    ``Content-Type`` is set to ``content_type`` unless ``headers`` already name one.
    """
    body = data if isinstance(data, bytes) else dumps(data).encode(encoding)
    request_ = request(
        method,
        url,
        body=body,
        headers=headers,
        path_parameters=path_parameters,
        query_parameters=query_parameters,
        allow_redirects=allow_redirects,
        max_redirects=max_redirects,
        max_response_size=max_response_size,
    )
    if Header.CONTENT_TYPE in request_.headers:
        return request_
    return request_.update_headers({Header.CONTENT_TYPE: content_type})


def post_json(
    url: str | yarl.URL,
    data: Any,
    *,
    headers: Headers | None = None,
    path_parameters: PathParameters | None = None,
    query_parameters: QueryParameters | None = None,
    allow_redirects: bool = True,
    max_redirects: int = 10,
    max_response_size: int | None = None,
    encoding: str = "utf-8",
    dumps: Callable[[Any], str] = json.dumps,
    content_type: str = "application/json",
) -> Request:
    """A ``POST`` with a JSON body, e.g. ``post_json("users", {"name": "Ada"})``."""
    return request_json(
        Method.POST,
        url,
        data,
        headers=headers,
        path_parameters=path_parameters,
        query_parameters=query_parameters,
        allow_redirects=allow_redirects,
        max_redirects=max_redirects,
        max_response_size=max_response_size,
        encoding=encoding,
        dumps=dumps,
        content_type=content_type,
    )


def put_json(
    url: str | yarl.URL,
    data: Any,
    *,
    headers: Headers | None = None,
    path_parameters: PathParameters | None = None,
    query_parameters: QueryParameters | None = None,
    allow_redirects: bool = True,
    max_redirects: int = 10,
    max_response_size: int | None = None,
    encoding: str = "utf-8",
    dumps: Callable[[Any], str] = json.dumps,
    content_type: str = "application/json",
) -> Request:
    """A ``PUT`` with a JSON body."""
    return request_json(
        Method.PUT,
        url,
        data,
        headers=headers,
        path_parameters=path_parameters,
        query_parameters=query_parameters,
        allow_redirects=allow_redirects,
        max_redirects=max_redirects,
        max_response_size=max_response_size,
        encoding=encoding,
        dumps=dumps,
        content_type=content_type,
    )


def patch_json(
    url: str | yarl.URL,
    data: Any,
    *,
    headers: Headers | None = None,
    path_parameters: PathParameters | None = None,
    query_parameters: QueryParameters | None = None,
    allow_redirects: bool = True,
    max_redirects: int = 10,
    max_response_size: int | None = None,
    encoding: str = "utf-8",
    dumps: Callable[[Any], str] = json.dumps,
    content_type: str = "application/json",
) -> Request:
    """A ``PATCH`` with a JSON body."""
    return request_json(
        Method.PATCH,
        url,
        data,
        headers=headers,
        path_parameters=path_parameters,
        query_parameters=query_parameters,
        allow_redirects=allow_redirects,
        max_redirects=max_redirects,
        max_response_size=max_response_size,
        encoding=encoding,
        dumps=dumps,
        content_type=content_type,
    )
