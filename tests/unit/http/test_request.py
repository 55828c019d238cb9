"""Request building: builders, URL templates, parameters, headers and the safety rules."""

from __future__ import annotations

import json
import string
from collections.abc import Callable

import pytest
import yarl
from hypothesis import given
from hypothesis import strategies as st

import aio_request
from aio_request import Header, Method, Request

ENDPOINT = yarl.URL("http://127.0.0.1:8080/api/")


def url_of(request: Request, endpoint: yarl.URL = ENDPOINT) -> str:
    return str(request.build_url(endpoint))


@pytest.mark.parametrize(
    ("builder", "method"),
    [
        (aio_request.get, Method.GET),
        (aio_request.delete, Method.DELETE),
        (aio_request.post, Method.POST),
        (aio_request.put, Method.PUT),
        (aio_request.patch, Method.PATCH),
    ],
)
def test_builders_set_the_method(builder: Callable[..., Request], method: str) -> None:
    request = builder("thing")
    assert request.method == method
    assert url_of(request) == "http://127.0.0.1:8080/api/thing"


def test_post_body_is_sent_as_given() -> None:
    assert aio_request.post("x", b"\x00raw").body == b"\x00raw"
    assert aio_request.request("PUT", "x", body=b"b").method == "PUT"


@pytest.mark.parametrize(
    ("builder", "method"),
    [(aio_request.post_json, "POST"), (aio_request.put_json, "PUT"), (aio_request.patch_json, "PATCH")],
)
def test_json_builders_encode_and_set_content_type(builder: Callable[..., Request], method: str) -> None:
    request = builder("x", {"name": "Ada", "n": 1})
    assert request.method == method
    assert request.headers[Header.CONTENT_TYPE] == "application/json"
    assert request.body is not None
    assert json.loads(request.body) == {"name": "Ada", "n": 1}


def test_request_json_keeps_bytes_and_options() -> None:
    request = aio_request.request_json(
        "POST", "x", b'{"a":1}', content_type="application/vnd.x+json", encoding="utf-16"
    )
    assert request.body == b'{"a":1}'
    assert request.headers[Header.CONTENT_TYPE] == "application/vnd.x+json"
    encoded = aio_request.post_json("x", {"a": "é"}, encoding="utf-16", dumps=lambda d: json.dumps(d))
    assert encoded.body == json.dumps({"a": "é"}).encode("utf-16")


def test_explicit_content_type_header_wins_over_the_json_default() -> None:
    request = aio_request.post_json("x", {}, headers={"content-type": "text/json"})
    assert request.headers.getall(Header.CONTENT_TYPE) == ["text/json"]


def test_request_is_keyword_only_and_immutable() -> None:
    request = Request(method="GET", url="x")
    with pytest.raises(TypeError):
        Request("GET", "x")  # type: ignore[call-arg]
    with pytest.raises(AttributeError):
        request.method = "POST"


def test_path_parameters_are_filled_and_stringified() -> None:
    request = aio_request.get("users/{id}/orders/{order}", path_parameters={"id": 42, "order": "a b"})
    assert url_of(request) == "http://127.0.0.1:8080/api/users/42/orders/a%20b"


@pytest.mark.parametrize(
    ("value", "expected_segment"),
    [
        ("../admin", "..%2Fadmin"),
        ("a/b?x=1", "a%2Fb%3Fx%3D1"),
        ("#frag", "%23frag"),
        ("100%", "100%25"),
        ("żółw", "%C5%BC%C3%B3%C5%82w"),
    ],
)
def test_path_parameter_values_stay_in_one_segment(value: str, expected_segment: str) -> None:
    url = aio_request.get("users/{id}", path_parameters={"id": value}).build_url(ENDPOINT)
    assert url.raw_path == f"/api/users/{expected_segment}"
    assert url.host == "127.0.0.1"
    assert url.path.startswith("/api/users/")
    assert url.raw_query_string == ""
    assert url.fragment == ""


@pytest.mark.parametrize("value", ["", ".", ".."])
def test_path_parameter_values_that_would_move_the_path_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="path parameter 'id'"):
        aio_request.get("users/{id}", path_parameters={"id": value})


def test_missing_path_parameter_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"'id' .* is missing"):
        aio_request.get("users/{id}")


