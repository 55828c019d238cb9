"""Per-attempt deadlines: pass the whole deadline through, or split it between attempts.

A deadline provider is ``Callable[[Deadline, int, int], Deadline]``: (the request's deadline,
attempt number from 0, attempts count) → the deadline of that attempt.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from aio_request._core.validate import at_least
from aio_request.http.deadline import Deadline

DeadlineProvider: TypeAlias = Callable[[Deadline, int, int], Deadline]
"""(deadline, attempt, attempts_count) → the attempt's deadline."""


def pass_deadline_through() -> DeadlineProvider:
    """Every attempt gets the whole remaining deadline."""

    def provide(deadline: Deadline, _attempt: int, _attempts_count: int) -> Deadline:
        return deadline

    return provide


def split_deadline_between_attempts(*, attempts_count_to_split: int | None = None) -> DeadlineProvider:
    """Each attempt gets ``remaining / attempts_left``; the last one gets all that is left.

    With ``attempts_count_to_split`` (≥ 2) the split is over the first N attempts only, and
    attempts from the N-th on get all that is left.
    """
    limit = (
        None
        if attempts_count_to_split is None
        else at_least("attempts_count_to_split", attempts_count_to_split, 2)
    )

    def provide(deadline: Deadline, attempt: int, attempts_count: int) -> Deadline:
        split_over = attempts_count if limit is None else min(limit, attempts_count)
        attempts_left = split_over - attempt
        if attempts_left <= 1:
            return deadline
        return deadline / attempts_left

    return provide
