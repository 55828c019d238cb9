"""Per-attempt deadline providers: pass-through and splitting between attempts."""

from __future__ import annotations

import pytest

from aio_request import Deadline, pass_deadline_through, split_deadline_between_attempts
from aio_request.testing import FakeClock


def test_pass_deadline_through_gives_the_same_deadline() -> None:
    deadline = Deadline.from_timeout(3)
    assert pass_deadline_through()(deadline, 1, 3) is deadline


def test_split_deadline_between_attempts() -> None:
    clock = FakeClock()
    deadline = Deadline.from_timeout(9, clock=clock)
    split = split_deadline_between_attempts()
    assert split(deadline, 0, 3).timeout == 3
    assert split(deadline, 1, 3).timeout == 4.5
    assert split(deadline, 2, 3) is deadline
    limited = split_deadline_between_attempts(attempts_count_to_split=2)
    assert limited(deadline, 0, 5).timeout == 4.5
    assert limited(deadline, 1, 5) is deadline
    assert limited(deadline, 3, 5) is deadline


def test_split_needs_at_least_two_attempts_to_split() -> None:
    with pytest.raises(ValueError, match="attempts_count_to_split"):
        split_deadline_between_attempts(attempts_count_to_split=1)