@pytest.mark.parametrize("url", ["http://evil/x", "https://evil", "//evil/x", yarl.URL("http://evil/")])
def test_absolute_and_scheme_relative_urls_are_refused(url: str | yarl.URL) -> None:
    with pytest.raises(ValueError, match="relative"):
        aio_request.get(url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("../x", "http://127.0.0.1:8080/x"),
        ("a/../../x", "http://127.0.0.1:8080/x"),
        ("./x", "http://127.0.0.1:8080/api/x"),
        ("../../../../x", "http://127.0.0.1:8080/x"),
        ("%2E%2E/x", "http://127.0.0.1:8080/x"),
        ("a/..", "http://127.0.0.1:8080/api/"),
    ],
)
def test_dot_segments_in_templates_resolve_without_leaving_the_origin(url: str, expected: str) -> None:
    assert url_of(aio_request.get(url)) == expected


def test_a_leading_slash_stays_on_the_endpoint_path() -> None:
    assert url_of(aio_request.get("/thing")) == "http://127.0.0.1:8080/api/thing"
    assert url_of(aio_request.get("thing"), yarl.URL("http://h/api")) == "http://h/api/thing"
    assert url_of(aio_request.get("thing"), yarl.URL("http://h")) == "http://h/thing"


def test_query_parameters_mapping_pairs_none_and_repeats() -> None:
    request = aio_request.get(
        "search?fixed=1",
        query_parameters={"q": "a b&c", "skip": None, "tag": ["x", "y"], "n": 3, "flag": True},
    )
    url = request.build_url(ENDPOINT)
    assert url.query.getall("fixed") == ["1"]
    assert url.query.getall("q") == ["a b&c"]
    assert "skip" not in url.query
    assert url.query.getall("tag") == ["x", "y"]
    assert url.query["n"] == "3"
    assert url.query["flag"] == "True"
    pairs = aio_request.get("s", query_parameters=[("a", "1"), ("a", "2")]).build_url(ENDPOINT)
    assert pairs.query.getall("a") == ["1", "2"]


def test_any_query_value_is_sent_as_its_text() -> None:
    class Marker:
        def __str__(self) -> str:
            return "marker"

    url = aio_request.get("s", query_parameters={"q": Marker(), "b": b"caf\xc3\xa9"}).build_url(ENDPOINT)
    assert url.query["q"] == "marker"
    assert url.query["b"] == "café"
    with pytest.raises(ValueError, match="'b' is bytes that are not UTF-8"):
        aio_request.get("s", query_parameters={"b": b"\xff"})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"headers": {"X-A": "1\r\nX-Injected: 1"}},
        {"headers": {"X-A\n": "1"}},
        {"query_parameters": {"q": "a\r\nb"}},
        {"path_parameters": {"id": "a\nb"}},
    ],
)
def test_cr_lf_anywhere_is_a_clear_error(kwargs: dict[str, object]) -> None:
    template = "u/{id}" if "path_parameters" in kwargs else "u"
    with pytest.raises(ValueError, match=r"CR, LF|invalid header name"):
        aio_request.get(template, **kwargs)  # type: ignore[arg-type]


def test_update_headers_replaces_and_extend_headers_adds() -> None:
    request = aio_request.get("x", headers={"X-A": "1", "X-B": "2"})
    updated = request.update_headers({"x-a": "3"})
    assert updated.headers.getall("X-A") == ["3"]
    assert updated.headers["X-B"] == "2"
    extended = request.extend_headers({"X-A": "4"})
    assert extended.headers.getall("X-A") == ["1", "4"]
    assert request.headers.getall("X-A") == ["1"], "the original is unchanged"
    assert extended.url == request.url


def test_a_copy_with_system_headers_keeps_every_other_field_and_stays_immutable() -> None:
    request = aio_request.get(
        "users/{id}",
        path_parameters={"id": 7},
        query_parameters={"q": "1"},
        headers={"X-A": "1", "X-Request-Timeout": "99"},
        allow_redirects=False,
        max_redirects=3,
    )
    copy = request.with_system_headers("4.98", "high")
    assert type(copy) is Request
    for slot in Request.__slots__:
        if slot != "_headers":
            assert getattr(copy, slot) is getattr(request, slot), slot
    assert list(copy.headers.items()) == [
        ("X-A", "1"),
        ("X-Request-Timeout", "4.98"),
        ("X-Request-Priority", "high"),
    ]
    assert url_of(copy) == url_of(request)
    with pytest.raises(AttributeError, match="immutable"):
        copy.method = "POST"


