"""Tests of aio_request.client."""
