"""Tests of aio_request.policies."""
