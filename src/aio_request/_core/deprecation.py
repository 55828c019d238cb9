"""Deprecation warnings that point at the caller's code, and the deprecated role lower layers take.

Everything else kept for aio-request 0.2.9 code lives in :mod:`aio_request._deprecated`.
"""

from __future__ import annotations

import os
import sys
import types
import warnings
from typing import Final


class MetricsProvider:
    """Deprecated: metrics go through ``event_hub`` (Prometheus when ``prometheus-client`` is installed)."""

    __slots__ = ()


_PACKAGE_DIR: Final = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def warn_deprecated(old: str, replacement: str) -> None:
    """Warn that ``old`` is deprecated in favour of ``replacement``.

    The warning is attributed to the first caller outside this package and the import system.
    """
    frame: types.FrameType | None = sys._getframe(0)
    level = 1
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith("<frozen importlib"):
            pass  # warnings itself skips the importer's frames when counting
        elif filename.startswith(_PACKAGE_DIR):
            level += 1
        else:
            break
        frame = frame.f_back
    warnings.warn(f"{old} is deprecated: {replacement}", DeprecationWarning, stacklevel=level)


def warn_metrics_provider(where: str, metrics_provider: object) -> None:
    """Warn that ``metrics_provider=`` of ``where`` has no effect (when it was given)."""
    if metrics_provider is not None:
        warn_deprecated(
            f"the metrics_provider argument of {where}",
            "Prometheus metrics are recorded automatically when prometheus-client is installed "
            "(the client's event_hub; aio_request.events.EventHub() records nothing)",
        )
