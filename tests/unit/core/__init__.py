"""Tests of aio_request._core."""
