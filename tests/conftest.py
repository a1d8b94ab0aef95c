"""Fixtures shared by every test package. Area fixtures live in tests/<area>/conftest.py."""

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from box_mcp.emulator.testing import RunningEmulator, running_emulator


def shared_path(relative: str) -> Path:
    """A shared file (Box's spec, seeds) under $BOX_MCP_SHARED_DIR, by default the repo's sibling shared/.

    Missing, it fails the test under CI=true (CI provides it) and skips it, saying why, elsewhere.
    """
    root = Path(os.environ.get("BOX_MCP_SHARED_DIR") or Path(__file__).resolve().parents[1].parent / "shared")
    path = root / relative
    if not path.exists():
        why = f"{path} is missing: set BOX_MCP_SHARED_DIR to the shared directory that holds {relative}"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    return path


@pytest.fixture(scope="session")
def shared_file() -> Callable[[str], Path]:
    return shared_path


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
