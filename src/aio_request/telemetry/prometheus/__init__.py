"""Prometheus metrics for clients and servers, from the events of :mod:`aio_request.events`.

Installing ``prometheus-client`` is enough: :data:`~aio_request.events.DEFAULT_EVENT_HUB`
subscribes :func:`default_listener` (metrics in ``prometheus_client.REGISTRY``) the first time
a client or a server middleware is built on it, or at its first event. ``import aio_request``
does not import ``prometheus_client``, and a registry shows no aio_request metric before the
first event. To record into a registry of your own instead, call :func:`install` once at
start-up, before the first request::

    from aio_request.telemetry import prometheus

    registry = prometheus_client.CollectorRegistry()
    prometheus.install(registry)   # replaces the automatic listener

To turn the metrics off, ``aio_request.events.DEFAULT_EVENT_HUB.disable_auto_listeners()``, or
build clients and middlewares with ``event_hub=EventHub()``.

Histograms (buckets :data:`DEFAULT_BUCKETS`, 5 ms to 20 s), with their labels:

* ``aio_request_latency`` (a whole call): request_endpoint, request_method, request_path,
  response_status, circuit_breaker;
* ``aio_request_transport_latency`` (each attempt): request_endpoint, request_method,
  request_path, response_status;
* ``aio_request_server_latency``: request_client, request_method, request_path, response_status.

Counters and a gauge beyond the original aio-request:

* ``aio_request_attempts_total``: request_endpoint, request_method, request_path,
  attempt_kind (first, retry, hedge), attempt_outcome (accept, reject, cancelled, error);
* ``aio_request_budget_exhausted_total``: request_endpoint, attempt_kind, budget;
* ``aio_request_circuit_state_changes_total``: request_endpoint, circuit_state (entered);
* ``aio_request_circuit_state`` (gauge): request_endpoint; 0 closed, 1 half-open, 2 open.

Servers with overload protection (label ``protection``, the protection's name):

* ``aio_request_server_concurrency_limit`` (gauge): protection;
* ``aio_request_server_in_flight`` (gauge): protection, request_priority;
* ``aio_request_server_shed_total``: protection, request_path, request_priority, reason;
* ``aio_request_server_queue_time`` (histogram, seconds): protection, request_priority.

``request_path`` is the URL template of the request (``users/{id}``) or the route's canonical
path on a server — never a path with ids filled in — so the number of series stays bounded.
``response_status`` is ``499`` for a cancelled call or attempt and ``0`` when it raised.
``circuit_breaker`` is ``"true"`` when the response was the circuit breaker's fallback.
Balanced clients add the replica metrics of :mod:`aio_request.telemetry.prometheus.replicas`.
"""

from aio_request.telemetry.prometheus.collector import CIRCUIT_STATE_VALUES
from aio_request.telemetry.prometheus.listener import (
    DEFAULT_BUCKETS,
    PrometheusMetrics,
    default_listener,
    install,
)

__all__ = ["CIRCUIT_STATE_VALUES", "DEFAULT_BUCKETS", "PrometheusMetrics", "default_listener", "install"]
