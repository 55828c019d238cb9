"""The :class:`Transport` role: the only code that touches the network."""

from __future__ import annotations

import abc

import yarl

from aio_request.http.request import Request
from aio_request.http.response import ClosableResponse


class Transport(abc.ABC):
    """Sends one attempt and returns its response; never raises for network failures.

    Implementations map every failure once to a synthetic response (489 network error, unusable
    redirect or oversized body, 488 too many redirects, 408 timeout) whose
    :attr:`Response.failure` keeps the cause. The whole attempt — connecting, sending, every
    redirect hop, headers and body when buffered — is bounded by ``timeout``.
    """

    __slots__ = ()

    @abc.abstractmethod
    async def send(self, endpoint: yarl.URL, request: Request, timeout: float) -> ClosableResponse:
        """Send ``request`` to ``endpoint`` within ``timeout`` seconds (finite, > 0)."""
