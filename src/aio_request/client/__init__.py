"""The client: ``setup()`` assembles a :class:`Client` from a transport, an endpoint (or an
endpoint provider), strategies, a classifier and the protections; the client runs each call."""

from aio_request.client.client import Client

__all__ = ["Client"]
