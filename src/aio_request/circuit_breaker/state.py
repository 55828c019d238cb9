"""The three states of a circuit."""

from __future__ import annotations

import enum


class CircuitState(enum.StrEnum):
    """Where a circuit stands.

    * ``CLOSED``: calls run and their results are counted;
    * ``OPEN``: calls return the fallback without running, until ``break_duration`` has passed;
    * ``HALF_OPEN``: exactly one trial call (the probe) runs; its result closes or reopens the
      circuit, every other call meanwhile gets the fallback.
    """

    OPEN = "open"
    HALF_OPEN = "half_open"
    CLOSED = "closed"
