"""Request strategies: single attempt, sequential retries, hedging, until-deadline, by method."""

from aio_request.strategies.by_method import MethodBasedStrategy
from aio_request.strategies.parallel import ParallelRequestStrategy, parallel_strategy
from aio_request.strategies.request_strategy import (
    AttemptKind,
    AttemptSender,
    OpenedAttempt,
    OpeningStrategy,
    RequestStrategy,
    ResponseWithVerdict,
    SendRequestFunc,
    admit_extra_attempt,
    open_attempt_of,
)
from aio_request.strategies.sequential import SequentialRequestStrategy, sequential_strategy
from aio_request.strategies.single import SingleAttemptRequestStrategy, single_attempt_strategy
from aio_request.strategies.until_deadline import (
    RetryUntilDeadlineExpiredStrategy,
    retry_until_deadline_expired,
)

__all__ = [
    "AttemptKind",
    "AttemptSender",
    "MethodBasedStrategy",
    "OpenedAttempt",
    "OpeningStrategy",
    "ParallelRequestStrategy",
    "RequestStrategy",
    "ResponseWithVerdict",
    "RetryUntilDeadlineExpiredStrategy",
    "SendRequestFunc",
    "SequentialRequestStrategy",
    "SingleAttemptRequestStrategy",
    "admit_extra_attempt",
    "open_attempt_of",
    "parallel_strategy",
    "retry_until_deadline_expired",
    "sequential_strategy",
    "single_attempt_strategy",
]
