"""Section 5: wrong arguments fail at once with a TypeError; synthetic responses explain json()."""

from __future__ import annotations

import pytest

import aio_request
from aio_request import FailureKind, TransportFailure
from aio_request.testing import FakeTransport


def _client() -> aio_request.Client:
    return aio_request.setup(transport=FakeTransport(), endpoint="http://service.test/")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"deadline": 1}, r"^deadline must be an aio_request\.Deadline .*got int: 1$"),
        ({"priority": "urgent"}, r"^priority must be an aio_request\.Priority .*got str: 'urgent'$"),
        ({"priority": 1}, r"^priority must be an aio_request\.Priority .*got int: 1$"),
        ({"strategy": "parallel"}, r"^strategy must be an aio_request\.RequestStrategy .*got str"),
    ],
)
def test_wrong_argument_types_raise_a_type_error_naming_the_argument(
    kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(TypeError, match=match):
        _client().request(aio_request.get("x"), **kwargs)  # type: ignore[arg-type]


def test_a_str_instead_of_a_request_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"^request must be an aio_request\.Request .*got str: 'x'$"):
        _client().request("x")  # type: ignore[arg-type]


async def test_priority_may_be_given_by_name_as_the_middleware_accepts_it() -> None:
    transport = FakeTransport(lambda url, request: aio_request.EmptyResponse(status=200))
    client = aio_request.setup(transport=transport, endpoint="http://service.test/")
    async with client.request(aio_request.get("x"), priority="HIGH") as response:
        assert response.status == 200
    assert transport.requests[0].request.headers["X-Request-Priority"] == "high"


@pytest.mark.parametrize(
    ("status", "failure", "words"),
    [
        (408, TransportFailure(FailureKind.TIMEOUT, TimeoutError("read")), "408 response was not sent"),
        (489, TransportFailure(FailureKind.CONNECT, ConnectionRefusedError("refused")), "connect: "),
        (502, TransportFailure(FailureKind.CIRCUIT_OPEN), "(circuit_open)"),
    ],
)
async def test_json_of_a_synthetic_response_names_status_kind_and_cause(
    status: int, failure: TransportFailure, words: str
) -> None:
    response = aio_request.EmptyResponse(status=status, failure=failure)
    with pytest.raises(aio_request.UnexpectedContentTypeError) as caught:
        await response.json()
    message = str(caught.value)
    assert message.startswith("expected content type 'application/json', got ''")
    assert f"this {status} response" in message
    assert words in message
    assert str(failure) in message
    assert caught.value.status == status
    assert caught.value.failure is failure


async def test_json_of_a_server_response_of_another_type_names_its_status() -> None:
    response = aio_request.EmptyResponse(status=500, headers={"Content-Type": "text/html"})
    with pytest.raises(aio_request.UnexpectedContentTypeError, match=r"got 'text/html' \(status 500\)$"):
        await response.json()


async def test_the_deadline_guard_response_explains_itself() -> None:
    client = _client()
    deadline = aio_request.Deadline.from_timeout(0)
    async with client.request(aio_request.get("x"), deadline=deadline) as response:
        assert response.failure is not None
        assert response.failure.kind is FailureKind.DEADLINE
        with pytest.raises(aio_request.UnexpectedContentTypeError, match="produced locally \\(deadline\\)"):
            await response.json()
