"""Overload protection for servers: stay up and serve what matters when offered too much work.

* :mod:`~aio_request.server.overload.limits`: adaptive concurrency limits (Vegas, Gradient2,
  AIMD, fixed), learnt from handler latency;
* :mod:`~aio_request.server.overload.partitions`: how much of the limit each priority may use
  under contention;
* :mod:`~aio_request.server.overload.queue`: the short queue (HIGH first, LIFO, CoDel bound);
* :mod:`~aio_request.server.overload.admission`: typical service times, for deadline-aware
  admission;
* :mod:`~aio_request.server.overload.protection`: :class:`OverloadProtection`, which the aiohttp
  and ASGI middlewares take as ``overload_protection=``.

Nothing here imports a web framework.
"""

from aio_request.server.overload.admission import ServiceTimes
from aio_request.server.overload.limits import (
    AimdLimit,
    ConcurrencyLimit,
    FixedLimit,
    Gradient2Limit,
    VegasLimit,
)
from aio_request.server.overload.partitions import PriorityPartitions
from aio_request.server.overload.protection import OverloadProtection, Permit, Refusal, ShedReason
from aio_request.server.overload.queue import CoDelBound

__all__ = [
    "AimdLimit",
    "CoDelBound",
    "ConcurrencyLimit",
    "FixedLimit",
    "Gradient2Limit",
    "OverloadProtection",
    "Permit",
    "PriorityPartitions",
    "Refusal",
    "ServiceTimes",
    "ShedReason",
    "VegasLimit",
]
