"""The redirect rules both transports share: any ``Location`` is followed safely or refused."""

from __future__ import annotations

import pytest
import yarl
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict

from aio_request.transports._redirects import (
    Hop,
    InvalidRedirectError,
    announced_timeout,
    next_hop,
    redirect_location,
    resolve_location,
)

BASE = yarl.URL("http://service.internal:8080/api/items?page=2")


@given(st.text())
def test_any_location_resolves_to_an_http_url_with_a_host_or_is_refused(location: str) -> None:
    try:
        url = resolve_location(BASE, location)
    except InvalidRedirectError as exc:
        refused = exc
    else:
        assert url.scheme in ("http", "https")
        assert url.raw_host
        assert url.port is not None
        assert 0 < url.port < 65536
        assert url.fragment == ""
        return
    assert refused.location == location


@given(st.from_regex(r"\A[a-zA-Z][a-zA-Z0-9+.-]*:[^/].*\Z"))
def test_a_scheme_without_a_host_is_refused(location: str) -> None:
    with pytest.raises(InvalidRedirectError):
        resolve_location(BASE, location)


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/other", "http://service.internal:8080/other"),
        ("next", "http://service.internal:8080/api/next"),
        ("?page=3", "http://service.internal:8080/api/items?page=3"),
        ("//elsewhere/x", "http://elsewhere/x"),
        ("https://elsewhere:8443/x#top", "https://elsewhere:8443/x"),
        ("HTTP://Elsewhere/x", "http://elsewhere/x"),
    ],
)
def test_usable_locations(location: str, expected: str) -> None:
    assert str(resolve_location(BASE, location)) == expected


@pytest.mark.parametrize(
    "location",
    [
        "javascript:alert(1)",
        "mailto:x",
        "x:y",
        "http:x",
        "https:x",
        "http:///x",
        "///x",
        "http://h:99999/x",
        "http://h:0/x",
        "http://h:-1/x",
        "http://h:port/x",
        "http://[::1/x",
        "http://a b/x",
        "/x\r\nSet-Cookie: a=b",
        "data:text/html,hi",
        "",
    ],
)
def test_unusable_locations(location: str) -> None:
    with pytest.raises(InvalidRedirectError):
        resolve_location(BASE, location)


def test_only_redirect_statuses_with_a_location_redirect() -> None:
    assert redirect_location(302, ["/x"]) == "/x"
    assert redirect_location(302, []) is None
    assert redirect_location(300, ["/x"]) is None
    assert redirect_location(304, ["/x"]) is None
    assert redirect_location(307, ["/x", "/x"]) == "/x"
    with pytest.raises(InvalidRedirectError):
        redirect_location(307, ["/x", "/y"])


def _hop(url: str = str(BASE), method: str = "GET", body: bytes | None = None) -> Hop:
    headers = CIMultiDict(
        {
            "Authorization": "a",
            "Cookie": "c",
            "Proxy-Authorization": "p",
            "X-Request-Timeout": "5",
            "Content-Type": "application/json",
            "X-Other": "kept",
        }
    )
    return Hop(method, yarl.URL(url), headers, body)


@pytest.mark.parametrize(
    "location",
    ["http://other:8080/x", "https://service.internal:8080/x", "http://service.internal:8081/x", "//other/x"],
)
def test_leaving_the_origin_drops_the_credentials(location: str) -> None:
    hop = next_hop(_hop(), 302, location, 1.0)

    assert sorted(hop.headers) == ["Content-Type", "X-Other", "X-Request-Timeout"]


@pytest.mark.parametrize(
    "location", ["/x", "http://SERVICE.internal:8080/x", "http://service.internal:8080/"]
)
def test_staying_on_the_origin_keeps_the_credentials(location: str) -> None:
    hop = next_hop(_hop(), 302, location, 1.0)

    assert hop.headers["Authorization"] == "a"
    assert hop.headers["Cookie"] == "c"
    assert hop.headers["Proxy-Authorization"] == "p"


@pytest.mark.parametrize(("seconds_left", "sent"), [(0.4912, "0.491"), (0.0, "0"), (-1.0, "0")])
def test_each_hop_is_told_the_seconds_left(seconds_left: float, sent: str) -> None:
    assert next_hop(_hop(), 302, "/x", seconds_left).headers["X-Request-Timeout"] == sent


def test_an_invalid_deadline_header_is_copied_as_it_is() -> None:
    hop = Hop("GET", BASE, CIMultiDict({"X-Request-Timeout": "soon"}), None)

    assert announced_timeout(hop.headers) is None
    assert next_hop(hop, 302, "/x", None).headers["X-Request-Timeout"] == "soon"


def test_the_announced_deadline_is_parsed_as_servers_parse_it() -> None:
    assert announced_timeout(CIMultiDict({"X-Request-Timeout": "4.98"})) == 4.98
    assert announced_timeout(CIMultiDict([("X-Request-Timeout", "3"), ("X-Request-Timeout", "2")])) == 2.0
    assert announced_timeout(CIMultiDict()) is None


def test_no_deadline_header_is_added_when_the_request_had_none() -> None:
    hop = Hop("GET", BASE, CIMultiDict(), None)

    assert "X-Request-Timeout" not in next_hop(hop, 302, "/x", 1.0).headers


@pytest.mark.parametrize(
    ("status", "method", "expected"),
    [
        (301, "POST", ("GET", None)),
        (302, "POST", ("GET", None)),
        (303, "POST", ("GET", None)),
        (303, "PUT", ("GET", None)),
        (303, "HEAD", ("HEAD", None)),
        (302, "PUT", ("PUT", b"x")),
        (307, "POST", ("POST", b"x")),
        (308, "DELETE", ("DELETE", b"x")),
    ],
)
def test_method_and_body(status: int, method: str, expected: tuple[str, bytes | None]) -> None:
    body = None if method == "HEAD" else b"x"

    hop = next_hop(_hop(method=method, body=body), status, "/x", 1.0)

    assert (hop.method, hop.body) == expected
    # The body's headers go with the body.
    assert ("Content-Type" in hop.headers) is (hop.method == method)
