"""Responses: body accessors, the content-type check and the status predicates."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aio_request import EmptyResponse, UnexpectedContentTypeError
from aio_request.http.response import BufferedResponse


def response(
    body: bytes, content_type: str | None = "application/json", status: int = 200
) -> BufferedResponse:
    headers = {"Content-Type": content_type} if content_type is not None else {}
    return BufferedResponse(status=status, headers=headers, body=body, elapsed=0.1)


async def test_json_parses_the_body() -> None:
    assert await response(b'{"a": [1, 2]}').json() == {"a": [1, 2]}


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON", "application/problem+json"]
)
async def test_json_accepts_json_content_types(content_type: str) -> None:
    assert await response(b"[1]", content_type).json() == [1]


async def test_json_refuses_other_content_types_unless_the_check_is_off() -> None:
    with pytest.raises(UnexpectedContentTypeError) as error:
        await response(b"[1]", "text/html").json()
    assert error.value.actual == "text/html"
    assert await response(b"[1]", "text/html").json(content_type=None) == [1]
    assert await response(b"<x/>", "application/xml").json(content_type="application/xml", loads=len) == 4


async def test_text_uses_charset_then_utf8() -> None:
    assert await response("żółw".encode("iso-8859-2"), "text/plain; charset=iso-8859-2").text() == "żółw"
    assert await response("żółw".encode(), "text/plain").text() == "żółw"
    assert await response(b"\xff\xfea\x00", None).text("utf-16") == "a"
    assert await response(b"abc", None).read() == b"abc"


async def test_empty_response_json_is_none_after_the_check() -> None:
    empty = EmptyResponse(status=408)
    assert empty.status == 408
    assert empty.elapsed == 0
    assert await empty.read() == b""
    with pytest.raises(UnexpectedContentTypeError):
        await empty.json()
    assert await empty.json(content_type=None) is None
    await empty.close()


def test_status_predicates_and_properties() -> None:
    assert response(b"", status=101).is_informational()
    assert response(b"", status=204).is_successful()
    assert response(b"", status=302).is_redirection()
    assert response(b"", status=404).is_client_error()
    assert response(b"", status=503).is_server_error()
    assert response(b"", "application/vnd.api+json").is_json
    assert not response(b"", "text/plain").is_json
    assert response(b"", None).content_type == ""
    assert response(b"", status=200).failure is None


@given(body=st.binary(max_size=64), content_type=st.text(max_size=40))
async def test_arbitrary_bodies_give_a_value_or_a_clear_error(body: bytes, content_type: str) -> None:
    expected_errors = (UnexpectedContentTypeError, json.JSONDecodeError, UnicodeDecodeError, LookupError)
    with contextlib.suppress(*expected_errors):
        await response(body, content_type).json()