def test_every_slot_is_filled_for_a_request_and_for_a_subclass() -> None:
    class Traced(Request):
        __slots__ = ()

    for cls in (Request, Traced):
        request = cls(method="get", url="users/{id}", path_parameters={"id": 1}, headers={"X-A": "1"})
        assert type(request) is cls
        for slot in Request.__slots__:
            getattr(request, slot)  # an unset slot raises AttributeError
        assert (request.method, url_of(request)) == ("GET", "http://127.0.0.1:8080/api/users/1")
        with pytest.raises(AttributeError, match="immutable"):
            request.body = b"x"


def test_a_template_built_again_gives_the_same_request_and_the_same_errors() -> None:
    for _ in range(2):
        assert url_of(aio_request.get("a b/c")) == "http://127.0.0.1:8080/api/a%20b/c"
        assert url_of(aio_request.get("users/{id}", path_parameters={"id": 1})).endswith("/users/1")
        assert url_of(aio_request.get("users/{id}", path_parameters={"id": 2})).endswith("/users/2")
        assert url_of(aio_request.get("a/../b")) == "http://127.0.0.1:8080/api/b"
        with pytest.raises(ValueError, match="missing"):
            aio_request.get("users/{id}")
        with pytest.raises(ValueError, match="relative"):
            aio_request.get("//elsewhere.test/x")


def test_a_url_joined_again_depends_on_the_endpoint_and_the_query() -> None:
    other = yarl.URL("http://other.test:81/v2")
    for _ in range(2):
        request = aio_request.get("x?a=1", query_parameters={"b": "2"})
        assert url_of(request) == "http://127.0.0.1:8080/api/x?a=1&b=2"
        assert url_of(request, other) == "http://other.test:81/v2/x?a=1&b=2"
        assert url_of(aio_request.get("x", query_parameters={"b": "3"})) == "http://127.0.0.1:8080/api/x?b=3"
        assert url_of(aio_request.get("x")) == "http://127.0.0.1:8080/api/x"


def test_many_distinct_templates_stay_correct() -> None:
    for number in range(2500):
        assert url_of(aio_request.get(f"item/{number}")).endswith(f"/item/{number}")


@pytest.mark.parametrize(
    ("method", "sent"), [("GET", "GET"), ("get", "GET"), ("PROPFIND", "PROPFIND"), ("m-1", "M-1")]
)
def test_any_token_is_a_method(method: str, sent: str) -> None:
    assert Request(method=method, url="x").method == sent


@pytest.mark.parametrize("method", ["", "G ET", "GET\r\n", "ÄGET", 3, None])
def test_a_method_that_is_not_a_token_is_refused(method: object) -> None:
    with pytest.raises(ValueError, match="invalid method"):
        Request(method=method, url="x")  # type: ignore[arg-type]


def test_system_headers_without_and_with_headers_of_the_request() -> None:
    bare = aio_request.get("x").with_system_headers("1.5", "low")
    assert list(bare.headers.items()) == [("X-Request-Timeout", "1.5"), ("X-Request-Priority", "low")]
    assert aio_request.get("x").headers == {}, "the shared empty headers are not changed"
    replaced = aio_request.get("x", headers={"x-request-priority": "high"}).with_system_headers("2", "low")
    assert replaced.headers.getall("X-Request-Priority") == ["low"]


def test_invalid_max_redirects_and_body_are_refused() -> None:
    with pytest.raises(ValueError, match="max_redirects must be an int >= 0, got -1"):
        aio_request.get("x", max_redirects=-1)
    with pytest.raises(TypeError, match="body must be bytes"):
        aio_request.post("x", "text")  # type: ignore[arg-type]


_segment_text = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n\x00"), max_size=30
)


@given(value=_segment_text)
def test_any_path_parameter_stays_in_its_segment_and_round_trips(value: str) -> None:
    try:
        request = aio_request.get("users/{id}/info", path_parameters={"id": value})
    except ValueError:
        assert value in ("", ".", "..")
        return
    url = request.build_url(ENDPOINT)
    assert url.scheme == "http"
    assert url.host == "127.0.0.1"
    assert url.port == 8080
    segments = url.raw_path.split("/")
    assert segments[:3] == ["", "api", "users"]
    assert segments[4:] == ["info"]
    assert yarl.URL.build(path="/" + segments[3], encoded=True).path[1:] == value


@given(
    pairs=st.lists(
        st.tuples(st.text(string.ascii_letters, min_size=1, max_size=5), _segment_text), max_size=5
    )
)
def test_any_query_values_round_trip(pairs: list[tuple[str, str]]) -> None:
    url = aio_request.get("q", query_parameters=pairs).build_url(ENDPOINT)
    assert url.host == "127.0.0.1"
    assert url.path == "/api/q"
    assert list(url.query.items()) == pairs
