"""The limit on the size of a response body a transport buffers."""

from __future__ import annotations

from typing import Final

from aio_request._core.validate import at_least

DEFAULT_MAX_RESPONSE_SIZE: Final = 64 * 1024 * 1024
"""Bytes (64 MiB): the largest body, after decoding, a transport buffers by default."""


class ResponseTooLargeError(Exception):
    """The body being buffered grew past the limit; raised and mapped inside transports only."""

    def __init__(self, limit: int, size: int) -> None:
        super().__init__(f"the response body exceeds the limit of {limit} bytes (at least {size} bytes)")
        self.limit = limit
        self.size = size


def max_response_size_option(value: int | None) -> int | None:
    """``value`` when it is ``None`` or an int >= 0; else :class:`ValueError`."""
    return None if value is None else at_least("max_response_size", value, 0)
