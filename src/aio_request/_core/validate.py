"""Checks for constructor options: each raises ``ValueError`` naming the parameter and value."""

from __future__ import annotations

import math


def _as_float(value: object) -> float | None:
    """``value`` as a float if it is an int or a float (not a bool) that fits one, else ``None``."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        return float(value)
    except OverflowError:  # an int beyond the float range
        return None


def non_negative(name: str, value: float) -> float:
    """``value`` as a float if it is a finite number >= 0."""
    number = _as_float(value)
    if number is None or not math.isfinite(number) or number < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return number


def positive(name: str, value: float) -> float:
    """``value`` as a float if it is a finite number > 0."""
    number = _as_float(value)
    if number is None or not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return number


def at_least(name: str, value: int, minimum: int) -> int:
    """``value`` if it is an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def fraction(name: str, value: float, *, low_inclusive: bool, high_inclusive: bool) -> float:
    """``value`` if it lies in the unit interval with the given open/closed ends."""
    number = _as_float(value)
    # NaN fails every comparison, so it is refused too.
    if number is None or not (
        (number >= 0 if low_inclusive else number > 0) and (number <= 1 if high_inclusive else number < 1)
    ):
        left = "[" if low_inclusive else "("
        right = "]" if high_inclusive else ")"
        raise ValueError(f"{name} must be in {left}0, 1{right}, got {value!r}")
    return number


def between(name: str, value: float, low: float, high: float) -> float:
    """``value`` as a float if it is a number in ``[low, high]`` (bounds keep arithmetic sane)."""
    number = _as_float(value)
    if number is None or not low <= number <= high:
        raise ValueError(f"{name} must be a number in [{low:g}, {high:g}], got {value!r}")
    return number


def int_between(name: str, value: int, low: int, high: int) -> int:
    """``value`` if it is an int in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an int in [{low}, {high}], got {value!r}")
    return value
