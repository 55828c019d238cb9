"""Checks for constructor options: each raises ``ValueError`` naming the parameter and value."""

from __future__ import annotations

import math


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def non_negative(name: str, value: float) -> float:
    """``value`` as a float if it is a finite number >= 0."""
    if not _is_number(value) or math.isnan(value) or math.isinf(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def positive(name: str, value: float) -> float:
    """``value`` as a float if it is a finite number > 0."""
    if not _is_number(value) or math.isnan(value) or math.isinf(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def at_least(name: str, value: int, minimum: int) -> int:
    """``value`` if it is an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def fraction(name: str, value: float, *, low_inclusive: bool, high_inclusive: bool) -> float:
    """``value`` if it lies in the unit interval with the given open/closed ends."""
    ok = _is_number(value) and not math.isnan(value)
    if ok:
        ok = (value >= 0 if low_inclusive else value > 0) and (value <= 1 if high_inclusive else value < 1)
    if not ok:
        left = "[" if low_inclusive else "("
        right = "]" if high_inclusive else ")"
        raise ValueError(f"{name} must be in {left}0, 1{right}, got {value!r}")
    return float(value)
