"""Bad input, property-tested: requests are refused at build time or sent exactly as asked, and
response bodies give a value or a clear exception.

Requests: for any path template, path and query parameter values and headers, building the
request either raises :class:`ValueError`/:class:`TypeError` at once, or gives a URL that stays
on the endpoint (same scheme, host, port, under the endpoint's path) whose segments and query
decode back to the values given; accepted headers are kept as given and reach the server
through both transports (as UTF-8, without surrounding whitespace, which HTTP does not carry).
The single-placeholder and ASCII-name query cases live in ``tests/unit/test_request.py``.

Responses: for any body bytes and any content type (charset included), ``json()`` and
``text()`` return or raise :class:`UnexpectedContentTypeError`, a JSON decode error,
:class:`UnicodeDecodeError` or :class:`LookupError`.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import encodings.aliases
import json
import string
import time
from typing import Any
from urllib.parse import unquote

import pytest
import yarl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aio_request
from aio_request import UnexpectedContentTypeError
from aio_request.http.response import BufferedResponse
from tests.integration.transports.conftest import Harness
from tests.integration.transports.fault_server import FaultServer

ENDPOINTS = [
    yarl.URL("http://127.0.0.1:8080/api/"),
    yarl.URL("http://127.0.0.1:8080/api"),
    yarl.URL("https://service.test/"),
    yarl.URL("http://[::1]:81/a%20b/c/"),
]

any_text = st.text(alphabet=st.characters(blacklist_categories=()), max_size=20)
"""Any string, lone surrogates and control characters included."""

literal_text = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters="/{}?#%\\"
    ),
    min_size=1,
    max_size=6,
).filter(lambda text: text not in (".", ".."))
"""Literal text of a template segment: nothing that yarl would reinterpret or re-encode."""

parameter_values = st.one_of(any_text, st.integers(), st.floats(allow_nan=True), st.booleans())


def _endpoint_prefix(endpoint: yarl.URL) -> str:
    path = endpoint.raw_path
    return path if path.endswith("/") else path + "/"


def _assert_on_endpoint(url: yarl.URL, endpoint: yarl.URL, *, within_path: bool = True) -> None:
    """``url`` is on ``endpoint``'s origin and, when ``within_path``, under its path (or is it)."""
    assert (url.scheme, url.host, url.port) == (endpoint.scheme, endpoint.host, endpoint.port)
    if within_path:
        assert url.raw_path == (endpoint.raw_path or "/") or url.raw_path.startswith(
            _endpoint_prefix(endpoint)
        ), url
    assert ".." not in unquote(url.raw_path).split("/"), url
    assert url.raw_path_qs.isascii(), "what is sent is percent-encoded"
    reparsed = yarl.URL(str(url))
    assert (reparsed.host, reparsed.path, reparsed.query) == (url.host, url.path, url.query), "sent as text"


@given(
    template=any_text,
    path_parameters=st.dictionaries(any_text, parameter_values, max_size=3),
    endpoint=st.sampled_from(ENDPOINTS),
)
def test_any_template_is_refused_at_build_time_or_stays_on_the_endpoint(
    template: str, path_parameters: dict[str, Any], endpoint: yarl.URL
) -> None:
    try:
        request = aio_request.get(template, path_parameters=path_parameters)
    except (ValueError, TypeError):
        return
    # Dot segments written in the template are resolved (RFC 3986): they may climb the endpoint's
    # path, never leave its origin; without them the URL stays under the endpoint's path.
    climbs = any(segment in (".", "..") for segment in unquote(request.url.raw_path).split("/"))
    _assert_on_endpoint(request.build_url(endpoint), endpoint, within_path=not climbs)


