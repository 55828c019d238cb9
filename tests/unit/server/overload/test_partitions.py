"""Priority partitions of the concurrency limit."""

from __future__ import annotations

import pytest

from aio_request import Priority
from aio_request.server.overload import PriorityPartitions


def test_partitions_are_not_enforced_without_contention() -> None:
    partitions = PriorityPartitions()
    assert partitions.may_start(Priority.LOW, in_flight=9, limit=10, contended=False)
    assert not partitions.may_start(Priority.HIGH, in_flight=10, limit=10, contended=False)


def test_partitions_under_contention_keep_headroom_for_higher_priorities() -> None:
    partitions = PriorityPartitions()
    assert partitions.may_start(Priority.HIGH, in_flight=9, limit=10, contended=True)
    assert not partitions.may_start(Priority.NORMAL, in_flight=9, limit=10, contended=True)
    assert partitions.may_start(Priority.NORMAL, in_flight=8, limit=10, contended=True)
    assert not partitions.may_start(Priority.LOW, in_flight=5, limit=10, contended=True)
    assert partitions.may_start(Priority.LOW, in_flight=4, limit=10, contended=True)


def test_partition_shares_must_not_grow_as_priority_drops() -> None:
    with pytest.raises(ValueError, match="high >= normal >= low"):
        PriorityPartitions(high=0.5, normal=0.9)
    with pytest.raises(ValueError, match=r"low must be in \(0, 1\], got 0"):
        PriorityPartitions(low=0)
