"""Fixtures for the reliability suite: the loopback fault server, a leak watch, both transports.

The fault server and the transport harness are the integration suite's own
(:mod:`tests.integration.transports.fault_server`, :class:`Harness`); this module only wires
them to the :class:`~tests.reliability.leaks.LeakWatch` that every network test here ends with.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.transports.conftest import TRANSPORTS, Harness
from tests.integration.transports.fault_server import FaultServer

from .leaks import LeakWatch


@pytest.fixture
async def fault_server() -> AsyncIterator[FaultServer]:
    """A started :class:`FaultServer`."""
    async with FaultServer() as server:
        yield server


@pytest.fixture
async def leak_watch() -> AsyncIterator[LeakWatch]:
    """A running :class:`LeakWatch`; the test fails on teardown if anything was left behind."""
    with LeakWatch() as watch:
        yield watch
        watch.assert_clean()


@pytest.fixture(params=TRANSPORTS)
async def harness(request: pytest.FixtureRequest, leak_watch: LeakWatch) -> AsyncIterator[Harness]:
    """A :class:`Harness` for each transport; on teardown no connection may still be held."""
    harness = Harness(request.param)
    try:
        yield harness
    finally:
        await harness.close()