@st.composite
def templates_with_values(draw: st.DrawFn) -> tuple[str, dict[str, Any], list[str]]:
    """A template of literal and ``{pN}`` parts, its parameters and the segments expected."""
    segments: list[list[str | tuple[str, Any]]] = draw(
        st.lists(
            st.lists(
                st.one_of(literal_text, st.tuples(st.just("param"), parameter_values)), min_size=1, max_size=3
            ),
            min_size=1,
            max_size=4,
        )
    )
    template_segments: list[str] = []
    expected: list[str] = []
    parameters: dict[str, Any] = {}
    for parts in segments:
        template_parts: list[str] = []
        expected_parts: list[str] = []
        for part in parts:
            if isinstance(part, str):
                template_parts.append(part)
                expected_parts.append(part)
            else:
                name = f"p{len(parameters)}"
                parameters[name] = part[1]
                template_parts.append("{" + name + "}")
                expected_parts.append(str(part[1]))
        template_segments.append("".join(template_parts))
        expected.append("".join(expected_parts))
    leading = draw(st.sampled_from(["", "/"]))
    return leading + "/".join(template_segments), parameters, expected


@given(case=templates_with_values(), endpoint=st.sampled_from(ENDPOINTS))
def test_path_parameters_round_trip_each_in_its_own_segment(
    case: tuple[str, dict[str, Any], list[str]], endpoint: yarl.URL
) -> None:
    template, parameters, expected_segments = case
    try:
        request = aio_request.get(template, path_parameters=parameters)
    except ValueError:
        values = [str(value) for value in parameters.values()]
        # A colon in the first segment reads as a scheme (RFC 3986 §4.2): refused as not relative.
        looks_absolute = ":" in template.partition("/")[0]
        assert looks_absolute or any(
            value in ("", ".", "..") or any(c in value for c in "\r\n\x00") or not _is_unicode(value)
            for value in values
        ), f"refused without a reason: {template!r} {parameters!r}"
        return
    url = request.build_url(endpoint)
    _assert_on_endpoint(url, endpoint)
    sent = url.raw_path[len(_endpoint_prefix(endpoint)) :].split("/")
    assert [unquote(segment, errors="strict") for segment in sent] == expected_segments


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


query_values = st.one_of(
    st.none(),
    any_text,
    st.integers(),
    st.floats(),
    st.booleans(),
    st.lists(st.one_of(st.none(), any_text, st.integers()), max_size=3),
)


def _expected_query_value(value: Any) -> str:
    return str(value)


@given(
    pairs=st.lists(st.tuples(any_text, query_values), max_size=4),
    template_query=st.sampled_from(["", "?fixed=1"]),
)
def test_query_parameters_are_refused_or_round_trip_in_order(
    pairs: list[tuple[str, Any]], template_query: str
) -> None:
    endpoint = ENDPOINTS[0]
    try:
        request = aio_request.get("search" + template_query, query_parameters=pairs)
    except (ValueError, TypeError):
        texts = [name for name, _ in pairs] + [
            v
            for _, value in pairs
            for v in (value if isinstance(value, list) else [value])
            if isinstance(v, str)
        ]
        assert any(any(c in text for c in "\r\n\x00") or not _is_unicode(text) for text in texts)
        return
    url = request.build_url(endpoint)
    _assert_on_endpoint(url, endpoint)
    expected = [("fixed", "1")] if template_query else []
    for name, value in pairs:
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                expected.append((name, _expected_query_value(item)))
    assert list(url.query.items()) == expected


header_names = st.text(
    alphabet=string.ascii_letters + string.digits + "-_!#$%&'*+.^`|~", min_size=1, max_size=8
)


@given(headers=st.lists(st.tuples(st.one_of(header_names, any_text), any_text), max_size=4))
def test_headers_are_refused_at_build_time_or_kept_exactly(headers: list[tuple[str, str]]) -> None:
    given_headers = dict(headers)
    try:
        request = aio_request.get("x", headers=given_headers)
    except (ValueError, TypeError):
        return
    assert dict(request.headers) == given_headers
    for name, value in given_headers.items():
        assert request.headers.getall(name) == [value]
        assert "\r" not in value
        assert "\n" not in value


def test_control_characters_and_lone_surrogates_in_header_values_are_refused_at_build_time() -> None:
    for value in ["a\x01b", "\x7f", "\x0b", "\x1f", "x\udcff"]:
        with pytest.raises(ValueError, match="header 'X-Test'"):
            aio_request.get("x", headers={"X-Test": value})
    assert aio_request.get("x", headers={"X-Test": "tab\tinside, é, \u2028"}).headers["X-Test"]


