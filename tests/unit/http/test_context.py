"""The context variable that carries the deadline and priority to outgoing calls."""

from __future__ import annotations

from aio_request import Deadline, Priority, get_context, set_context


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
