"""Priority parsing and normalisation against the inherited priority."""

from __future__ import annotations

import pytest

from aio_request import Priority
from aio_request.http.priority import normalize_priority


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("high", Priority.HIGH),
        (" LOW ", Priority.LOW),
        ("Normal", Priority.NORMAL),
        ("urgent", None),
        (None, None),
    ],
)
def test_try_parse(text: str | None, expected: Priority | None) -> None:
    assert Priority.try_parse(text) is expected


@pytest.mark.parametrize(
    ("priority", "context", "expected"),
    [
        (Priority.LOW, Priority.HIGH, Priority.NORMAL),
        (Priority.HIGH, Priority.LOW, Priority.NORMAL),
        (Priority.HIGH, Priority.HIGH, Priority.HIGH),
        (Priority.LOW, None, Priority.LOW),
        (Priority.NORMAL, Priority.LOW, Priority.NORMAL),
    ],
)
def test_normalisation(priority: Priority, context: Priority | None, expected: Priority) -> None:
    assert normalize_priority(priority, context) is expected
