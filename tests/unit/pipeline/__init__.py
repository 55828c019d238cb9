"""Tests of aio_request.pipeline."""
