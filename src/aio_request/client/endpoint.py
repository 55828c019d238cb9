"""Where requests go: a fixed endpoint or one looked up per request."""

from __future__ import annotations

import abc
import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import yarl

if TYPE_CHECKING:
    from aio_request.pipeline import NextModuleFunc


def as_endpoint(value: str | yarl.URL) -> yarl.URL:
    """``value`` as an absolute http(s) :class:`yarl.URL`; anything else raises ``ValueError``."""
    url = yarl.URL(value) if isinstance(value, str) else value
    if not isinstance(url, yarl.URL):
        raise TypeError(f"endpoint must be a str or yarl.URL, got {type(value).__name__}")
    if not url.is_absolute() or url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"endpoint must be an absolute http(s) URL, got {str(url)!r}")
    return url


class EndpointProvider(abc.ABC):
    """Gives the endpoint for the next request."""

    __slots__ = ()

    @abc.abstractmethod
    async def get(self) -> yarl.URL:
        """The endpoint (an absolute URL)."""

    def call_pipeline(self, pipeline: NextModuleFunc) -> NextModuleFunc:
        """The function the attempts of one call are sent through: ``pipeline`` itself here.

        The client asks once per call, after :meth:`get`. A provider that spreads attempts over
        replicas returns a function that picks one per attempt (see
        :class:`~aio_request.BalancedEndpointProvider`).
        """
        return pipeline


class StaticEndpointProvider(EndpointProvider):
    """Always the same endpoint."""

    __slots__ = ("endpoint",)

    endpoint: yarl.URL
    """The endpoint; the client reads it directly rather than awaiting :meth:`get`. Read-only."""

    def __init__(self, endpoint: str | yarl.URL) -> None:
        self.endpoint = as_endpoint(endpoint)

    async def get(self) -> yarl.URL:
        """The endpoint given at construction."""
        return self.endpoint


class DelegateEndpointProvider(EndpointProvider):
    """Asks a sync or async callable returning a ``str`` or :class:`yarl.URL` each time."""

    __slots__ = ("_delegate",)

    def __init__(self, delegate: Callable[[], str | yarl.URL | Awaitable[str | yarl.URL]]) -> None:
        self._delegate = delegate

    async def get(self) -> yarl.URL:
        """Call the delegate and validate what it returns."""
        result = self._delegate()
        value = await result if inspect.isawaitable(result) else result
        return as_endpoint(value)
