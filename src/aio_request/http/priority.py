"""Request priority: ``high``, ``normal`` or ``low``, propagated in ``X-Request-Priority``."""

from __future__ import annotations

import enum


class Priority(enum.StrEnum):
    """How important a request is; servers may shed ``low`` first."""

    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"

    @staticmethod
    def try_parse(value: str | None) -> Priority | None:
        """Parse ``value`` ignoring case and surrounding spaces; ``None`` if it is not a priority."""
        if value is None:
            return None
        return _BY_NAME.get(value.strip().lower())


_BY_NAME = {p.value: p for p in Priority}


def normalize_priority(priority: Priority, context_priority: Priority | None) -> Priority:
    """Soften a priority that contradicts the caller's: LOW under HIGH, or HIGH under LOW, is NORMAL."""
    if context_priority is Priority.HIGH and priority is Priority.LOW:
        return Priority.NORMAL
    if context_priority is Priority.LOW and priority is Priority.HIGH:
        return Priority.NORMAL
    return priority
