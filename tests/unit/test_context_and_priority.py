"""Priority parsing and normalisation, and the context variable."""

from __future__ import annotations

import pytest

from aio_request import Deadline, Priority, get_context, set_context
from aio_request.priority import normalize_priority


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


def test_set_context_overrides_for_the_block_only() -> None:
    assert get_context().deadline is None
    deadline = Deadline.from_timeout(3)
    with set_context(deadline=deadline) as outer:
        assert outer.deadline is deadline
        with set_context(priority=Priority.LOW):
            assert get_context().deadline is deadline
            assert get_context().priority is Priority.LOW
        assert get_context().priority is None
    assert get_context().deadline is None
