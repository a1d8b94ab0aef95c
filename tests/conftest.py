"""Fixtures shared by every test package. Area fixtures live in tests/<area>/conftest.py."""

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from box_mcp.emulator.testing import EmulatorHost, RunningEmulator, emulator_host, running_emulator
from tests.state_mode import ON_POSTGRES, set_current

# Every per-user directory a test does not set itself lands here, never in the real one (HOME stays:
# pip's cache lives there). platformdirs reads XDG_DATA_HOME on each call, so this covers box-mcp's
# default data dir in-process and in every subprocess that inherits the environment.
_USER_DATA = Path(tempfile.mkdtemp(prefix="box-mcp-tests-xdg-"))


def pytest_configure(config: pytest.Config) -> None:
    os.environ["XDG_DATA_HOME"] = str(_USER_DATA)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_USER_DATA, ignore_errors=True)


@pytest.fixture(autouse=True)
def _no_default_data_dir() -> Iterator[None]:
    """A test that writes box-mcp's default (per-user) data dir fails: tests give a tmp_path instead."""
    yield
    written = sorted(str(p.relative_to(_USER_DATA)) for p in _USER_DATA.rglob("*"))
    if written:  # empty it, so that only this test fails
        shutil.rmtree(_USER_DATA)
        _USER_DATA.mkdir()
    assert not written, f"the test wrote the per-user data dir (pass a data dir instead): {written}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow tests first, so that in a parallel run (`make test`) no slow test (or its file) starts last.
    On PostgreSQL (tests/state_mode.py), tests of the file layout are deselected, not skipped."""
    if ON_POSTGRES:
        kept = [item for item in items if item.get_closest_marker("file_state") is None]
        if len(kept) != len(items):
            config.hook.pytest_deselected(items=[i for i in items if i not in kept])
            items[:] = kept
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def _state(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """On PostgreSQL: an empty schema for this test, and the variables that point deployments at it."""
    if not ON_POSTGRES:
        yield
        return
    from box_mcp.broker.crypto import new_key_text
    from tests.state.pg import worker_database

    url = worker_database()
    env = {"BOX_MCP_DATABASE_URL": url, "BOX_MCP_VAULT_KEY": new_key_text()}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    set_current(env)
    try:
        yield
    finally:
        set_current({})


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


@pytest.fixture(scope="session")
def emulators() -> Iterator[EmulatorHost]:
    """One loopback server (per xdist worker) that serves a fresh memory emulator per test."""
    with emulator_host() as host:
        yield host


@pytest.fixture
def emulator(emulators: EmulatorHost) -> RunningEmulator:
    """A fresh in-memory demo emulator on a loopback port (rate limits off), one per test: its own Store,
    seed and state on the session's server (`EmulatorHost.fresh`)."""
    return emulators.fresh(seed="demo", rate_limits=False)


@pytest.fixture(scope="session")
def emulator_session() -> Iterator[RunningEmulator]:
    """One demo emulator for a whole session: only for tests that do not change its state."""
    with running_emulator(memory=True, seed="demo", rate_limits=False) as running:
        yield running
