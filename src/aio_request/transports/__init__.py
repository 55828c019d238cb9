"""Transports over third-party HTTP clients: :mod:`.aiohttp` and :mod:`.httpx`.

Each module imports its client library at the top, so import only the one whose extra
(``aio-request[aiohttp]`` or ``aio-request[httpx]``) is installed; the package root resolves
``AioHttpTransport``, ``AioHttpDnsResolver`` and ``HttpxTransport`` lazily.
"""
