"""Integration tests of the aiohttp and ASGI server middlewares on real loopback servers."""
