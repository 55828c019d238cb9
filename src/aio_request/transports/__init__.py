"""Transports over third-party HTTP clients: :mod:`.aiohttp` and :mod:`.httpx`.

Each module imports its client library at the top, so import only the one whose extra
(``aio-request-ng[aiohttp]`` or ``aio-request-ng[httpx]``) is installed; the package root resolves
``AioHttpTransport``, ``AioHttpDnsResolver`` and ``HttpxTransport`` lazily.

Transports read time from :data:`~aio_request._core.clock.MONOTONIC_CLOCK` and take no injected
clock on purpose: their timeouts are the sockets' own timers on the event loop's monotonic time,
so a fake clock there would measure something the network never waited for. Tests of code
above them inject a clock into :class:`~aio_request.testing.FakeTransport` instead.
"""
