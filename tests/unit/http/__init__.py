"""Tests of aio_request.http."""