def test_lone_surrogates_in_query_parameters_are_refused_not_dropped() -> None:
    with pytest.raises(ValueError, match="query parameter"):
        aio_request.get("x", query_parameters={"q": "a\udcffb"})
    with pytest.raises(ValueError, match="query parameter"):
        aio_request.get("x", query_parameters={"\ud800": "v"})


wire_header_values = st.text(alphabet=st.characters(blacklist_categories=()), max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=wire_header_values)
async def test_accepted_header_values_reach_the_server_through_both_transports(
    fault_server: FaultServer, value: str
) -> None:
    try:
        request = aio_request.get("echo", headers={"X-Test": value})
    except ValueError:
        return
    expected = value.strip(" \t").encode("utf-8").decode("latin-1")
    for name in ("aiohttp", "httpx"):
        harness = Harness(name)
        try:
            response = await harness.make().send(fault_server.url, request, 5.0)
            assert response.status == 200, (name, response.failure)
            assert fault_server.requests[-1].headers.getall("X-Test") == [expected], name
        finally:
            await harness.close()


def test_builders_refuse_non_string_header_values_and_names() -> None:
    with pytest.raises(TypeError):
        aio_request.get("x", headers={"X-Test": 1})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="invalid header name"):
        aio_request.get("x", headers={1: "x"})  # type: ignore[dict-item]


# ---- responses -------------------------------------------------------------------------------

_CODEC_NAMES = sorted(set(encodings.aliases.aliases) | set(encodings.aliases.aliases.values()))
"""Every codec name Python knows (text codecs and the bytes-to-bytes ones like base64 and zlib)."""

charsets = st.one_of(st.sampled_from([*_CODEC_NAMES, "punycode", "idna", "rot13", "undefined"]), any_text)
content_types = st.one_of(
    any_text,
    st.builds(
        lambda kind, charset: f"{kind}; charset={charset}",
        st.sampled_from(["application/json", "text/plain"]),
        charsets,
    ),
)
READ_ERRORS = (UnexpectedContentTypeError, json.JSONDecodeError, UnicodeDecodeError, LookupError)


@settings(max_examples=400, deadline=None)
@given(body=st.binary(max_size=64), content_type=content_types, encoding=st.one_of(st.none(), charsets))
async def test_any_body_and_content_type_give_a_value_or_a_clear_error(
    body: bytes, content_type: str, encoding: str | None
) -> None:
    response = BufferedResponse(status=200, headers={"Content-Type": content_type}, body=body)
    async with asyncio.timeout(5):
        with contextlib.suppress(*READ_ERRORS):
            assert isinstance(await response.text(encoding), str)
        with contextlib.suppress(*READ_ERRORS):
            await response.json(encoding=encoding)
        with contextlib.suppress(*READ_ERRORS):
            await response.json(encoding=encoding, content_type=None)


@pytest.mark.parametrize(
    ("charset", "error"),
    [
        ("punycode", UnicodeDecodeError),
        ("idna", UnicodeDecodeError),
        ("utf\x00-8", LookupError),
        ("base64", LookupError),
    ],
)
async def test_unusable_charsets_raise_unicode_decode_or_lookup_errors(
    charset: str, error: type[Exception]
) -> None:
    response = BufferedResponse(
        status=200, headers={"Content-Type": f"text/plain; charset={charset}"}, body=b"0-\xff"
    )
    with pytest.raises(error):
        await response.text()


async def test_deeply_nested_json_fails_fast_with_the_parsers_own_error() -> None:
    """json's recursion limit answers a hostile, deeply nested body: an exception, not a hang."""
    response = BufferedResponse(status=200, headers={"Content-Type": "application/json"}, body=b"[" * 200_000)
    started = time.monotonic()
    with pytest.raises((RecursionError, json.JSONDecodeError)):
        await response.json()
    assert time.monotonic() - started < 1.0


def test_codec_names_were_found() -> None:
    assert "utf_8" in _CODEC_NAMES
    assert codecs.lookup("latin-1").name == "iso8859-1"
