"""The per-attempt pipeline: modules folded once at setup, ending in the transport.

:mod:`.module` holds the shape (``RequestModule``, ``build_pipeline``); the built-in modules are
the low-timeout guard (:mod:`.low_timeout`), the circuit breaker (:mod:`.breaker`), the
observers (:mod:`.observers`) and the transport (:mod:`.transport_module`).
"""

from aio_request.pipeline.low_timeout import LowTimeoutModule
from aio_request.pipeline.module import (
    BypassModule,
    NextModuleFunc,
    RequestEnricher,
    RequestModule,
    build_pipeline,
)
from aio_request.pipeline.transport_module import TransportModule

__all__ = [
    "BypassModule",
    "LowTimeoutModule",
    "NextModuleFunc",
    "RequestEnricher",
    "RequestModule",
    "TransportModule",
    "build_pipeline",
]
