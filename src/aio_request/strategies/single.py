"""One attempt, plus one immediate retry of an answer the server shed without processing it."""

from __future__ import annotations

import yarl

from aio_request._core.outcomes import AttemptKind
from aio_request.http.deadline import Deadline
from aio_request.http.priority import Priority
from aio_request.http.request import Request
from aio_request.policies.classify import is_shed
from aio_request.strategies.request_strategy import (
    OpenedAttempt,
    OpeningStrategy,
    RequestStrategy,
    SendRequestFunc,
    Verdicted,
    admit_extra_attempt,
    open_attempt_of,
)


class SingleAttemptRequestStrategy(OpeningStrategy):
    """Sends one attempt and returns its response whatever the verdict.

    The one exception: a shed answer (``503`` with ``X-Request-Shed``, see
    :func:`~aio_request.policies.classify.is_shed`) was not processed, so it is sent once more at once,
    even for a POST, when the deadline has time left and the retry budget admits it.
    """

    __slots__ = ()

    async def open(
        self,
        send_request: SendRequestFunc,
        endpoint: yarl.URL,
        request: Request,
        deadline: Deadline,
        priority: Priority,
    ) -> OpenedAttempt[Verdicted]:
        """The one attempt (or its shed answer's resend), open."""
        opened = await open_attempt_of(send_request, AttemptKind.FIRST, endpoint, request, deadline, priority)
        try:
            if (
                not is_shed(opened.value.response)
                or deadline.expired
                or not admit_extra_attempt(send_request, AttemptKind.RETRY)
            ):
                return opened
        except BaseException:
            await opened.close()
            raise
        await opened.close()
        return await open_attempt_of(send_request, AttemptKind.RETRY, endpoint, request, deadline, priority)


def single_attempt_strategy() -> RequestStrategy:
    """A strategy that sends one attempt (the default for unsafe methods)."""
    return SingleAttemptRequestStrategy()
