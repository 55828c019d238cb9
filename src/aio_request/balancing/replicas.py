"""Where a service's replicas come from: a fixed list, or DNS records refreshed in the background.

A replica source feeds a :class:`~aio_request.balancing.balancer.Balancer` through its
``update`` function: :meth:`ReplicaSource.start` delivers the first set before it returns, and
a refreshing source delivers every later change. ``service_url`` names the service: the client
keys its retry and hedge budgets and labels its telemetry with it.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import random as _random
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence

import yarl

from aio_request._core.clock import MONOTONIC_CLOCK, Clock
from aio_request._core.concurrency import start_background_task, stop_background_task
from aio_request._core.validate import fraction, positive
from aio_request.balancing.balancer import ReplicaAddress

_log = logging.getLogger(__name__)

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""``(host, port)`` → the IP addresses (v4 or v6, as strings) the host resolves to."""

UpdateReplicas = Callable[[Sequence[ReplicaAddress]], None]
"""Receives each new replica set."""

EARLY_REFRESH_MIN_INTERVAL = 1.0
"""Seconds between two lookups at least, when lookups are asked for early (connect errors)."""


def _http_url(name: str, value: str | yarl.URL) -> yarl.URL:
    url = yarl.URL(value) if isinstance(value, str) else value
    if not isinstance(url, yarl.URL):
        raise TypeError(f"{name} must be a str or yarl.URL, got {type(value).__name__}")
    if not url.is_absolute() or url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"{name} must be an absolute http(s) URL, got {str(url)!r}")
    return url


class ReplicaSource(abc.ABC):
    """Gives the replicas of one service."""

    __slots__ = ()

    @property
    @abc.abstractmethod
    def service_url(self) -> yarl.URL:
        """The service's URL (budgets and telemetry are keyed by it)."""

    @abc.abstractmethod
    async def start(self, update: UpdateReplicas) -> None:
        """Deliver the first replica set to ``update`` (and later ones, for a refreshing source)."""

    def connect_failed(self) -> None:  # noqa: B027 - optional hook: most sources ignore it
        """An attempt could not connect to a replica (the set may be stale)."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook: most sources own nothing
        """Stop refreshing; the last set stays in use."""


class StaticReplicas(ReplicaSource):
    """A fixed list of replica URLs (absolute http(s) URLs, at least one, duplicates dropped).

    ``service_url`` (default: the first replica) names the service for budgets and telemetry;
    when it is given, attempts carry its ``Host`` header, so replicas listed by IP address see
    the service's name.

    >>> StaticReplicas(["http://10.0.0.5:8080/", "http://10.0.0.6:8080/"]).service_url
    URL('http://10.0.0.5:8080/')
    """

    __slots__ = ("_addresses", "_service_url")

    def __init__(self, urls: Iterable[str | yarl.URL], *, service_url: str | yarl.URL | None = None) -> None:
        if isinstance(urls, str | yarl.URL):
            raise ValueError(f"urls must be a collection of URLs, got {urls!r}")
        replica_urls = list(dict.fromkeys(_http_url("urls", url) for url in urls))
        if not replica_urls:
            raise ValueError("urls must hold at least one URL, got none")
        host = None
        if service_url is not None:
            self._service_url = _http_url("service_url", service_url)
            host = self._service_url.host_port_subcomponent
        else:
            self._service_url = replica_urls[0]
        self._addresses: tuple[ReplicaAddress, ...] = tuple(
            (url, None if url.host_port_subcomponent == host else host) for url in replica_urls
        )

    @property
    def service_url(self) -> yarl.URL:
        """The ``service_url`` given, else the first replica's URL."""
        return self._service_url

    async def start(self, update: UpdateReplicas) -> None:
        """Deliver the list."""
        update(self._addresses)


