"""Integration tests of the aiohttp and httpx transports against a real loopback server."""
