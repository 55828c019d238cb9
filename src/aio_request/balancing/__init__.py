"""Client-side balancing over a service's replicas.

* :mod:`.replica` — what is tracked per replica (:class:`Replica`);
* :mod:`.policies` — pick policies: :class:`PeakEwmaPolicy` (default),
  :class:`LeastOutstandingPolicy`, :class:`RoundRobinPolicy`;
* :mod:`.outliers` — attempt outcomes and :class:`OutlierDetection` (ejection);
* :mod:`.balancer` — :class:`Balancer`: the replica set, panic mode, slow start, picking;
* :mod:`.replicas` — replica sources: :class:`StaticReplicas`, :class:`DnsReplicas`.

The client side of it, :class:`~aio_request.client.client.balanced_endpoint.BalancedEndpointProvider`, which
routes every attempt of a call, lives with the other endpoint providers: this package imports
nothing above the policies (not the strategies, the budgets, the circuit breaker, the pipeline
or the client). Guide: ``docs/replicas.md``.
"""

from aio_request.balancing.balancer import Balancer
from aio_request.balancing.outliers import Outcome, OutlierDetection, classify_outcome
from aio_request.balancing.policies import (
    LeastOutstandingPolicy,
    PeakEwmaPolicy,
    PickPolicy,
    RoundRobinPolicy,
)
from aio_request.balancing.replica import Replica
from aio_request.balancing.replicas import DnsReplicas, ReplicaSource, StaticReplicas, resolve_addresses

__all__ = [
    "Balancer",
    "DnsReplicas",
    "LeastOutstandingPolicy",
    "Outcome",
    "OutlierDetection",
    "PeakEwmaPolicy",
    "PickPolicy",
    "Replica",
    "ReplicaSource",
    "RoundRobinPolicy",
    "StaticReplicas",
    "classify_outcome",
    "resolve_addresses",
]
