"""The three states of a circuit (defined with the other outcome names)."""

from aio_request._core.outcomes import CircuitState

__all__ = ["CircuitState"]