async def resolve_addresses(host: str, port: int) -> Sequence[str]:
    """The addresses of ``host`` (A and AAAA records) from the system resolver, in its order."""
    infos = await asyncio.to_thread(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    addresses: dict[str, None] = {}
    for _family, _type, _proto, _name, sockaddr in infos:
        addresses.setdefault(str(sockaddr[0]), None)
    return list(addresses)


class DnsReplicas(ReplicaSource):
    """The addresses a service's host name resolves to, looked up again in the background.

    ``url`` is the service URL (``http://users.internal:8080/``); each address becomes a replica
    at the same scheme, port and path, and attempts carry the service's ``Host`` header.
    Lookups run every ``refresh_interval`` seconds (default 10, jittered by ± ``jitter``, a
    fraction, default 0.2), and also early after a connect error, at most once a second. A
    lookup that fails or finds nothing keeps the last good set. Removed replicas drain.

    ``resolver`` (default: the system resolver through :func:`resolve_addresses`) lets tests and
    service registries supply the addresses; ``clock`` and ``random`` drive the timing.
    The refresh runs in a task started by :meth:`start` (the balanced provider calls it on
    first use) and stopped by :meth:`aclose`.
    """

    __slots__ = (
        "_clock",
        "_early",
        "_host",
        "_jitter",
        "_last_lookup",
        "_random",
        "_refresh_interval",
        "_resolver",
        "_task",
        "_update",
        "_url",
        "has_replicas",
    )

    def __init__(
        self,
        url: str | yarl.URL,
        *,
        refresh_interval: float = 10.0,
        jitter: float = 0.2,
        resolver: Resolver | None = None,
        clock: Clock = MONOTONIC_CLOCK,
        random: Callable[[], float] | None = None,
    ) -> None:
        self._url = _http_url("url", url)
        self._host = self._url.host_port_subcomponent
        self._refresh_interval = positive("refresh_interval", refresh_interval)
        self._jitter = fraction("jitter", jitter, low_inclusive=True, high_inclusive=False)
        self._resolver: Resolver = resolver if resolver is not None else resolve_addresses
        self._clock = clock
        self._random = random if random is not None else _random.Random().random
        self._task: asyncio.Task[None] | None = None
        self._update: UpdateReplicas | None = None
        self._early = False
        self._last_lookup = -EARLY_REFRESH_MIN_INTERVAL
        self.has_replicas = False
        """Whether a lookup has found replicas yet."""

    @property
    def service_url(self) -> yarl.URL:
        """The service URL given."""
        return self._url

    async def start(self, update: UpdateReplicas) -> None:
        """Look the replicas up once, then keep refreshing them in a background task."""
        if self._task is not None:
            raise RuntimeError("DnsReplicas is already started (one balanced provider per source)")
        self._update = update
        await self.refresh()
        self._task = start_background_task(self._refresh_loop(), name=f"refresh replicas of {self._url}")

    def connect_failed(self) -> None:
        """Look the replicas up again soon (within a second, at most once a second)."""
        self._early = True

    async def aclose(self) -> None:
        """Stop the background refresh (the last set stays)."""
        task, self._task = self._task, None
        if task is not None:
            await stop_background_task(task)

    def _next_interval(self) -> float:
        return self._refresh_interval * (1.0 + self._jitter * (2.0 * self._random() - 1.0))

    async def refresh(self) -> bool:
        """Look the replicas up now; deliver them if found. Returns whether the lookup worked."""
        self._early = False
        self._last_lookup = self._clock.now()
        url = self._url
        try:
            addresses = await self._resolver(url.host or "", url.port or 0)
        except Exception as error:  # a failing lookup (or resolver) must not end the refresh
            _log.warning("looking up the replicas of %s failed, keeping the last set: %s", url, error)
            return False
        if not addresses:
            _log.warning("no replicas found for %s, keeping the last set", url)
            return False
        replicas = [(url.with_host(address), self._host) for address in addresses]
        update = self._update
        if update is not None:
            update(replicas)
        self.has_replicas = True
        return True

    async def _refresh_loop(self) -> None:
        clock = self._clock
        due = clock.now() + self._next_interval()
        while True:
            # Short naps: an early refresh asked for by a connect error waits at most a second.
            await clock.sleep(min(EARLY_REFRESH_MIN_INTERVAL, max(due - clock.now(), 0.0)))
            now = clock.now()
            early = (self._early or not self.has_replicas) and (
                now - self._last_lookup >= EARLY_REFRESH_MIN_INTERVAL
            )
            if now >= due or early:
                await self.refresh()
                due = clock.now() + self._next_interval()
