"""Names the OpenTelemetry modules share: the instrumentation scope and the attribute mapping."""

from __future__ import annotations

from typing import Final, TypeAlias

from opentelemetry.util.types import AttributeValue

SCOPE_NAME: Final = "aio_request"
"""The instrumentation scope of every tracer and meter of the package."""

Attributes: TypeAlias = dict[str, AttributeValue]
"""Span and metric attributes."""
