"""Fixtures shared by every test package. Area fixtures live in tests/<area>/conftest.py."""

from collections.abc import Iterator

import pytest

from box_mcp.emulator.testing import RunningEmulator, running_emulator


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    """A fresh in-memory demo emulator on a loopback port (rate limits off), one per test."""
    with running_emulator(memory=True, seed="demo", rate_limits=False) as running:
        yield running


@pytest.fixture(scope="session")
def emulator_session() -> Iterator[RunningEmulator]:
    """One demo emulator for a whole session: only for tests that do not change its state."""
    with running_emulator(memory=True, seed="demo", rate_limits=False) as running:
        yield running
