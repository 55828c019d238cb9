"""The :class:`RequestResponseObserver` role: being told of every finished attempt."""

from __future__ import annotations

import abc

from aio_request.http.request import Request
from aio_request.http.response import Response


class RequestResponseObserver(abc.ABC):
    """Told of every attempt's request and response, right after the response arrived.

    The client calls :meth:`observe` for each attempt (retries and hedges included, but not for
    attempts cancelled before their response arrived), with the request as the caller built it
    (its URL template and path parameters, before system headers and enrichment). Register
    observers with ``setup(response_observers=[...])``; a strategy also reports the observers
    it holds (:meth:`~aio_request.strategies.RequestStrategy.observers`), and the client tells
    them of the attempts of every call that uses it. Attempts that sent nothing (the low-timeout
    guard's ``408``, the circuit breaker's ``502``) are not observed. It must be quick and should
    not raise: an exception is logged and ignored.
    """

    __slots__ = ()

    @abc.abstractmethod
    def observe(self, request: Request, response: Response) -> None:
        """Take note of ``response``, the answer to ``request``."""
